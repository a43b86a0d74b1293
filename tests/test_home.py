"""The App Home through signed events: app_home_opened -> views.publish, built fresh each time it is opened."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually

_events = itertools.count(1)


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(
        config_with(oncall=ROTA, permissions={"deployers": [], "incident_managers": ["U0DAVE"]}),
        zzik_public_url="https://ops.zzik.example",
    )


async def open_home(
    bot: RunningBot, fake: FakeSlack, user: str = "U0ALICE", *, tab: str = "home", event_id: str | None = None
) -> dict | None:
    """Send app_home_opened as Slack does; the view published for `user` (None if nothing was published)."""
    before = len(fake.calls_to("views.publish"))
    event = {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": tab, "event_ts": "1.2"}
    reply = await bot.slack.event(event, event_id=event_id or f"Ev{next(_events):08d}")
    assert reply.status == 200
    if tab != "home":
        return None
    published = await eventually(lambda: fake.calls_to("views.publish")[before:])
    assert published[0]["user_id"] == user
    return published[0]["view"]


def sections(view: dict) -> dict[str, str]:
    """Each section's text by its bold first line."""
    found = {}
    for block in view["blocks"]:
        if block["type"] == "section":
            text = block["text"]["text"]
            found[text.split("\n", 1)[0].strip("*")] = text
    return found


async def test_home_shows_what_the_person_needs(bot: RunningBot, fake_slack: FakeSlack) -> None:
    view = await open_home(bot, fake_slack)
    assert view["type"] == "home"
    parts = sections(view)
    assert "*Primary:* <@U0ALICE>" in parts["On call now"] and "*Secondary:* <@U0BOB>" in parts["On call now"]
    next_up = next(text for title, text in parts.items() if title.startswith("Next, from Mon 30 Nov 10:00 CET"))
    assert "*Primary:* <@U0BOB>" in next_up
    assert "_none: you command or reported no open incident_" in parts["Your open incidents"]
    assert parts["Deploys in progress"].endswith("_none_") and parts["Watch windows open"].endswith("_none_")
    assert parts["Runbooks"].count("`/runbook ") == 6 and "`/runbook db-recovery` " in parts["Runbooks"]
    assert "<https://ops.zzik.example/status|Public status page>" in flatten(view)

    # Alice commands an incident (the on-call primary commands by default), owns an action item; a deploy
    # runs on staging, a prod watch window is open, the daily checklist has open items.
    await ask(fake_slack, bot, "/incident", "p2 Search & filters are slow", user="U0CAROL")
    await ask(
        fake_slack, bot, "/incident", "action Add an index <@U0ALICE|alice>", channel="C00000001", ephemeral=False
    )
    await ask(fake_slack, bot, "/deploy", "staging v2.0.0", user="U0BOB")
    now = bot.services.clock.now()
    await bot.db.execute(
        """INSERT INTO deploys (environment, version, status, request_key, requested_by, started_at, finished_at,
                                watch_until, created_at)
           VALUES ('prod', 'v1.9.0', 'succeeded', 'seed:1', 'U0BOB', $1, $1, $2, $1)""",
        now - timedelta(minutes=10),
        now + timedelta(minutes=20),
    )
    await ask(fake_slack, bot, "/maintenance", "post daily", user="U0DAVE")

    view = await open_home(bot, fake_slack)  # opened again: built fresh
    parts = sections(view)
    assert (
        "*INC-1* P2 · Search &amp; filters are slow · Detection · you are commander · <#C00000001>"
        in parts["Your open incidents"]
    )
    assert "#1 Add an index · <#C00000001>" in parts["Your open action items"]
    assert "of v2.0.0 to staging · pending" in parts["Deploys in progress"]
    assert "of v1.9.0 to prod · watch until" in parts["Watch windows open"]
    assert parts["Maintenance checklists with open items"].startswith(
        "*Maintenance checklists with open items*\n*Daily*"
    )
    # Carol reported it but does not command it; Bob owns nothing.
    carol = sections(await open_home(bot, fake_slack, "U0CAROL"))
    assert "you are reporter" in carol["Your open incidents"]
    assert sections(await open_home(bot, fake_slack, "U0BOB"))["Your open action items"].endswith("_none_")

    await ask(fake_slack, bot, "/incident", "resolve", channel="C00000001", ephemeral=False)
    parts = sections(await open_home(bot, fake_slack))
    assert "INC-1" not in parts["Your open incidents"]
    assert "#1 Add an index" in parts["Your open action items"]  # follow-ups outlive the incident
    assert fake_slack.refused == []


async def test_home_stays_within_slacks_limits(bot: RunningBot, fake_slack: FakeSlack) -> None:
    await ask(fake_slack, bot, "/incident", "p3 Many follow-ups", user="U0ALICE")
    for n in range(25):
        await ask(
            fake_slack,
            bot,
            "/incident",
            f"action Follow-up {n} " + "x" * 400 + " <@U0ALICE|alice>",
            channel="C00000001",
            ephemeral=False,
        )
    view = await open_home(bot, fake_slack)
    assert fake_slack.refused == []  # the fake refuses what Slack would: > 100 blocks, > 3000 characters
    assert len(view["blocks"]) <= 100
    actions = sections(view)["Your open action items"]
    assert len(actions) <= 3000 and actions.endswith("more_") and "Follow-up 0" in actions
    assert "…and" in actions


async def test_home_only_for_the_home_tab_and_once_per_delivery(bot: RunningBot, fake_slack: FakeSlack) -> None:
    await open_home(bot, fake_slack, tab="messages")
    await open_home(bot, fake_slack, event_id="EvSAME")
    await bot.slack.event(
        {"type": "app_home_opened", "user": "U0ALICE", "channel": "DU0ALICE", "tab": "home", "event_ts": "1.2"},
        event_id="EvSAME",
        retry_num=1,
    )
    assert len(fake_slack.calls_to("views.publish")) == 1

    # Each delivery's audit row is written after its ack: wait for all three.
    async def outcomes() -> list[str]:
        rows = await bot.db.fetch("SELECT outcome FROM audit_log WHERE action = 'app_home_opened'")
        return sorted(r["outcome"] for r in rows) if len(rows) >= 3 else []

    assert await eventually(outcomes) == ["duplicate", "ignored", "ok"]
