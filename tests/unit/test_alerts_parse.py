"""The /alerts grammar and the alerts' button values (bot/alerts/parse.py, ids.py): no bot, no database."""

from __future__ import annotations

import pytest

from bot.alerts import parse
from bot.alerts.ids import Acknowledged, alert_id, alert_value, runbook_of, silence_of
from bot.errors import NotFound, UsageError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", parse.FiringNow()),
        ("help", parse.Help()),
        ("HISTORY", parse.History(parse.HISTORY_DEFAULT)),
        ("history 5", parse.History(5)),
        ("history 100", parse.History(100)),
    ],
)
def test_alerts_commands(text: str, expected: object) -> None:
    assert parse.parse_alerts(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("history 0", "`history` takes a number from 1 to 100."),
        ("history 101", "`history` takes a number from 1 to 100."),
        ("history many", "`history` takes a number from 1 to 100."),
        ("history ²", "`history` takes a number from 1 to 100."),
        ("firing", "`/alerts` takes nothing, `history [n]` or `help`."),
        ("history 5 more", "`/alerts` takes nothing, `history [n]` or `help`."),
    ],
)
def test_bad_alerts_commands_say_why(text: str, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse.parse_alerts(text)
    assert caught.value.message == says


def test_button_values_round_trip() -> None:
    assert Acknowledged.parse("12") == Acknowledged(alert=12)
    assert Acknowledged.parse(Acknowledged(digest=3).value()) == Acknowledged(digest=3)
    assert alert_id(alert_value(9)) == 9
    assert runbook_of(alert_value(9, "db-failover")) == (9, "db-failover")
    assert silence_of(alert_value(9, 4)) == (9, 4)


@pytest.mark.parametrize("value", ["", "x", "d", "dx", "12x", None])
def test_a_damaged_value_is_not_found(value: str | None) -> None:
    with pytest.raises(NotFound, match="does not belong to an alert"):
        Acknowledged.parse(value)


def test_damaged_runbook_and_silence_values() -> None:
    for call, value in ((runbook_of, "9"), (runbook_of, "x:slug"), (silence_of, "9:"), (silence_of, "x:1")):
        with pytest.raises(NotFound):
            call(value)
