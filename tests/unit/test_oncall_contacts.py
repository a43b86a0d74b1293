"""`/oncall contacts`: its grammar and its words, with no bot and no database."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.errors import UsageError
from bot.oncall import messages, parse
from bot.opsconfig.contacts import EmergencyContact

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_contacts_parses_and_takes_nothing_more() -> None:
    assert parse.parse("contacts", ZoneInfo("UTC"), NOW) == parse.Contacts()
    assert parse.parse("CONTACTS", ZoneInfo("UTC"), NOW) == parse.Contacts()
    with pytest.raises(UsageError, match="takes nothing after it"):
        parse.parse("contacts all", ZoneInfo("UTC"), NOW)


def test_the_list_links_phones_and_emails_and_escapes_config_text() -> None:
    people = [
        EmergencyContact(name="A <b>", role="R&D", phone="+44 (20) 7946-0000"),
        EmergencyContact(name="C", role="D", email="c@zzik.example"),
    ]
    assert messages.contacts(people).split("\n")[1:] == [
        "• *A &lt;b&gt;*, R&amp;D: <tel:+442079460000|+44 (20) 7946-0000>",
        "• *C*, D: <mailto:c@zzik.example|c@zzik.example>",
    ]
    assert messages.contacts([]).startswith("*Emergency contacts*\nNone are configured yet")
