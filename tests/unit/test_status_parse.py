"""`/incident public [status] <text>` (bot/status/parse.py) and the Slack-encoded text it stores
(bot/status/text.py): no bot, no database."""

from __future__ import annotations

import pytest

from bot.errors import Invalid
from bot.status import text
from bot.status.ids import Public
from bot.status.parse import MAX_TEXT, PublicUpdate, parse


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("We are looking into it", PublicUpdate(None, "We are looking into it")),
        ("identified A bad deploy", PublicUpdate("identified", "A bad deploy")),
        ("  MONITORING   Fixed, watching  ", PublicUpdate("monitoring", "Fixed, watching")),
        ("resolved All good &amp; done", PublicUpdate("resolved", "All good &amp; done")),
        ("identifiedX is not a status", PublicUpdate(None, "identifiedX is not a status")),
    ],
)
def test_an_optional_status_then_the_text(typed: str, expected: PublicUpdate) -> None:
    assert parse(typed) == expected


@pytest.mark.parametrize("typed", ["", "   ", "monitoring", "resolved   "])
def test_no_text_is_refused_with_the_usage(typed: str) -> None:
    with pytest.raises(Invalid, match=r"^the public update text is missing\.\n`/incident public &lt;text&gt;`"):
        parse(typed)


def test_text_over_the_limit_is_refused_with_its_length() -> None:
    assert parse("x" * MAX_TEXT).text == "x" * MAX_TEXT
    with pytest.raises(Invalid, match=rf"^the public update is {MAX_TEXT + 1} characters; keep it to {MAX_TEXT}\.$"):
        parse("x" * (MAX_TEXT + 1))


def test_slack_markup_becomes_plain_words_and_links_keep_their_address() -> None:
    slack = "<@U0BOB|bob> says <!here>: see <https://x.example/a?b=1&amp;c=2|the notes> &amp; <#C1|ops>"
    assert text.plain(slack) == "@bob says @here: see the notes (https://x.example/a?b=1&c=2) & #ops"
    assert text.mrkdwn(slack) == ("@bob says @here: see <https://x.example/a?b=1&amp;c=2|the notes> &amp; #ops")
    assert text.plain("<mailto:ops@zzik.example|ops@zzik.example>") == "ops@zzik.example"


def test_entities_are_decoded_once_and_raw_text_encoded_once() -> None:
    assert text.plain("&amp;lt;b&amp;gt;") == "&lt;b&gt;"  # what the user typed, literally
    assert text.from_plain("<b> & co") == "&lt;b&gt; &amp; co"
    assert text.plain(text.from_plain("<b> & co")) == "<b> & co"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("resolved", Public.RESOLVED), ("Resolved", None), (" resolved", None), ("", None), (None, None), (["x"], None)],
)
def test_a_public_status_is_named_exactly_or_not_at_all(value: object, expected: Public | None) -> None:
    """bot/enums.py Choice.parse: the member a value names, else None (a forged button value is no error)."""
    assert Public.parse(value) is expected


def test_the_public_statuses_in_order() -> None:
    assert Public.values() == ["investigating", "identified", "monitoring", "resolved"]
