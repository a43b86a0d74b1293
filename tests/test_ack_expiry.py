"""Acknowledgements that expire: an acknowledged alert that still fires, or an acknowledged incident left without
activity, reminds its acknowledger in the thread, then escalation resumes one role at a time; a snooze postpones
it (recorded and shown); resolved alerts and incidents never remind. Signed requests and webhooks in, the fake
Slack out, the bot's clock advanced (never slept)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually, set_up_is_over
from tests.test_alerts import AUTH, alert_rows, buttons, click, grafana, post, posts, updates

# The default ROTA's week 0: U0ALICE primary, U0BOB secondary, U0MGR manager.
PRIMARY, SECONDARY, MANAGER = "U0ALICE", "U0BOB", "U0MGR"
OTHER = "U0EVE"  # on call in no role


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall=ROTA), zzik_alert_pace_seconds=0.02)


def dms(fake: FakeSlack, user: str) -> list[dict]:
    return [c for c in fake.calls_to("chat.postMessage") if c["channel"] == user]


def replies(fake: FakeSlack, ts: str) -> list[dict]:
    return [c for c in posts(fake) if c.get("thread_ts") == ts]


def reminders(fake: FakeSlack, ts: str) -> list[dict]:
    return [c for c in replies(fake, ts) if "Still on it?" in flatten(c)]


async def advance(bot: RunningBot, clock, minutes: float) -> None:
    clock.advance(timedelta(minutes=minutes))
    await bot.tick()


async def fired_and_acknowledged(bot: RunningBot, fake: FakeSlack, clock, by: str = OTHER) -> tuple[int, str]:
    """A P2 SlowResponse (response time 15m: its acknowledgement lasts 30m, the floor) acknowledged at once."""
    status, _ = await post(bot.url + "/hooks/grafana", grafana("firing", clock.now()), AUTH)
    assert status == 200
    await eventually(lambda: posts(fake))
    alert_id = (await alert_rows(bot))[0]["id"]
    ts = await eventually(lambda: bot.db.fetchval("SELECT message_ts FROM alerts WHERE id = $1", alert_id))
    assert (await click(bot, fake, "alert_acknowledge", str(alert_id), user=by)).startswith("You acknowledged")
    return alert_id, ts


# -- alerts ------------------------------------------------------------------------------------------------------


async def test_an_acknowledged_alert_still_firing_reminds_then_escalates_one_role_at_a_time(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    alert_id, ts = await fired_and_acknowledged(bot, fake_slack, clock)
    await advance(bot, clock, 29)
    assert not reminders(fake_slack, ts)

    await advance(bot, clock, 1)  # 30 min: the acknowledgement ran out, and the alert still fires
    [reminder] = await eventually(lambda: reminders(fake_slack, ts))
    assert reminder["channel"] == "C0ALERTS" and f"<@{OTHER}>" in flatten(reminder)
    assert "the primary is paged in 15m" in flatten(reminder)
    assert buttons(reminder) == ["Still on it", "Snooze 1h", "Snooze 4h"]
    assert not dms(fake_slack, PRIMARY) and not dms(fake_slack, SECONDARY)

    # Nobody answers: one role per response time (15 min), primary, secondary, manager.
    await advance(bot, clock, 14)
    assert not dms(fake_slack, PRIMARY)
    await advance(bot, clock, 1)
    [page] = await eventually(lambda: dms(fake_slack, PRIMARY))
    assert "Acknowledged 45m ago" in page["text"] and "escalating to you (primary)" in page["text"]
    assert not dms(fake_slack, SECONDARY) and not dms(fake_slack, MANAGER)
    await eventually(lambda: any("escalated to the primary <@U0ALICE>" in c["text"] for c in replies(fake_slack, ts)))
    await advance(bot, clock, 15)
    await eventually(lambda: dms(fake_slack, SECONDARY))
    assert not dms(fake_slack, MANAGER)
    await advance(bot, clock, 15)
    await eventually(lambda: dms(fake_slack, MANAGER))
    await advance(bot, clock, 120)
    assert [len(dms(fake_slack, u)) for u in (PRIMARY, SECONDARY, MANAGER)] == [1, 1, 1]
    assert len(reminders(fake_slack, ts)) == 1
    audited = await bot.db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'ack_expired'")
    assert audited == 1 and alert_id


async def test_a_resumed_escalation_starts_after_the_acknowledgers_role_and_never_pages_them(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    """The secondary acknowledged: reminded in the thread, they are not paged again, nor is the primary before
    them; the manager is next."""
    _, ts = await fired_and_acknowledged(bot, fake_slack, clock, by=SECONDARY)
    await advance(bot, clock, 30)
    [reminder] = await eventually(lambda: reminders(fake_slack, ts))
    assert f"<@{SECONDARY}>" in flatten(reminder) and "the manager is paged in 15m" in flatten(reminder)
    await advance(bot, clock, 14)
    assert not dms(fake_slack, MANAGER)
    await advance(bot, clock, 1)
    [page] = await eventually(lambda: dms(fake_slack, MANAGER))
    assert "escalating to you (manager)" in page["text"]
    await advance(bot, clock, 120)
    assert [len(dms(fake_slack, u)) for u in (PRIMARY, SECONDARY, MANAGER)] == [0, 0, 1]
    steps = await bot.db.fetch("SELECT payload->>'role' AS role FROM job_runs WHERE job = 'alerts.ack_escalate'")
    assert [r["role"] for r in steps] == ["manager"]


async def test_the_manager_acknowledged_nobody_is_left_to_page(bot: RunningBot, fake_slack: FakeSlack, clock) -> None:
    _, ts = await fired_and_acknowledged(bot, fake_slack, clock, by=MANAGER)
    await advance(bot, clock, 30)
    [reminder] = await eventually(lambda: reminders(fake_slack, ts))
    assert "Nobody else on call is left to page." in flatten(reminder)
    await advance(bot, clock, 120)
    assert [len(dms(fake_slack, u)) for u in (PRIMARY, SECONDARY, MANAGER)] == [0, 0, 0]
    assert await bot.db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'ack_expired'") == 1


async def test_still_on_it_renews_the_acknowledgement_and_stops_the_escalation(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    alert_id, ts = await fired_and_acknowledged(bot, fake_slack, clock)
    await advance(bot, clock, 30)
    await eventually(lambda: reminders(fake_slack, ts))
    said = await click(bot, fake_slack, "alert_still_on_it", str(alert_id), user=PRIMARY)
    assert said.startswith("You are on SlowResponse: acknowledged again until")
    await advance(bot, clock, 29)  # the old step (primary at +15 min) was cancelled; the new window runs 30 min
    assert not dms(fake_slack, PRIMARY) and len(reminders(fake_slack, ts)) == 1
    await advance(bot, clock, 1)
    second = (await eventually(lambda: reminders(fake_slack, ts)[1:]))[0]
    assert f"<@{PRIMARY}>" in flatten(second)  # the one who renewed it is asked this time


async def test_snooze_postpones_the_reminder_is_recorded_and_shown(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    alert_id, ts = await fired_and_acknowledged(bot, fake_slack, clock)
    acknowledged = (await eventually(lambda: updates(fake_slack)))[-1]
    assert buttons(acknowledged) == [
        "Snooze 1h",
        "Snooze 4h",
        "Declare incident",
        "Start runbook: High CPU Usage",
        "Start runbook: Slow API Responses",
    ]
    await advance(bot, clock, 10)
    said = await click(bot, fake_slack, "alert_ack_snooze:1h", f"{alert_id}:1", user=SECONDARY)
    assert said.startswith("Reminder for SlowResponse snoozed until 05:10 CET")  # 03:00 UTC + 70 min, Berlin
    edit = await eventually(
        lambda: [u for u in updates(fake_slack) if "Reminder snoozed until 05:10 CET by <@U0BOB>" in flatten(u)]
    )
    assert edit[-1]["ts"] == ts
    row = await bot.db.fetchrow("SELECT snoozed_until, snoozed_by FROM alerts WHERE id = $1", alert_id)
    assert row["snoozed_by"] == SECONDARY and row["snoozed_until"] == clock.now() + timedelta(hours=1)
    audit = await bot.db.fetchrow("SELECT actor, detail FROM audit_log WHERE action = 'snooze'")
    assert audit["actor"] == SECONDARY and '"hours": 1' in audit["detail"]

    await advance(bot, clock, 25)  # +35 min: past the acknowledgement's 30 min, inside the snooze
    assert not reminders(fake_slack, ts)
    await advance(bot, clock, 34)  # +69 min
    assert not reminders(fake_slack, ts)
    await advance(bot, clock, 1)  # +70 min: the snooze is over
    await eventually(lambda: reminders(fake_slack, ts))
    assert not dms(fake_slack, PRIMARY)


async def test_a_resolved_alert_never_reminds(bot: RunningBot, fake_slack: FakeSlack, clock) -> None:
    started = clock.now()
    alert_id, ts = await fired_and_acknowledged(bot, fake_slack, clock)
    await advance(bot, clock, 20)
    status, _ = await post(bot.url + "/hooks/grafana", grafana("resolved", started, ends=clock.now()), AUTH)
    assert status == 200
    await eventually(lambda: bot.db.fetchval("SELECT status = 'resolved' FROM alerts WHERE id = $1", alert_id))
    for _ in range(6):
        await advance(bot, clock, 30)
    assert not replies(fake_slack, ts)
    assert not [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"].startswith("U")]
    assert "Snooze 1h" not in buttons(updates(fake_slack)[-1])


async def test_two_replicas_remind_once_and_a_slack_failure_is_retried(
    make_bot: BotFactory, fake_slack: FakeSlack, clock
) -> None:
    one = await make_bot(config_with(oncall=ROTA), zzik_alert_pace_seconds=0.02, replica_id="one")
    two = await make_bot(config_with(oncall=ROTA), zzik_alert_pace_seconds=0.02, replica_id="two")
    alert_id, ts = await fired_and_acknowledged(one, fake_slack, clock)
    fake_slack.fail("chat.postMessage", error="internal_error", channel="C0ALERTS")
    clock.advance(timedelta(minutes=30))
    await asyncio.gather(one.tick(), two.tick())
    # (a replica's own pass may have claimed the run instead of the ticks: wait for the try to end)
    run = await eventually(
        lambda: one.db.fetchrow(
            """SELECT status, last_error FROM job_runs WHERE job = 'alerts.ack_expired'
               AND status <> 'running' AND (status <> 'pending' OR last_error IS NOT NULL)"""
        )
    )
    assert len(reminders(fake_slack, ts)) == 1  # one try, one replica, and Slack refused it
    assert run["status"] == "pending" and "internal_error" in run["last_error"]  # not counted as done: retried
    assert await one.db.fetchval("SELECT ack_reminder_ts FROM alerts WHERE id = $1", alert_id) is None
    clock.advance(timedelta(minutes=1))
    await asyncio.gather(one.tick(), two.tick())
    await eventually(lambda: reminders(fake_slack, ts)[1:])
    for _ in range(3):
        clock.advance(timedelta(minutes=1))
        await asyncio.gather(one.tick(), two.tick())
    assert len(reminders(fake_slack, ts)) == 2  # the failed try and the one Slack took, no more
    await eventually(lambda: one.db.fetchval("SELECT ack_reminder_ts IS NOT NULL FROM alerts WHERE id = $1", alert_id))
    clock.advance(timedelta(minutes=14))
    await asyncio.gather(one.tick(), two.tick())
    await eventually(lambda: dms(fake_slack, PRIMARY))
    assert len(dms(fake_slack, PRIMARY)) == 1


# -- incidents ---------------------------------------------------------------------------------------------------

INCIDENTS = "#zzik-incidents"
INC_CHANNEL = "C00000001"  # the first channel the fake Slack creates: INC-1's


@pytest.fixture
async def incident_bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall=ROTA, permissions={"deployers": [], "incident_managers": ["U0DAVE"]}))


async def press(bot: RunningBot, fake: FakeSlack, action_id: str, value: str, user: str) -> str:
    """A button in the incidents channel; what the presser saw (the first response_url message)."""
    before = len(fake.calls_to("response_url"))
    assert (await bot.slack.action(action_id, value, user=user, channel="C0INCIDENTS")).status == 200
    return flatten((await eventually(lambda: fake.calls_to("response_url")[before:]))[0])


async def declared_and_acknowledged(bot: RunningBot, fake: FakeSlack, by: str = PRIMARY) -> tuple[int, str]:
    """A P2 (ack_within 30m: its acknowledgement lasts 30 min, then one role per 30 min) acknowledged at once."""
    await ask(fake, bot, "/incident", "p2 Search is slow", user=PRIMARY)
    await eventually(set_up_is_over(bot))
    incident_id = await bot.db.fetchval("SELECT id FROM incidents")
    ts = await eventually(lambda: bot.db.fetchval("SELECT announcement_ts FROM incidents"))
    assert "You acknowledged INC-1" in await press(bot, fake, "incident_acknowledge", str(incident_id), by)
    return incident_id, ts


def inc_reminders(fake: FakeSlack, ts: str) -> list[dict]:
    return [c for c in fake.posted_in(INCIDENTS) if c.get("thread_ts") == ts and "Still on it?" in flatten(c)]


async def inc_timeline(bot: RunningBot) -> list[str]:
    rows = await bot.db.fetch("SELECT kind, actor, text FROM incident_events ORDER BY at, id")
    return [f"{r['kind']} {r['actor'] or '-'}: {r['text']}" for r in rows]


async def test_an_acknowledged_incident_left_alone_reminds_then_escalates_one_role_at_a_time(
    incident_bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    bot = incident_bot
    _, ts = await declared_and_acknowledged(bot, fake_slack)
    await advance(bot, clock, 29)
    assert not inc_reminders(fake_slack, ts)
    await advance(bot, clock, 1)
    [reminder] = await eventually(lambda: inc_reminders(fake_slack, ts))
    seen = flatten(reminder)
    assert reminder["channel"] == "C0INCIDENTS" and seen.startswith(f":hourglass: <@{PRIMARY}>, INC-1 was acknowledged")
    assert buttons(reminder) == ["Still on it", "Snooze 1h", "Snooze 4h"]
    assert "ack_reminder -: acknowledgement ran out with no activity: reminded @U0ALICE" in await inc_timeline(bot)
    assert not dms(fake_slack, SECONDARY)

    await advance(bot, clock, 29)
    assert not dms(fake_slack, SECONDARY)
    await advance(bot, clock, 1)  # nobody answered: the secondary
    [page] = await eventually(lambda: dms(fake_slack, SECONDARY))
    assert "Acknowledged 1 h 00 min ago with no activity since" in page["text"]
    assert not dms(fake_slack, MANAGER)
    await advance(bot, clock, 30)  # then the manager
    await eventually(lambda: dms(fake_slack, MANAGER))
    await advance(bot, clock, 240)
    assert [len(dms(fake_slack, u)) for u in (SECONDARY, MANAGER)] == [1, 1]
    assert len(inc_reminders(fake_slack, ts)) == 1
    escalated = [t for t in await inc_timeline(bot) if t.startswith("escalated")]
    assert escalated == [
        "escalated -: escalated to secondary @U0BOB (acknowledged 1 h 00 min ago, no activity since)",
        "escalated -: escalated to manager @U0MGR (acknowledged 1 h 30 min ago, no activity since)",
    ]


async def test_an_incident_acknowledged_by_the_secondary_escalates_to_the_manager_only(
    incident_bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    bot = incident_bot
    _, ts = await declared_and_acknowledged(bot, fake_slack, by=SECONDARY)
    before = len(dms(fake_slack, SECONDARY))
    await advance(bot, clock, 30)
    [reminder] = await eventually(lambda: inc_reminders(fake_slack, ts))
    assert f"<@{SECONDARY}>" in flatten(reminder) and "the manager is paged in 30 min" in flatten(reminder)
    await advance(bot, clock, 30)
    await eventually(lambda: dms(fake_slack, MANAGER))
    await advance(bot, clock, 240)
    assert len(dms(fake_slack, SECONDARY)) == before and len(dms(fake_slack, MANAGER)) == 1
    escalated = [t for t in await inc_timeline(bot) if t.startswith("escalated")]
    assert escalated == ["escalated -: escalated to manager @U0MGR (acknowledged 1 h 00 min ago, no activity since)"]


async def test_an_incident_with_an_update_since_the_ack_does_not_remind(
    incident_bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    bot = incident_bot
    _, ts = await declared_and_acknowledged(bot, fake_slack)
    await advance(bot, clock, 20)
    reply = await bot.slack.command("/incident", "update Index rebuild running", user=SECONDARY, channel=INC_CHANNEL)
    assert reply.status == 200
    await eventually(lambda: "Index rebuild running" in " ".join(fake_slack.texts()))
    await advance(bot, clock, 10)  # the acknowledgement's 30 min: an update came in, it runs from there
    await advance(bot, clock, 19)
    assert not inc_reminders(fake_slack, ts)
    await advance(bot, clock, 1)  # 30 min after the update, nothing since
    await eventually(lambda: inc_reminders(fake_slack, ts))
    assert not dms(fake_slack, SECONDARY)


async def test_snoozing_an_incident_is_for_the_policy_recorded_and_shown(
    incident_bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    bot = incident_bot
    incident_id, ts = await declared_and_acknowledged(bot, fake_slack)
    refused = await press(bot, fake_slack, "incident_ack_snooze:1h", f"{incident_id}:1", "U0EVE")
    assert refused.startswith("Only the commander (<@U0ALICE>) or whoever is on call") and "snooze INC-1" in refused
    assert await bot.db.fetchval("SELECT snoozed_until FROM incidents") is None

    await advance(bot, clock, 10)
    said = await press(bot, fake_slack, "incident_ack_snooze:1h", f"{incident_id}:1", SECONDARY)
    assert said == "Reminder for INC-1 snoozed until 05:10 CET."
    assert "ack_snoozed U0BOB: acknowledgement reminder snoozed until 05:10 CET" in await inc_timeline(bot)
    shown = await eventually(
        lambda: [
            u
            for u in fake_slack.calls_to("chat.update")
            if u["ts"] == ts and "reminder snoozed until 05:10 CET by <@U0BOB>" in flatten(u)
        ]
    )
    assert "Snooze 1h" in buttons(shown[-1])
    await advance(bot, clock, 59)  # +69 min
    assert not inc_reminders(fake_slack, ts)
    await advance(bot, clock, 1)  # +70 min: the snooze is over
    await eventually(lambda: inc_reminders(fake_slack, ts))


async def test_still_on_it_for_an_incident_is_for_the_snooze_policy(
    incident_bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    bot = incident_bot
    incident_id, ts = await declared_and_acknowledged(bot, fake_slack)
    await advance(bot, clock, 30)
    await eventually(lambda: inc_reminders(fake_slack, ts))
    deadline = await bot.db.fetchval("SELECT ack_expires_at FROM incidents")
    refused = await press(bot, fake_slack, "incident_still_on_it", str(incident_id), "U0EVE")
    assert refused.startswith("Only the commander (<@U0ALICE>) or whoever is on call")
    assert "renew INC-1's acknowledgement" in refused
    assert fake_slack.calls_to("response_url")[-1]["response_type"] == "ephemeral"
    row = await bot.db.fetchrow("SELECT acknowledged_by, ack_expires_at FROM incidents")
    assert (row["acknowledged_by"], row["ack_expires_at"]) == (PRIMARY, deadline)  # nothing changed
    assert not [t for t in await inc_timeline(bot) if t.startswith("ack_renewed")]
    said = await press(bot, fake_slack, "incident_still_on_it", str(incident_id), SECONDARY)  # on call: may
    assert "INC-1" in said and await bot.db.fetchval("SELECT acknowledged_by FROM incidents") == SECONDARY


async def test_a_resolved_incident_never_reminds(incident_bot: RunningBot, fake_slack: FakeSlack, clock) -> None:
    bot = incident_bot
    _, ts = await declared_and_acknowledged(bot, fake_slack)
    await advance(bot, clock, 5)
    said = await ask(fake_slack, bot, "/incident", "resolve fixed", channel=INC_CHANNEL, ephemeral=False)
    assert "resolved" in said.lower()
    for _ in range(8):
        await advance(bot, clock, 30)
    assert not inc_reminders(fake_slack, ts)
    assert not dms(fake_slack, SECONDARY) and not dms(fake_slack, MANAGER)


async def test_reopening_an_acknowledged_incident_starts_a_fresh_period(
    incident_bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    bot = incident_bot
    _, ts = await declared_and_acknowledged(bot, fake_slack)
    await advance(bot, clock, 5)
    await ask(fake_slack, bot, "/incident", "resolve fixed", channel=INC_CHANNEL, ephemeral=False)
    await advance(bot, clock, 35)  # +40 min: resolved, nothing
    assert not inc_reminders(fake_slack, ts)
    said = await ask(fake_slack, bot, "/incident", "reopen", channel=INC_CHANNEL, ephemeral=False)
    assert "reopened" in said.lower()
    await advance(bot, clock, 29)
    assert not inc_reminders(fake_slack, ts)
    await advance(bot, clock, 1)  # 30 min after the reopen, nothing since
    await eventually(lambda: inc_reminders(fake_slack, ts))


async def test_a_storm_acknowledged_through_its_digest_reminds_in_the_digests_thread(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    """The alerts of a storm have no message of their own: acknowledged through the digest's *Acknowledge*, each
    one's acknowledgement runs out like any other, and its reminder goes in the digest's thread."""
    body = grafana("firing", clock.now())
    item = body["alerts"][0]
    body["alerts"] = [
        {**item, "labels": {**item["labels"], "pod": f"api-{i}"}, "fingerprint": f"{i:016x}"} for i in range(8)
    ]
    assert (await post(bot.url + "/hooks/grafana", body, AUTH))[0] == 200
    await eventually(lambda: [c for c in posts(fake_slack) if "Alert storm: " in c["text"]])
    digest_id, ts = await eventually(lambda: bot.db.fetchrow("SELECT id, message_ts FROM alert_digests"))
    stormy = await bot.db.fetch("SELECT id FROM alerts WHERE digest_id = $1 AND message_ts IS NULL", digest_id)
    assert stormy
    said = await click(bot, fake_slack, "alert_acknowledge", f"d{digest_id}", user=OTHER)
    assert "acknowledged" in said.lower(), said
    await advance(bot, clock, 29)
    assert not reminders(fake_slack, ts)
    await advance(bot, clock, 1)  # 30 min: the acknowledgements ran out, and the alerts still fire

    async def all_reminded() -> list[dict] | None:
        await bot.tick()  # one pass may not take every alert's run when the runner's slots are busy: pass again
        found = reminders(fake_slack, ts)
        return found if len(found) == len(stormy) else None

    found = await eventually(all_reminded)
    assert all(r["channel"] == "C0ALERTS" and f"<@{OTHER}>" in flatten(r) for r in found)
    await advance(bot, clock, 15)  # escalation resumes, its notes in the same thread
    await eventually(lambda: dms(fake_slack, PRIMARY))
