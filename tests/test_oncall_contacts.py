"""The on-call kit's emergency contact list: in the ops config, shown to the rotation, whoever is on call and the
incident managers only, and pointed to from a P1's kickoff."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot import opsconfig
from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually

CONTACTS = [
    {"name": "Jane <Doe>", "role": "CTO & founder", "phone": "+82 10-1234-5678", "email": "jane@zzik.example"},
    {"name": "Hosting support", "role": "Provider", "phone": "+1 (555) 010-9999"},
]


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(
        config_with(
            oncall={**ROTA, "contacts": CONTACTS},
            permissions={"deployers": [], "incident_managers": ["U0DAVE"]},
        )
    )


async def test_the_rotation_and_the_managers_see_the_list(bot: RunningBot, fake_slack: FakeSlack) -> None:
    expected = (
        "*Emergency contacts* (the on-call kit; for the rotation, whoever is on call and the incident managers only)\n"
        "• *Jane &lt;Doe&gt;*, CTO &amp; founder: <tel:+821012345678|+82 10-1234-5678> · "
        "<mailto:jane@zzik.example|jane@zzik.example>\n"
        "• *Hosting support*, Provider: <tel:+15550109999|+1 (555) 010-9999>"
    )
    # carol is in the rotation by email; mallory is its manager; dave an incident manager.
    for who in ("U0ALICE", "U0CAROL", "U0MGR", "U0DAVE"):
        assert await ask(fake_slack, bot, "/oncall", "contacts", user=who) == expected, who


async def test_anyone_else_is_refused_and_audited(bot: RunningBot, fake_slack: FakeSlack) -> None:
    said = await ask(fake_slack, bot, "/oncall", "contacts", user="U0EVE")
    assert said.startswith(
        "Only a member of the rotation (<@U0ALICE>, <@U0BOB>, <@U0CAROL>, <@U0MGR>) or whoever is on call ("
    )
    assert " or a manager (" in said
    assert said.endswith("may see the emergency contact list.")
    assert "Jane" not in said
    row = await eventually(
        lambda: bot.db.fetchrow("SELECT outcome, detail FROM audit_log WHERE actor = 'U0EVE' ORDER BY id DESC LIMIT 1")
    )
    assert row["outcome"] == "refused"
    assert "+82" not in row["detail"]


async def test_someone_on_call_by_an_override_sees_the_list(bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("U0EVE", "eve")
    set_by_manager = await ask(
        fake_slack, bot, "/oncall", "override <@U0EVE|eve> primary 2026-11-24 2026-11-27", user="U0MGR"
    )
    assert set_by_manager.startswith("Override set"), set_by_manager
    said = await ask(fake_slack, bot, "/oncall", "contacts", user="U0EVE")  # not in the rotation, but on call now
    assert said.startswith("*Emergency contacts*") and "Jane &lt;Doe&gt;" in said


async def test_someone_on_call_slack_does_not_know_is_named_by_email(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    rota = {**ROTA, "engineers": ["ghost@zzik.example", "U0BOB"], "contacts": CONTACTS}
    bot = await make_bot(config_with(oncall=rota))
    said = await ask(fake_slack, bot, "/oncall", "contacts", user="U0EVE")
    assert "whoever is on call (" in said and "ghost@zzik.example" in said
    assert "<@ghost" not in said  # not a broken mention


async def test_no_contacts_configured_says_where_to_add_them(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    bot = await make_bot(config_with(oncall=ROTA))
    said = await ask(fake_slack, bot, "/oncall", "contacts")
    assert said == (
        "*Emergency contacts*\nNone are configured yet: add them under `oncall.contacts` in the ops config "
        "(name, role, phone, email)."
    )
    assert "`/oncall contacts` the emergency contact list" in await ask(fake_slack, bot, "/oncall", "help")
    assert (await ask(fake_slack, bot, "/oncall", "contacts now")).startswith("`contacts` takes nothing after it")


def test_a_contact_needs_a_way_to_reach_them() -> None:
    with pytest.raises(ValidationError, match="a contact needs a phone, an email or both"):
        config_with(oncall={**ROTA, "contacts": [{"name": "Nobody", "role": "Ghost"}]})
    with pytest.raises(ValidationError, match="phone"):
        config_with(oncall={**ROTA, "contacts": [{"name": "A", "role": "B", "phone": "call me"}]})
    assert opsconfig.load().oncall.contacts == []  # the manual names the list but gives no entries


async def test_a_p1_kickoff_points_to_the_list(bot: RunningBot, fake_slack: FakeSlack) -> None:
    await ask(fake_slack, bot, "/incident", "p1 Checkout is down")
    await ask(fake_slack, bot, "/incident", "p2 Search is slow")
    kickoffs = await eventually(
        lambda: (
            [
                flatten(c)
                for c in fake_slack.calls_to("chat.postMessage")
                if c["channel"] in ("C00000001", "C00000002") and "kickoff" in c.get("text", "")
            ]
            if len(fake_slack.calls_to("pins.add")) == 2
            else None
        )
    )
    p1 = next(k for k in kickoffs if "INC-1" in k)
    p2 = next(k for k in kickoffs if "INC-2" in k)
    assert (
        "*Emergency contacts:* `/oncall contacts` (for the rotation, whoever is on call and the incident managers)"
        in p1
    )
    assert "Emergency contacts" not in p2
