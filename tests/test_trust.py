"""Nobody grants themselves power: one policy table, refusals ephemeral, named and audited."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot import opsconfig, policy
from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually

PRE = ["tests", "security_scan", "benchmarks", "migrations", "rollback_plan", "changelog", "team_notified"]


@pytest.fixture
async def bot(make_bot: BotFactory, fake_slack: FakeSlack) -> RunningBot:
    fake_slack.add_user("U0EVE", "eve", email="eve@zzik.example")  # in no role at all
    # Whoever declares commands here (not the on-call primary), so commander and primary are two people.
    incidents = {**opsconfig.load().incidents.model_dump(mode="json"), "default_commander": "reporter"}
    return await make_bot(
        config_with(
            oncall=ROTA, incidents=incidents, permissions={"deployers": ["U0DAVE"], "incident_managers": ["U0MGR"]}
        )
    )


async def click(bot: RunningBot, fake: FakeSlack, action_id: str, value: str, user: str, **kw) -> str:
    before = len(fake.calls_to("response_url"))
    assert (await bot.slack.action(action_id, value, user=user, **kw)).status == 200
    calls = await eventually(lambda: fake.calls_to("response_url")[before:])
    assert calls[0]["response_type"] == "ephemeral", calls[0]
    return flatten(calls[0])


async def refusals(bot: RunningBot) -> list[dict]:
    rows = await bot.db.fetch("SELECT action, actor, detail FROM audit_log WHERE outcome = 'refused' ORDER BY id")
    return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows]


def dm_buttons(fake: FakeSlack, user: str) -> list[dict]:
    posts = [c for c in fake.calls_to("chat.postMessage") if c["channel"] == user and c.get("blocks")]
    return [e for b in posts[-1]["blocks"] if b["type"] == "actions" for e in b["elements"]]


def test_the_policy_table_is_complete_and_in_the_readme() -> None:
    text = (Path(policy.__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for action, who in policy.table():
        assert f"| `{action}` | {who} |" in text, action
    assert set(policy.POLICY) == set(policy.Do)


async def test_self_appointed_primary_gets_no_power(bot: RunningBot, fake_slack: FakeSlack) -> None:
    # Eve, in no role, "takes over" alice's primary shift: it is only a request to alice.
    said = await ask(fake_slack, bot, "/oncall", "override <@U0EVE|eve> primary now 2026-11-26", user="U0EVE")
    assert said.startswith("Asked <@U0ALICE> to accept: #1 <@U0EVE> as *primary*")
    accept, decline = dm_buttons(fake_slack, "U0ALICE")
    assert (accept["action_id"], decline["action_id"]) == ("oncall_override_accept", "oncall_override_decline")
    now = await ask(fake_slack, bot, "/oncall", "", user="U0EVE")
    assert "*Primary:* <@U0ALICE>" in now

    # Rights that come from being on call: none for eve.
    refused = await ask(fake_slack, bot, "/rollback", "prod", user="U0EVE")
    assert refused == ("Only the deployers (<@U0DAVE>) or the on-call primary (<@U0ALICE>) may roll back prod."), (
        refused
    )
    confirm = {"env": "prod", "current": 1, "target": "v1", "reason": ""}
    refused = await click(bot, fake_slack, "rollback_confirm", json.dumps(confirm), "U0EVE")
    assert refused.startswith("Only the deployers (<@U0DAVE>) or the on-call primary (<@U0ALICE>)")
    # A running prod deploy (dave's): eve cannot mark it.
    assert "announced" in await ask(fake_slack, bot, "/deploy", 'prod v2 --force "first"', user="U0DAVE")
    await bot.slack.checkboxes("deploy_check:pre", "deploy:1:pre", PRE, user="U0DAVE", channel="#zzik-deployments")
    await eventually(lambda: bot.db.fetchval("SELECT count(*) = 7 FROM deploy_checks"))
    assert "started" in await click(bot, fake_slack, "deploy_start", "1", "U0DAVE")
    refused = await click(bot, fake_slack, "deploy_mark_deployed", "1", "U0EVE")
    assert refused == "Only the deployers (<@U0DAVE>) may mark a prod deploy deployed or failed."
    assert await bot.db.fetchval("SELECT status FROM deploys WHERE id = 1") == "running"

    # Someone else (not alice) cannot accept on alice's behalf.
    refused = await click(bot, fake_slack, "oncall_override_accept", "1", "U0EVE", channel="D0EVE")
    assert refused.startswith("Only the engineer replaced (<@U0ALICE>) or a manager (<@U0MGR>)")

    # The next P1 pages the rotation's real primary, not eve.
    fake_slack.clear()
    said = await ask(fake_slack, bot, "/incident", "p1 Checkout down", user="U0CAROL")
    assert "Paged <@U0ALICE>, <@U0BOB>, <@U0MGR>" in said
    dms = {c["channel"] for c in fake_slack.calls_to("chat.postMessage") if c["channel"].startswith("U")}
    assert dms == {"U0ALICE", "U0BOB", "U0MGR"}

    rows = await refusals(bot)
    assert [(r["action"], r["actor"]) for r in rows] == [
        ("/rollback", "U0EVE"),
        ("rollback_confirm", "U0EVE"),
        ("deploy_mark_deployed", "U0EVE"),
        ("oncall_override_accept", "U0EVE"),
    ]
    assert [r["detail"]["rule"] for r in rows] == [
        "deploy.rollback",
        "deploy.rollback",
        "deploy.prod.mark",
        "oncall.override.answer",
    ]


async def test_an_accepted_override_counts_and_a_declined_one_never(bot: RunningBot, fake_slack: FakeSlack) -> None:
    await ask(fake_slack, bot, "/oncall", "override <@U0EVE> primary now 2026-11-26", user="U0EVE")
    said = await click(bot, fake_slack, "oncall_override_decline", "1", "U0ALICE", channel="D0ALICE")
    assert said.startswith("You declined override #1")
    assert any(c["channel"] == "U0EVE" and "declined" in c["text"] for c in fake_slack.calls_to("chat.postMessage"))
    again = await click(bot, fake_slack, "oncall_override_accept", "1", "U0ALICE", channel="D0ALICE")
    assert again == "Override #1 was already answered (declined)."

    await ask(fake_slack, bot, "/oncall", "override <@U0EVE> primary now 2026-11-26", user="U0EVE")
    said = await click(bot, fake_slack, "oncall_override_accept", "2", "U0ALICE", channel="D0ALICE")
    assert said.startswith("You accepted override #2: #2 <@U0EVE> as *primary*")
    assert "*Primary:* <@U0EVE>" in await ask(fake_slack, bot, "/oncall", "", user="U0EVE")
    statuses = [r["status"] for r in await bot.db.fetch("SELECT status FROM oncall_overrides ORDER BY id")]
    assert statuses == ["declined", "accepted"]
    # Now eve is the primary (by alice's word), so she may roll back.
    said = await ask(fake_slack, bot, "/rollback", "prod", user="U0EVE")
    assert "Nothing has been deployed to prod" in said


async def test_command_is_handed_over_or_asked_for(bot: RunningBot, fake_slack: FakeSlack) -> None:
    await ask(fake_slack, bot, "/incident", "p2 Search is slow", user="U0BOB")
    channel = "C00000001"
    refused = await ask(fake_slack, bot, "/incident", "commander <@U0EVE|eve>", user="U0EVE", channel=channel)
    assert refused.startswith("Only the commander (<@U0BOB>) or the on-call primary (<@U0ALICE>) or a manager")
    assert "may hand over command." in refused

    # Take command by someone else asks the commander, who keeps it.
    said = await click(bot, fake_slack, "incident_take_command", "1", "U0EVE")
    assert "<@U0BOB> is asked to hand it over to you" in said
    hand_over, keep = dm_buttons(fake_slack, "U0BOB")
    assert (hand_over["action_id"], keep["action_id"]) == ("incident_hand_over", "incident_keep_command")
    refused = await click(bot, fake_slack, "incident_hand_over", keep["value"], "U0EVE")
    assert refused.startswith("Only the commander (<@U0BOB>) or a manager (<@U0MGR>)")
    said = await click(bot, fake_slack, "incident_keep_command", keep["value"], "U0BOB")
    assert said == "You kept command of INC-1."
    commander = await bot.db.fetchval("SELECT commander FROM incidents")
    assert commander == "U0BOB"

    # Asked again: this time handed over. Four clicks at once ask once.
    asked = len(fake_slack.calls_to("response_url"))
    await asyncio.gather(*(bot.slack.action("incident_take_command", "1", user="U0EVE") for _ in range(4)))
    await eventually(lambda: len(fake_slack.calls_to("response_url")) == asked + 4)
    assert await bot.db.fetchval("SELECT count(*) FROM incident_command_requests") == 2
    hand_over, _ = dm_buttons(fake_slack, "U0BOB")
    said = await click(bot, fake_slack, "incident_hand_over", hand_over["value"], "U0BOB")
    assert said == "You handed command of INC-1 to <@U0EVE>."
    assert await bot.db.fetchval("SELECT commander FROM incidents") == "U0EVE"
    events = await bot.db.fetch("SELECT kind, text FROM incident_events WHERE kind LIKE 'command%' ORDER BY id")
    assert [e["text"] for e in events] == [
        "@U0EVE asked @U0BOB for command",
        "@U0BOB kept command (asked by @U0EVE)",
        "@U0EVE asked @U0BOB for command",
        "commander @U0BOB → @U0EVE (handed over on request)",
    ]

    # The on-call primary takes command at once; four simultaneous clicks change it once.
    await asyncio.gather(*(bot.slack.action("incident_take_command", "1", user="U0ALICE") for _ in range(4)))
    await eventually(lambda: bot.db.fetchval("SELECT commander = 'U0ALICE' FROM incidents"))
    await eventually(lambda: bot.db.fetchval("SELECT count(*) >= 4 FROM audit_log WHERE actor = 'U0ALICE'"))
    changes = await bot.db.fetch("SELECT text FROM incident_events WHERE kind = 'commander' ORDER BY id")
    assert [c["text"] for c in changes][-1] == "commander @U0EVE → @U0ALICE (took command)"
    assert len(changes) == 2


async def test_prod_is_for_deployers_and_a_resolved_incident_is_read_only(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    await ask(fake_slack, bot, "/deploy", 'prod v2 --force "first"', user="U0DAVE")
    await bot.slack.checkboxes("deploy_check:pre", "deploy:1:pre", PRE, user="U0EVE", channel="#zzik-deployments")
    await eventually(lambda: len(fake_slack.calls_to("response_url")) >= 2)
    assert await bot.db.fetchval("SELECT count(*) FROM deploy_checks WHERE ticked_by = 'U0EVE'") == 0
    refused = await click(bot, fake_slack, "deploy_start", "1", "U0EVE")
    assert refused == "Only the deployers (<@U0DAVE>) may start a prod deploy."
    await bot.slack.checkboxes("deploy_check:pre", "deploy:1:pre", PRE, user="U0DAVE", channel="#zzik-deployments")
    await eventually(lambda: bot.db.fetchval("SELECT count(*) = 7 FROM deploy_checks"))
    await click(bot, fake_slack, "deploy_start", "1", "U0DAVE")
    assert "marked succeeded" in await click(bot, fake_slack, "deploy_mark_deployed", "1", "U0DAVE")
    refused = await click(bot, fake_slack, "deploy_watch_healthy", "1", "U0EVE")
    assert refused == "Only the deployers (<@U0DAVE>) may end a prod watch as healthy."
    assert await bot.db.fetchval("SELECT watch_result FROM deploys WHERE id = 1") is None

    # Staging stays open to everyone.
    said = await ask(fake_slack, bot, "/deploy", "staging v3", user="U0EVE")
    assert "is announced" in said

    # A resolved incident: its checklists are read-only; timeline still works.
    await ask(fake_slack, bot, "/incident", "p3 Slow page", user="U0BOB")
    await ask(fake_slack, bot, "/incident", "resolve fixed", user="U0BOB", channel="C00000001", ephemeral=False)
    before = len(fake_slack.calls_to("response_url"))
    await bot.slack.checkboxes("incident_check:1", "stage:1", ["1:0"], user="U0BOB", channel="C00000001")
    calls = await eventually(lambda: fake_slack.calls_to("response_url")[before:])
    assert calls[0]["text"].startswith("INC-1 is resolved, so it is read-only")
    assert await bot.db.fetchval("SELECT count(*) FROM incident_checks") == 0
    said = await ask(fake_slack, bot, "/incident", "severity p1", user="U0BOB", channel="C00000001")
    assert said.startswith("INC-1 is resolved, so it is read-only")
    said = await ask(fake_slack, bot, "/incident", "timeline", user="U0BOB", channel="C00000001")
    assert "declared P3: Slow page" in said

    # Reopening is the commander's or a manager's; then it can be worked on again.
    refused = await ask(fake_slack, bot, "/incident", "reopen", user="U0EVE", channel="C00000001")
    assert refused.startswith("Only the commander (") and refused.endswith("may reopen INC-1.")
    said = await ask(fake_slack, bot, "/incident", "reopen", user="U0MGR", channel="C00000001", ephemeral=False)
    assert said.startswith("INC-1 is reopened, back at *Triage*")
    assert await bot.db.fetchval("SELECT status FROM incidents") == "open"
    await bot.slack.checkboxes("incident_check:1", "stage:1", ["1:0"], user="U0BOB", channel="C00000001")
    await eventually(lambda: bot.db.fetchval("SELECT count(*) = 1 FROM incident_checks"))

    rows = await refusals(bot)
    assert [r["action"] for r in rows] == [
        "deploy_check:pre",
        "deploy_start",
        "deploy_watch_healthy",
        "incident_check:1",
        "/incident",
        "/incident",
    ]


async def test_each_incident_change_happens_once_with_one_escalation_chain(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    await ask(fake_slack, bot, "/incident", "p3 Search is slow", user="U0BOB")
    channel = "C00000001"
    for severity in ("p2", "p1", "p2"):
        said = await ask(
            fake_slack, bot, "/incident", f"severity {severity}", user="U0BOB", channel=channel, ephemeral=False
        )
        assert f"is now {severity.upper()}" in said, said

    # Three simultaneous escalations to P1: one change, one set of pages.
    fake_slack.clear()
    replies = await asyncio.gather(
        *(bot.slack.command("/incident", "severity p1", user="U0BOB", channel=channel) for _ in range(3))
    )
    assert [r.status for r in replies] == [200, 200, 200]
    in_ack = [r.json["text"] for r in replies if r.text]  # a refusal ready before any commit is in the ack
    await eventually(lambda: len(fake_slack.calls_to("response_url")) + len(in_ack) >= 3)
    answers = in_ack + [c["text"] for c in fake_slack.calls_to("response_url")]
    assert sorted(a.split(" (")[0].split(".")[0] for a in answers) == [
        "INC-1 is already P1",
        "INC-1 is already P1",
        "INC-1 is now P1",
    ]
    changes = await bot.db.fetch("SELECT text FROM incident_events WHERE kind = 'severity' ORDER BY id")
    assert [c["text"] for c in changes][-1] == "severity P2 → P1" and len(changes) == 4
    await eventually(lambda: len([c for c in fake_slack.calls_to("chat.postMessage") if c["channel"][0] == "U"]) >= 3)
    pages = sorted(c["channel"] for c in fake_slack.calls_to("chat.postMessage") if c["channel"][0] == "U")
    assert pages == ["U0ALICE", "U0BOB", "U0MGR"]
    pending = await bot.db.fetch(
        "SELECT payload FROM job_runs WHERE job = 'incidents.escalate' AND status = 'pending' ORDER BY due_at"
    )
    assert [(json.loads(r["payload"])["severity"], json.loads(r["payload"])["role"]) for r in pending] == [
        ("P1", "secondary"),
        ("P1", "manager"),
    ]
