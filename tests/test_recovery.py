"""Recovery wired in: the recovery runbook suggested by kickoffs and alerts without a recent prod deploy, the
App Recovery step that rolls back, and timed drills held against the RTO and RPO, posted in the monthly thread."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually, set_up_is_over
from tests.test_alerts import AUTH, grafana, post

PRE = ["tests", "security_scan", "benchmarks", "migrations", "rollback_plan", "changelog", "team_notified"]


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall=ROTA), zzik_alert_pace_seconds=0.02)


def elements(call: dict) -> list[dict]:
    return [e for b in call.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


async def clicked(bot: RunningBot, fake: FakeSlack, action_id: str, value: str, **kw: str) -> str:
    """A click, and the answer it got (so the next request's answer is not taken for this one's)."""
    before = len(fake.calls_to("response_url"))
    assert (await bot.slack.action(action_id, value, user="U0BOB", **kw)).status == 200
    return flatten((await eventually(lambda: fake.calls_to("response_url")[before:]))[0])


async def shipped(bot: RunningBot, fake: FakeSlack, version: str) -> None:
    """A prod deploy all the way (no pipeline: marked deployed by hand)."""
    said = await ask(fake, bot, "/deploy", f'prod {version} --force "hotfix"', user="U0BOB")
    # On a busy machine the answer may come before the announcement: it says it follows, and it does.
    assert "is announced" in said or "its announcement in #zzik-deployments follows" in said, said
    deploy_id = await bot.db.fetchval("SELECT max(id) FROM deploys")
    await eventually(lambda: bot.db.fetchval("SELECT message_ts IS NOT NULL FROM deploys WHERE id = $1", deploy_id))
    await bot.slack.checkboxes(
        "deploy_check:pre", f"deploy:{deploy_id}:pre", PRE, user="U0BOB", channel="#zzik-deployments"
    )
    await eventually(lambda: bot.db.fetchval("SELECT count(*) = 7 FROM deploy_checks WHERE deploy_id = $1", deploy_id))
    await clicked(bot, fake, "deploy_start", str(deploy_id))
    assert "marked succeeded" in await clicked(bot, fake, "deploy_mark_deployed", str(deploy_id))


async def kickoff(bot: RunningBot, fake: FakeSlack, number: int, what: str) -> str:
    await ask(fake, bot, "/incident", what)
    posted = await eventually(
        lambda: [c for c in fake.calls_to("chat.postMessage") if f"INC-{number} kickoff" in c["text"]]
    )
    await eventually(set_up_is_over(bot))
    return flatten(posted[0])


async def test_kickoff_suggests_the_recovery_runbook_only_without_a_recent_prod_deploy(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    first = await kickoff(bot, fake_slack, 1, "p1 Checkout returns errors for everyone")
    assert "*Recovery:* no prod deploy in the 24 h before this incident" in first
    assert "*Application Recovery* step by step: `/runbook app-recovery`" in first
    database = await kickoff(bot, fake_slack, 2, "p2 Database unreachable from the API")
    assert "*Database Recovery* step by step: `/runbook db-recovery`" in database
    minor = await kickoff(bot, fake_slack, 3, "p3 Typo on the pricing page")
    assert "Recovery:" not in minor  # P3: not a recovery

    await shipped(bot, fake_slack, "v7.1")
    clock.advance(timedelta(hours=2))
    after_deploy = await kickoff(bot, fake_slack, 4, "p1 Logins fail")
    assert "`v7.1` by <@U0BOB>" in after_deploy and "Recovery:" not in after_deploy  # the deploy is the lead

    clock.advance(timedelta(hours=23))  # the deploy is older than 24 h: recovery again
    later = await kickoff(bot, fake_slack, 5, "p1 Logins fail again")
    assert "`/runbook app-recovery`" in later


async def test_service_down_alert_suggests_recovery_unless_a_prod_deploy_came_first(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    status, _ = await post(bot.url + "/hooks/grafana", grafana("firing", clock.now(), name="ServiceDown"), AUTH)
    assert status == 200
    [message] = await eventually(lambda: fake_slack.posted_in("#zzik-alerts"))
    assert "P1 · ServiceDown" in flatten(message)
    assert "Runbook: *Application Recovery*" in flatten(message)
    start = next(e for e in elements(message) if e["text"]["text"] == "Start runbook: Application Recovery")
    assert (start["action_id"], start["value"]) == ("alert_runbook:app-recovery", "1:app-recovery")

    body = grafana("firing", clock.now(), name="ServiceDown", job="database")
    body["alerts"][0]["fingerprint"] = "d0d0d0d0d0d0d0d0"
    await post(bot.url + "/hooks/grafana", body, AUTH)
    second = (await eventually(lambda: fake_slack.posted_in("#zzik-alerts")[1:]))[0]
    assert "Start runbook: Database Recovery" in [e["text"]["text"] for e in elements(second)]

    slow = grafana("firing", clock.now(), name="SlowResponse")
    slow["alerts"][0]["fingerprint"] = "5105105105105105"
    await post(bot.url + "/hooks/grafana", slow, AUTH)
    third = (await eventually(lambda: fake_slack.posted_in("#zzik-alerts")[2:]))[0]
    assert "Recovery" not in flatten(third)  # not one of recovery.alerts

    await shipped(bot, fake_slack, "v7.2")
    clock.advance(timedelta(minutes=40))  # past the watch window: the alert is not tied to the deploy
    errors = grafana("firing", clock.now(), name="HighErrorRate")
    errors["alerts"][0]["fingerprint"] = "e7707e7707e7707e"
    await post(bot.url + "/hooks/grafana", errors, AUTH)
    fourth = await eventually(lambda: [c for c in fake_slack.posted_in("#zzik-alerts") if "HighErrorRate" in c["text"]])
    assert "Recovery" not in flatten(fourth[0])  # a prod deploy came first: /rollback is the way back


async def test_deploy_previous_version_offers_the_rollback_of_prod(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    await shipped(bot, fake_slack, "v7.0")
    clock.advance(timedelta(hours=1))
    await shipped(bot, fake_slack, "v7.1")
    reply = await bot.slack.command("/runbook", "app-recovery", user="U0BOB", channel="C0OPS")
    assert reply.status == 200
    [run] = await eventually(lambda: [c for c in fake_slack.posted_in("C0OPS") if "Runbook" in c["text"]])
    rollback = [e for e in elements(run) if e["action_id"] == "rollback_offer"]
    assert [(e["text"]["text"], e["value"]) for e in rollback] == [("Roll back prod…", "prod")]
    step = next(b for b in run["blocks"] if b.get("block_id") == "run:1:1")  # on "Deploy previous version" only
    assert rollback[0] in step["elements"]

    before = len(fake_slack.calls_to("response_url"))
    await bot.slack.action("rollback_offer", "prod", user="U0BOB", channel="C0OPS")
    [offer] = await eventually(lambda: fake_slack.calls_to("response_url")[before:])
    assert "the last good version before it is `v7.0`" in flatten(offer)
    confirm = next(e for e in elements(offer) if e["action_id"] == "rollback_confirm")
    state = {
        "values": {
            "rollback_reason": {
                "rollback_reason": {"type": "radio_buttons", "selected_option": {"value": "error_rate"}}
            }
        }
    }
    await bot.slack.action("rollback_confirm", confirm["value"], user="U0BOB", channel="C0OPS", state=state)
    rolled = await eventually(lambda: bot.db.fetchrow("SELECT version, reason FROM deploys WHERE kind = 'rollback'"))
    assert rolled["version"] == "v7.0" and rolled["reason"].startswith("Error rate &gt; 10%")


async def _age_modal(bot: RunningBot, fake: FakeSlack, run_id: int, channel: str) -> dict:
    ask_post = await eventually(
        lambda: [c for c in fake.posted_in(channel) if "How old is the restored data?" in c["text"]]
    )
    [button] = elements(ask_post[-1])
    assert (button["action_id"], button["value"]) == ("runbook_drill_age", str(run_id))
    before = len(fake.calls_to("views.open"))
    await bot.slack.action("runbook_drill_age", str(run_id), user="U0BOB", channel=channel)
    [opened] = await eventually(lambda: fake.calls_to("views.open")[before:])
    assert opened["view"]["callback_id"] == "runbook_drill_age_view"
    return opened["view"]


async def _steps(bot: RunningBot, run_id: int, count: int, every: timedelta, clock: FrozenClock, channel: str) -> None:
    for index in range(count):
        clock.advance(every)
        await bot.slack.action("runbook_done", f"{run_id}:{index}", user="U0BOB", channel=channel)
        await eventually(
            lambda i=index: bot.db.fetchval(
                "SELECT count(*) FROM runbook_steps WHERE run_id = $1 AND step = $2", run_id, i
            )
        )


async def test_drills_timed_held_against_rto_and_rpo_posted_in_the_monthly_thread(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    # The monthly checklist offers the drill in its thread.
    said = await ask(fake_slack, bot, "/maintenance", "post monthly", user="U0DAVE")
    assert "monthly checklist is posted" in said
    monthly = await bot.db.fetchrow("SELECT channel, ts FROM maintenance_posts WHERE kind = 'monthly'")
    offers = await eventually(
        lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c.get("thread_ts") == monthly["ts"]]
    )
    assert "*Full backup test* and *Disaster recovery drill*: run them as a drill" in offers[0]["text"]
    assert "RTO 1h" in offers[0]["text"] and "RPO 6h" in offers[0]["text"]
    buttons = [(e["text"]["text"], e["action_id"], e["value"]) for e in elements(offers[0])]
    assert buttons == [
        ("Start drill: Database Recovery", "runbook_drill_start:db-recovery", "db-recovery"),
        ("Start drill: Application Recovery", "runbook_drill_start:app-recovery", "app-recovery"),
    ]

    # A drill from the offer: 5 steps, 10 min apart: restore 50m (RTO 1h met); data 7h old (RPO 6h missed).
    channel = monthly["channel"]
    started = clock.now()
    before = len(fake_slack.calls_to("response_url"))
    await bot.slack.action("runbook_drill_start:db-recovery", "db-recovery", user="U0BOB", channel=channel)
    [answer] = await eventually(lambda: fake_slack.calls_to("response_url")[before:])
    assert answer["text"].startswith("Drill of Database Recovery started")
    [run_post] = await eventually(
        lambda: [c for c in fake_slack.posted_in(channel) if c["text"] == "Runbook: Database Recovery"]
    )
    assert ":stopwatch: *Drill*" in flatten(run_post)
    assert await bot.db.fetchval("SELECT drill FROM runbook_runs WHERE id = 1")
    await _steps(bot, 1, 5, timedelta(minutes=10), clock, channel)
    # Each step's time from the start, on the run's message.
    await eventually(lambda: any("(+50m)" in flatten(c) for c in fake_slack.calls_to("chat.update")))

    view = await _age_modal(bot, fake_slack, 1, channel)
    assert view["private_metadata"] == "1"
    bad = await bot.slack.view_submission(
        "runbook_drill_age_view", {"age": {"value": {"value": "soon"}}}, user="U0BOB", private_metadata="1"
    )
    assert bad.json["response_action"] == "errors" and "2h" in bad.json["errors"]["age"]
    for beyond in ("99999999999d", "0001-01-01 00:00"):  # past what a timedelta (or PostgreSQL) holds: the same error
        refused = await bot.slack.view_submission(
            "runbook_drill_age_view", {"age": {"value": {"value": beyond}}}, user="U0BOB", private_metadata="1"
        )
        assert refused.json["errors"]["age"] == bad.json["errors"]["age"], (beyond, refused.json)
    ok = await bot.slack.view_submission(
        "runbook_drill_age_view", {"age": {"value": {"value": "7h"}}}, user="U0BOB", private_metadata="1"
    )
    assert ok.status == 200
    results = await eventually(
        lambda: (
            [c for c in fake_slack.calls_to("chat.postMessage") if c["text"].startswith(":stopwatch: *Drill: ")]
            if len([c for c in fake_slack.calls_to("chat.postMessage") if c["text"].startswith(":stopwatch: *Drill: ")])
            == 2
            else None
        )
    )
    in_thread = [c for c in results if c.get("thread_ts") == monthly["ts"]]
    here = [c for c in results if not c.get("thread_ts")]
    assert len(in_thread) == 1 and len(here) == 1
    text = flatten(in_thread[0])
    assert "restore time 50m against RTO 1h 00m: :white_check_mark: met" in text
    assert "data age 7h 00m against RPO 6h 00m: :x: missed" in text
    assert "1. Stop application servers: +10m" in text and "5. Run validation tests: +50m" in text
    assert "Also in the monthly checklist's thread." in flatten(here[0])
    row = await bot.db.fetchrow("SELECT * FROM recovery_drills WHERE run_id = 1")
    assert row["finished_at"] - row["started_at"] == timedelta(minutes=50) and row["started_at"] == started
    assert row["data_age"] == timedelta(hours=7) and row["posted_here"] and row["posted_monthly"]

    # Told twice: the first answer stands.
    again = await bot.slack.view_submission(
        "runbook_drill_age_view", {"age": {"value": {"value": "1h"}}}, user="U0CAROL", private_metadata="1"
    )
    assert again.json["errors"]["age"] == "That drill's data age was already recorded (7h 00m)."
    assert await bot.db.fetchval("SELECT data_age FROM recovery_drills WHERE run_id = 1") == timedelta(hours=7)

    # A drill by command: 4 steps 30 min apart: 2h (RTO missed); the newest restored row 2h before it (RPO met).
    refused = await ask(fake_slack, bot, "/runbook", "drill high-cpu", user="U0BOB", channel="C0OPS")
    assert refused.startswith("High CPU Usage is not a drill.")
    newest = (clock.now() - timedelta(hours=2)).astimezone(bot.services.config.oncall.zone)
    said = await ask(fake_slack, bot, "/runbook", "drill app-recovery", user="U0BOB", channel="C0OPS")
    assert said.startswith("Drill of Application Recovery started")
    # A drill rolls nothing back: its "Deploy previous version" step has no rollback button, and says so.
    [drill_post] = await eventually(
        lambda: [c for c in fake_slack.posted_in("C0OPS") if c["text"] == "Runbook: Application Recovery"]
    )
    assert [e["action_id"] for e in elements(drill_post) if e["action_id"] == "rollback_offer"] == []
    assert "_In a drill this is not done for real (no button): press Done when you would have._" in flatten(drill_post)
    await _steps(bot, 2, 4, timedelta(minutes=30), clock, "C0OPS")
    await _age_modal(bot, fake_slack, 2, "C0OPS")
    told = newest.strftime("%Y-%m-%d %H:%M")
    await bot.slack.view_submission(
        "runbook_drill_age_view", {"age": {"value": {"value": told}}}, user="U0BOB", private_metadata="2"
    )
    second = await eventually(
        lambda: [c for c in fake_slack.posted_in("C0OPS") if c["text"].startswith(":stopwatch: *Drill: Application")]
    )
    text = flatten(second[0])
    assert "restore time 2h 00m against RTO 1h 00m: :x: missed" in text
    assert "data age 2h 00m against RPO 6h 00m: :white_check_mark: met" in text

    listed = await ask(fake_slack, bot, "/runbook", "drills", user="U0CAROL")
    lines = listed.split("\n")
    assert lines[0] == "*Recovery drills* (newest first)"
    assert "*Application Recovery* by <@U0BOB> · restore 2h 00m vs RTO 1h 00m: :x: missed" in lines[1]
    assert "data age 2h 00m vs RPO 6h 00m: :white_check_mark: met" in lines[1]
    assert "*Database Recovery* by <@U0BOB> · restore 50m vs RTO 1h 00m: :white_check_mark: met" in lines[2]
    assert "data age 7h 00m vs RPO 6h 00m: :x: missed" in lines[2]
