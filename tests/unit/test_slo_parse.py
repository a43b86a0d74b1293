"""The /slo grammar and the SLO lines (bot/slo/parse.py, messages.py): no bot, no database, no Prometheus."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.errors import UsageError
from bot.slo import messages, parse
from bot.slo.measure import Measured, Month, Status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", parse.Live()),
        ("help", parse.Help()),
        ("report", parse.Report(None, None)),
        ("REPORT 2026-10", parse.Report(2026, 10)),
    ],
)
def test_slo_commands(text: str, expected: object) -> None:
    assert parse.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("weekly", "`weekly` is not a /slo command"),
        ("report 2026-13", "Name the month as YYYY-MM"),
        ("report october", "Name the month as YYYY-MM"),
        ("report 2026-10 extra", "Name the month as YYYY-MM"),
    ],
)
def test_bad_slo_commands_say_why(text: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        parse.parse(text)


def test_live_and_month_lines() -> None:
    breaching = Measured("API", "Availability", "99.9%", timedelta(days=30), Status.BREACHING, "99.5%", -0.2, 14.4, 6.0)
    line = messages.live_line(breaching)
    assert line.startswith(":red_circle: Availability: *99.5%* over 30d (target 99.9%)")
    assert "budget *overspent*" in line and "burn 1h 14.4× / 6h 6.0×" in line
    assert messages.live_line(Measured("API", "Latency <p95>", None, None, Status.NOT_MEASURED)) == (
        ":heavy_minus_sign: Latency &lt;p95&gt;: _not measured_"
    )
    text, blocks = messages.report(
        [Month("API", "Availability", "99.9%", Status.BREACHING, "99.5%", 1.5)], "2026-10", False
    )
    assert text == "SLO report 2026-10: 1 SLO(s) missed" and len(blocks) <= 50
