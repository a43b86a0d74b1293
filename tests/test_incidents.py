"""Incidents end to end through signed requests: declare, run, escalate, resolve, post-mortem."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from bot.incidents.setup import channel_names
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually, handled


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall=ROTA, permissions={"deployers": [], "incident_managers": ["U0DAVE"]}))


async def incidents(bot: RunningBot) -> list[dict]:
    return [dict(r) for r in await bot.db.fetch("SELECT * FROM incidents ORDER BY id")]


async def timeline(bot: RunningBot, number: int = 1) -> list[str]:
    rows = await bot.db.fetch(
        """SELECT e.kind, e.text FROM incident_events e JOIN incidents i ON i.id = e.incident_id
           WHERE i.number = $1 ORDER BY e.at, e.id""",
        number,
    )
    return [f"{r['kind']}: {r['text']}" for r in rows]


async def declare(fake: FakeSlack, bot: RunningBot, text: str = "p2 Search is slow", user: str = "U0ALICE") -> str:
    return await ask(fake, bot, "/incident", text, user=user)


def posts_to(fake: FakeSlack, channel: str) -> list[dict]:
    return fake.posted_in(channel)


async def test_declare_p2_by_command(bot: RunningBot, fake_slack: FakeSlack) -> None:
    said = await declare(fake_slack, bot, "P2 Search is slow")
    [row] = await incidents(bot)
    assert (row["number"], row["severity"], row["title"], row["commander"], row["status"]) == (
        1,
        "P2",
        "Search is slow",
        "U0ALICE",
        "open",
    )
    assert said.startswith("Declared *INC-1* (P2): <#C00000001>. Paged <@U0ALICE>.")
    assert fake_slack.calls_to("conversations.create")[0]["name"] == "inc-1-search-is-slow"
    assert row["channel_id"] == "C00000001" and row["channel_name"] == "inc-1-search-is-slow"
    assert fake_slack.calls_to("conversations.setTopic")[0]["topic"].startswith("P2 · Detection · commander")
    assert fake_slack.channels["C00000001"]["members"] == ["U0ALICE"]
    kickoff = posts_to(fake_slack, "C00000001")[0]
    text = flatten(kickoff)
    assert "Severity P2:* Degraded service or important feature broken" in text and "Within 30 min" in text
    for stage in (
        "1. Detection",
        "2. Triage",
        "3. Communication",
        "4. Investigation",
        "5. Mitigation",
        "6. Resolution",
        "7. Post-mortem",
    ):
        assert stage in text
    assert "Assign incident commander" in text and "Share learnings" in text
    assert fake_slack.calls_to("pins.add") == [{"channel": "C00000001", "timestamp": row["kickoff_ts"]}]
    [announcement] = posts_to(fake_slack, "#zzik-incidents")
    buttons = [e["text"]["text"] for b in announcement["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["Join channel", "Acknowledge", "Take command"]
    assert row["announcement_ts"] and row["kickoff_ts"] and row["setup_error"] is None
    assert [c["channel"] for c in fake_slack.calls_to("chat.postMessage")].count("U0ALICE") == 1  # primary paged
    assert (await timeline(bot))[0] == "declared: declared P2: Search is slow"


async def test_p1_is_all_hands(bot: RunningBot, fake_slack: FakeSlack) -> None:
    said = await declare(fake_slack, bot, "p1 Database outage", user="U0CAROL")
    assert "Paged <@U0ALICE>, <@U0BOB>, <@U0MGR>." in said
    dms = sorted(c["channel"] for c in fake_slack.calls_to("chat.postMessage") if c["channel"].startswith("U"))
    assert dms == ["U0ALICE", "U0BOB", "U0MGR"]
    assert sorted(fake_slack.channels["C00000001"]["members"]) == ["U0ALICE", "U0BOB", "U0CAROL", "U0MGR"]
    for dm in (c for c in fake_slack.calls_to("chat.postMessage") if c["channel"].startswith("U")):
        assert dm["text"].startswith(":rotating_light: All hands: *INC-1 · P1 · Database outage*")
        assert "Join <#C00000001>" in dm["text"]  # the page links the channel: it exists before anyone is paged
    assert any(t.startswith("paged: paged @U0ALICE, @U0BOB, @U0MGR") for t in await timeline(bot))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p5 disk full", "`p5` is not a severity: use p1, p2, p3 or p4"),
        ("sev1 disk full", "`sev1` is not a severity"),
        ("p1", "a title is missing"),
        ("p1    ", "a title is missing"),
        ("update we are looking", "Run this in an incident's channel"),
        ("resolve", "Run this in an incident's channel"),
        ("frobnicate", "is not an /incident command"),
    ],
)
async def test_bad_input_creates_nothing(bot: RunningBot, fake_slack: FakeSlack, text: str, expected: str) -> None:
    said = await declare(fake_slack, bot, text)
    assert expected in said
    assert "`/incident p1 &lt;title&gt;` declares at once" in said  # the usage comes with the error
    assert await incidents(bot) == []
    assert fake_slack.calls_to("conversations.create") == [] and fake_slack.calls_to("chat.postMessage") == []


async def test_modal_declare_validation_and_double_submit(bot: RunningBot, fake_slack: FakeSlack) -> None:
    reply = await bot.slack.command("/incident", "", user="U0BOB", channel="C0OPS")
    assert reply.status == 200
    opened = await eventually(lambda: fake_slack.calls_to("views.open"))
    modal = opened[0]["view"]
    assert modal["callback_id"] == "incident_declare" and modal["private_metadata"] == "C0OPS"
    severity_options = modal["blocks"][1]["element"]["options"]
    assert [o["value"] for o in severity_options] == ["P1", "P2", "P3", "P4"]
    assert severity_options[0]["description"]["text"] == "Service down or critical feature broken"

    bad = await bot.slack.view_submission(
        "incident_declare",
        {"title": {"value": {"value": "  "}}, "severity": {"value": {"selected_option": None}}},
        user="U0BOB",
        view_id="V1",
    )
    assert bad.json == {
        "response_action": "errors",
        "errors": {
            "title": "a title is missing: say what is broken after the severity, e.g. `/incident p1 checkout fails`",
            "severity": "Pick a severity, P1 to P4.",
        },
    }
    assert await incidents(bot) == []

    values = {
        "title": {"value": {"value": "Auth failure"}},
        "severity": {"value": {"selected_option": {"value": "P2"}}},
        "description": {"value": {"value": "Logins fail with 500"}},
        "commander": {"value": {"selected_user": "U0CAROL"}},
    }
    first, second = await asyncio.gather(
        bot.slack.view_submission("incident_declare", values, user="U0BOB", view_id="V2", private_metadata="C0OPS"),
        bot.slack.view_submission("incident_declare", values, user="U0BOB", view_id="V2", private_metadata="C0OPS"),
    )
    assert first.status == second.status == 200
    await eventually(lambda: len(fake_slack.calls_to("chat.postMessage")) >= 4)
    rows = await incidents(bot)
    assert len(rows) == 1 and rows[0]["commander"] == "U0CAROL" and rows[0]["description"] == "Logins fail with 500"
    assert len(fake_slack.calls_to("conversations.create")) == 1
    answers = await eventually(
        lambda: (
            [c["text"] for c in posts_to(fake_slack, "U0BOB") if "INC-1" in c["text"] and "ecla" in c["text"]]
            if len([c for c in posts_to(fake_slack, "U0BOB") if "ecla" in c["text"]]) == 2
            else None
        )
    )
    assert sorted(a[:20] for a in answers) == ["Declared *INC-1* (P2", "That declaration was"]


async def test_channel_names_follow_slack_rules(bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.channels["CTAKEN"] = {"id": "CTAKEN", "name": "inc-1-db-down", "members": []}
    await declare(fake_slack, bot, "p3 DB down!!")
    assert [c["name"] for c in fake_slack.calls_to("conversations.create")] == ["inc-1-db-down", "inc-1-db-down-2"]

    await declare(
        fake_slack, bot, "p3 " + "Payments, refunds & the <!channel> queue are stuck " * 2 + "again and again and again"
    )
    name = (await incidents(bot))[1]["channel_name"]
    assert len(name) <= 80 and name.startswith("inc-2-payments-refunds-the-channel-queue-are-stuck")
    assert name == name.lower() and all(c.isalnum() or c in "-_" for c in name)

    await declare(fake_slack, bot, "p4 !!! ???")
    assert (await incidents(bot))[2]["channel_name"] == "inc-3"
    await declare(fake_slack, bot, "p4 결제 장애 발생")
    assert (await incidents(bot))[3]["channel_name"] == "inc-4-결제-장애-발생"
    assert channel_names("inc", 9, "Ça coûte cher") == ["inc-9-ça-coûte-cher", "inc-9-ca-coute-cher", "inc-9"]


async def test_user_text_never_pings(bot: RunningBot, fake_slack: FakeSlack) -> None:
    """Broadcasts are shown as text and never notify; a named person stays a working mention; `&` shows once."""
    await declare(fake_slack, bot, "p2 <!channel> login down <@U0BOB> <!here|here> &")
    await bot.slack.command("/incident", "update <!everyone> still <@U0CAROL|carol> down", channel="C00000001")
    await eventually(lambda: len(posts_to(fake_slack, "C00000001")) >= 2)
    everything = "\n".join(flatten(c.args) for c in fake_slack.calls if c.method.startswith("chat."))
    for ping in ("<!channel>", "<!here", "<!everyone>", "&lt;", "&amp;amp;"):
        assert ping not in everything
    assert "@channel login down <@U0BOB> @here &amp;" in everything
    assert "@everyone still <@U0CAROL|carol> down" in everything


async def test_in_channel_commands(bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock) -> None:
    await declare(fake_slack, bot, "p2 Search is slow")
    ch = "C00000001"
    fake_slack.clear()

    assert (await bot.slack.command("/incident", "update Index rebuild running", channel=ch)).status == 200
    await eventually(lambda: posts_to(fake_slack, "#zzik-incidents"))
    broadcast = posts_to(fake_slack, "#zzik-incidents")[0]
    assert broadcast["reply_broadcast"] is True and "Index rebuild running" in broadcast["text"]
    assert "Index rebuild running" in posts_to(fake_slack, ch)[0]["text"]

    clock.advance(timedelta(minutes=3))
    said = await ask(fake_slack, bot, "/incident", "severity p1", channel=ch, ephemeral=False)
    assert said.startswith("INC-1 is now P1 (was P2). Paged <@U0ALICE>, <@U0BOB>, <@U0MGR>.")
    assert "P1" in fake_slack.calls_to("conversations.setTopic")[-1]["topic"]
    updated = fake_slack.calls_to("chat.update")
    assert any("INC-1 · P1" in flatten(u) for u in updated)

    said = await ask(fake_slack, bot, "/incident", "commander <@U0BOB|bob>", channel=ch, ephemeral=False)
    assert said == "<@U0BOB> is now the commander of INC-1."
    said = await ask(fake_slack, bot, "/incident", "stage investigation", channel=ch, ephemeral=False)
    assert said == "INC-1 moved to *Investigation*."
    bad_stage = await ask(fake_slack, bot, "/incident", "stage lunch", channel=ch)
    assert "is not a stage; the stages are: Detection, Triage" in bad_stage
    said = await ask(
        fake_slack,
        bot,
        "/incident",
        "action Add an index on search_terms <@U0CAROL|carol>",
        channel=ch,
        ephemeral=False,
    )
    assert said == "Action item #1 added to INC-1, owner <@U0CAROL>."
    listed = await ask(fake_slack, bot, "/incident", "actions", channel=ch)
    assert "#1 Add an index on search_terms · owner <@U0CAROL>" in listed

    refused = await ask(fake_slack, bot, "/incident", "resolve all good", channel=ch, user="U0CAROL")
    assert refused.startswith("Only the commander (<@U0BOB>) or a manager (<@U0DAVE>, <@U0MGR>) may resolve INC-1.")
    assert (await incidents(bot))[0]["status"] == "open"

    clock.advance(timedelta(minutes=40))
    said = await ask(
        fake_slack, bot, "/incident", "resolve Rebuilt the index", channel=ch, user="U0BOB", ephemeral=False
    )
    assert said == "INC-1 resolved after 43 min (time to acknowledge: never acknowledged)."
    row = (await incidents(bot))[0]
    assert (row["status"], row["resolved_by"], row["summary"]) == ("resolved", "U0BOB", "Rebuilt the index")
    checklist = [c for c in posts_to(fake_slack, ch) if "resolved" in (c.get("text") or "")]
    assert "Identify root cause" in flatten(checklist[-1])
    last_announcement = fake_slack.calls_to("chat.update")[-1]
    assert any("Resolved" in flatten(u) for u in fake_slack.calls_to("chat.update"))
    assert last_announcement
    again = await ask(fake_slack, bot, "/incident", "resolve", channel=ch, user="U0BOB")
    assert "INC-1 is resolved" in again

    shown = await ask(fake_slack, bot, "/incident", "timeline", channel=ch)
    for entry in (
        "declared P2: Search is slow",
        "Index rebuild running",
        "severity P2 → P1",
        "commander <@U0ALICE> → <@U0BOB>",
        "stage Detection → Investigation",
        "action item #1: Add an index on search_terms",
        "resolved after 43 min",
    ):
        assert entry in shown, entry

    fake_slack.clear()
    await bot.slack.command("/incident", "postmortem", channel=ch)
    draft = flatten((await eventually(lambda: posts_to(fake_slack, ch)))[0])
    assert "*Post-mortem: INC-1 Search is slow*" in draft
    assert "*Summary:* Rebuilt the index" in draft and "*Duration:* 43 min" in draft and "*Severity:* P1" in draft
    assert "*Root cause:* _to be written_" in draft
    assert "severity P2 → P1" in draft and "#1 Add an index on search_terms · owner <@U0CAROL>" in draft


async def test_list_open_incidents_anywhere(bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock) -> None:
    assert await ask(fake_slack, bot, "/incident", "list") == "No open incidents. :tada:"
    await declare(fake_slack, bot, "p3 Typo on landing page")
    await declare(fake_slack, bot, "p1 Checkout down")
    clock.advance(timedelta(minutes=90))
    listed = await ask(fake_slack, bot, "/incident", "list", channel="C0RANDOM")
    lines = listed.splitlines()
    assert lines[0] == "*Open incidents (2)*"
    assert lines[1].startswith("*INC-2* P1 · Checkout down · commander <@U0ALICE> · 1 h 30 min old")
    assert lines[2].startswith("*INC-1* P3 · Typo on landing page")


async def test_buttons_act_once(bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock) -> None:
    await declare(fake_slack, bot, "p2 Search is slow")
    clock.advance(timedelta(minutes=4))
    a, b = await asyncio.gather(
        bot.slack.action("incident_acknowledge", "1", user="U0BOB", channel="C0INC"),
        bot.slack.action("incident_acknowledge", "1", user="U0BOB", channel="C0INC"),
    )
    assert a.status == b.status == 200
    answers = await eventually(
        lambda: (
            [c for c in fake_slack.calls_to("response_url") if "acknowledged" in c["text"]][:2]
            if len([c for c in fake_slack.calls_to("response_url") if "acknowledged" in c["text"]]) == 2
            else None
        )
    )
    assert sorted(x["text"][:20] for x in answers) == ["INC-1 was already ac", "You acknowledged INC"]
    assert [t for t in await timeline(bot) if t.startswith("acknowledged")] == [
        "acknowledged: acknowledged after 4 min"
    ]
    pending = await bot.db.fetch("SELECT status FROM job_runs WHERE job = 'incidents.escalate'")
    assert {r["status"] for r in pending} == {"cancelled"}

    take = await bot.slack.action("incident_take_command", "1", user="U0DAVE")  # an incident manager
    assert take.status == 200
    await eventually(lambda: any("now the commander" in c["text"] for c in fake_slack.calls_to("response_url")))
    assert (await incidents(bot))[0]["commander"] == "U0DAVE"

    await bot.slack.action("incident_join", "1", user="U0DAVE")
    await eventually(lambda: "U0DAVE" in fake_slack.channels["C00000001"]["members"])

    # Checklist ticks: the same selection twice (a double click) records once; an untick is recorded too.
    tick = {"action_id": "incident_check:1"}
    for _ in range(2):
        await _check(bot, tick, ["1:0", "1:2"], user="U0BOB")
    await _check(bot, tick, ["1:2"], user="U0BOB")
    checks = await bot.db.fetch("SELECT stage, item, ticked_by FROM incident_checks ORDER BY item")
    assert [(r["stage"], r["item"], r["ticked_by"]) for r in checks] == [(1, 2, "U0BOB")]
    ticks = [t for t in await timeline(bot) if t.startswith("check")]
    assert ticks == [
        "check: ✓ Triage: Assess severity",
        "check: ✓ Triage: Assign incident commander",
        "check: unticked Triage: Assess severity",
    ]
    kickoff_updates = [u for u in fake_slack.calls_to("chat.update") if u["channel"] == "C00000001"]
    assert "<@U0BOB> ·" in flatten(kickoff_updates[-1])


async def _check(bot: RunningBot, action: dict, selected: list[str], *, user: str) -> None:
    click = bot.slack.checkboxes(action["action_id"], "stage:1", selected, user=user, channel="C00000001")
    assert (await handled(bot, action["action_id"], click)).status == 200


async def test_slack_failure_is_reported_and_retry_finishes_the_job(bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.fail("conversations.create", status=500, times=3)  # more than the client's retries
    said = await declare(fake_slack, bot, "p2 Queue backlog")
    assert "Declared *INC-1* (P2)" in said
    call = fake_slack.calls_to("response_url")[-1]
    text = flatten(call)
    assert "INC-1 is declared and recorded, but Slack refused part of the set-up" in text
    assert "channel not created: HTTP 500 from Slack" in text
    retry_button = call["blocks"][1]["elements"][0]
    assert retry_button["action_id"] == "incident_retry_setup"
    row = (await incidents(bot))[0]
    assert row["channel_id"] is None and row["announcement_ts"] and "channel not created" in row["setup_error"]

    a, b = await asyncio.gather(
        bot.slack.action("incident_retry_setup", retry_button["value"]),
        bot.slack.action("incident_retry_setup", retry_button["value"]),
    )
    assert a.status == b.status == 200
    await eventually(lambda: any("fully set up" in c["text"] for c in fake_slack.calls_to("response_url")))
    row = (await incidents(bot))[0]
    assert row["channel_id"] and row["kickoff_ts"] and row["setup_error"] is None
    assert len(posts_to(fake_slack, "#zzik-incidents")) == 1  # the announcement was not posted twice
    # One channel, however many create calls it took: three refused, then one that landed (on a loaded machine a
    # timed-out call is retried by the client and answered name_taken, and the set-up reuses what it created).
    assert len([c for c in fake_slack.calls_to("conversations.create") if c.get("name")]) >= 4
    assert [c["name"] for c in fake_slack.channels.values() if c["name"].startswith("inc-")] == ["inc-1-queue-backlog"]
    assert len(posts_to(fake_slack, "U0ALICE")) == 1  # nor the page sent twice


async def test_acknowledgement_escalation_with_a_moved_clock(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    await declare(fake_slack, bot, "p1 Service down")
    await bot.tick()  # what is due at once (the stakeholders' post of the declaration)
    fake_slack.clear()
    clock.advance(timedelta(minutes=4, seconds=59))
    await bot.tick()
    assert fake_slack.calls_to("chat.postMessage") == []
    clock.advance(timedelta(seconds=2))  # 5 min: the secondary
    await asyncio.gather(bot.tick(), bot.tick())
    dms = [c["channel"] for c in fake_slack.calls_to("chat.postMessage") if c["channel"].startswith("U")]
    assert dms == ["U0BOB"]
    assert "Not acknowledged after 5 min; escalating to you" in posts_to(fake_slack, "U0BOB")[0]["text"]
    clock.advance(timedelta(minutes=5))  # 10 min: the manager
    await bot.tick()
    dms = [c["channel"] for c in fake_slack.calls_to("chat.postMessage") if c["channel"].startswith("U")]
    assert dms == ["U0BOB", "U0MGR"]
    assert [t for t in await timeline(bot) if t.startswith("escalated")] == [
        "escalated: escalated to secondary @U0BOB (not acknowledged after 5 min)",
        "escalated: escalated to manager @U0MGR (not acknowledged after 10 min)",
    ]


async def test_p4_escalates_next_business_day(bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock) -> None:
    clock.set(clock.now().replace(day=27, hour=15))  # Friday 27 Nov, 16:00 CET
    await declare(fake_slack, bot, "p4 Typo in footer")
    due = await bot.db.fetch("SELECT run_key, due_at FROM job_runs WHERE job = 'incidents.escalate' ORDER BY due_at")
    assert [d["due_at"].isoformat() for d in due] == ["2026-11-30T09:00:00+00:00", "2026-12-01T09:00:00+00:00"]


async def test_update_nudges(bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock) -> None:
    await declare(fake_slack, bot, "p1 Service down")
    await bot.slack.action("incident_acknowledge", "1")
    clock.advance(timedelta(minutes=20))
    await bot.slack.command("/incident", "update Failing over to the replica", channel="C00000001")
    await eventually(lambda: any("Failing over" in t for t in fake_slack.texts()))
    clock.advance(timedelta(minutes=11))  # 31 min after declaring, 11 after the update: no nudge
    await bot.tick()
    assert not [c for c in posts_to(fake_slack, "C00000001") if "no status update" in c["text"]]
    clock.advance(timedelta(minutes=20))  # 31 min after the update
    await asyncio.gather(bot.tick(), bot.tick())
    nudges = [c for c in posts_to(fake_slack, "C00000001") if "no status update" in c["text"]]
    assert len(nudges) == 1
    assert nudges[0]["text"].startswith(":hourglass: <@U0ALICE>, INC-1 has had no status update for 31 min")
    await ask(fake_slack, bot, "/incident", "resolve fixed", channel="C00000001", ephemeral=False)
    clock.advance(timedelta(hours=2))
    await bot.tick()
    assert len([c for c in posts_to(fake_slack, "C00000001") if "no status update" in c["text"]]) == 1


async def test_handoff_summary_lists_the_weeks_incidents(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    await declare(fake_slack, bot, "p2 Search is slow")
    await declare(fake_slack, bot, "p3 Typo")
    await ask(fake_slack, bot, "/incident", "action Write the runbook <@U0BOB>", channel="C00000001", ephemeral=False)
    clock.advance(timedelta(hours=1))
    await ask(fake_slack, bot, "/incident", "resolve", channel="C00000002", ephemeral=False)
    lines = []
    for section in bot.services.handoff_summary:
        lines += await section(bot.services, clock.now() - timedelta(days=7), clock.now() + timedelta(seconds=1))
    text = "\n".join(lines)
    assert "*Incidents declared (2)*" in text and "INC-1 P2 Search is slow · open" in text
    assert "*Incidents resolved (1)*\nINC-2 P3 Typo · 60 min" in text.replace("1 h 00 min", "60 min")
    assert "*Still open (1)*" in text and "*Open action items (1)*" in text
