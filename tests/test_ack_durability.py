"""Nothing acknowledged is lost: a change is stored before Slack gets its ack, so a kill -9 the moment the ack
arrives loses nothing (the follow-up work resumes after a restart), and a SIGTERM mid-request lets the request
finish, so its reporter hears once that it was done, never "nothing was done".

Real `zzik-bot serve` processes against the fake Slack and a database of their own. The fake Slack answers in
0.3 s: the work a handler did after an early ack (looking up an email on Slack) takes long enough that a kill
right after the ack always beats the commit, where the commit would otherwise race the kill.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml

from bot.errors import STILL_WORKING
from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, SIGNING_SECRET, BotFactory, ask, config_with, eventually, rota_now, set_up_is_over
from tests.fakepipeline import FakePipeline
from tests.pgproxy import PgProxy
from tests.processes import Served, scratch_database, serve
from tests.slackreq import Reply, SlackRequests

SLOW_SLACK = 0.3
WEBHOOK_SECRET = "test-webhook-secret-22"
NOTHING_DONE = "nothing was done"


def _write_config(tmp_path: Path, pipeline: FakePipeline | None = None) -> Path:
    # The primary and the deployers are named by email, as a team's config often does: the bot asks Slack who
    # they are (users.lookupByEmail) before it can store a declaration, a deploy or a rollback.
    rota = {**rota_now(), "engineers": ["alice@zzik.example", "U0BOB", "U0CAROL"]}
    config: dict[str, Any] = {
        "oncall": rota,
        "permissions": {"deployers": ["dave@zzik.example"], "incident_managers": ["U0DAVE"]},
    }
    if pipeline is not None:
        deploy = config_with(oncall=rota).deploy.model_dump(mode="json")
        deploy.update(webhook_url=pipeline.url, pipeline_answer_within="2s")
        config["deploy"] = deploy
    path = tmp_path / "ops.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def _env(config: Path, **extra: str) -> dict[str, str]:
    return {
        "ZZIK_JOB_TICK_SECONDS": "0.5",
        "ZZIK_CONFIG": str(config),
        "ZZIK_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ZZIK_PUBLIC_URL": "http://bot.invalid",
        **extra,
    }


def _requests(served: Served, fake: FakeSlack) -> SlackRequests:
    return SlackRequests(f"http://127.0.0.1:{served.port}", SIGNING_SECRET, fake.response_url())


async def _kill_on_ack(served: Served, request: Any) -> Reply:
    """Send a request and kill -9 the bot the moment its HTTP answer (the ack) arrives."""
    reply = await request
    served.proc.kill()
    await served.proc.wait()
    assert reply.status == 200, reply.text
    assert NOTHING_DONE not in reply.text
    return reply


@pytest.fixture
async def database(pg_dsn: str) -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    async with scratch_database(pg_dsn) as dsn:
        db = await asyncpg.connect(dsn)
        try:
            yield dsn, db
        finally:
            await db.close()


def _set_up_done(db: asyncpg.Connection):
    async def check() -> bool:
        row = await db.fetchrow("SELECT channel_id, announcement_ts, kickoff_ts, paged_at FROM incidents")
        undelivered = await db.fetchval("SELECT count(*) FROM incident_pages WHERE delivered_at IS NULL")
        running = await db.fetchval(
            "SELECT count(*) FROM job_runs WHERE job = 'incidents.setup' AND status IN ('pending', 'running')"
        )
        return row is not None and all(row.values()) and undelivered == 0 and running == 0

    return check


def _told_nothing_done(fake: FakeSlack, user: str) -> list[str]:
    """Every answer that told `user` nothing was done: through response_url, ephemeral, or in a DM."""
    said = [flatten(c) for c in fake.calls_to("response_url")]
    said += [flatten(c) for c in fake.calls_to("chat.postEphemeral") if c.get("user") == user]
    said += [flatten(c) for c in fake.calls_to("chat.postMessage") if c.get("channel") == user]
    return [s for s in said if NOTHING_DONE in s]


async def _declared_and_set_up(fake: FakeSlack, db: asyncpg.Connection, dsn: str, log: Path, env: dict) -> None:
    """The incident (or the durable declaration that makes it) is stored; a restarted bot declares it if need be
    and finishes its set-up: one incident, one channel, the pages, one answer."""
    stored = await db.fetchval(
        """SELECT (SELECT count(*) FROM incidents)
                  + (SELECT count(*) FROM job_runs WHERE job = 'incidents.declare')"""
    )
    assert stored, "acked, yet neither the incident nor its declaration was stored"
    async with serve(dsn, fake, log, **env):
        await eventually(_set_up_done(db), within=40)
    rows = await db.fetch("SELECT severity, reporter FROM incidents")
    assert [tuple(r.values()) for r in rows] == [("P1", "U0CAROL")]
    pages = await db.fetch("SELECT user_id FROM incident_pages WHERE delivered_at IS NOT NULL ORDER BY id")
    assert [p["user_id"] for p in pages] == ["U0ALICE", "U0BOB", "U0MGR"]
    assert len([c for c in fake.calls_to("chat.postMessage") if c["channel"] == "#zzik-incidents"]) == 1
    assert len(fake.calls_to("conversations.create")) == 1


async def test_kill_9_right_after_the_ack_of_incident_p1_loses_nothing(
    database: tuple[str, asyncpg.Connection], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    dsn, db = database
    env = _env(_write_config(tmp_path))
    fake_slack.latency = SLOW_SLACK
    async with serve(dsn, fake_slack, tmp_path / "first.log", **env) as first:
        await _kill_on_ack(
            first, _requests(first, fake_slack).command("/incident", "p1 Database outage", user="U0CAROL")
        )
    await _declared_and_set_up(fake_slack, db, dsn, tmp_path / "second.log", env)
    answers = [c["text"] for c in fake_slack.calls_to("response_url")]
    assert len(answers) == 1 and answers[0].startswith("Declared *INC-1* (P1)"), answers


async def test_kill_9_right_after_the_ack_of_the_declare_form_loses_nothing(
    database: tuple[str, asyncpg.Connection], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    dsn, db = database
    env = _env(_write_config(tmp_path))
    fake_slack.latency = SLOW_SLACK
    values = {  # no commander picked: the on-call primary commands
        "title": {"value": {"value": "Checkout fails"}},
        "severity": {"value": {"selected_option": {"value": "P1"}}},
        "description": {"value": {"value": "500s on /checkout"}},
        "commander": {"value": {"selected_user": None}},
    }
    async with serve(dsn, fake_slack, tmp_path / "first.log", **env) as first:
        submit = _requests(first, fake_slack).view_submission(
            "incident_declare", values, user="U0CAROL", view_id="V0DECLARE", private_metadata="C0OPS"
        )
        reply = await _kill_on_ack(first, submit)
        assert reply.text == ""  # the form closes
    await _declared_and_set_up(fake_slack, db, dsn, tmp_path / "second.log", env)
    told = [c["text"] for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0CAROL"]
    assert len([t for t in told if t.startswith("Declared *INC-1* (P1)")]) == 1, told


async def test_kill_9_right_after_the_ack_of_deploy_prod_loses_nothing(
    database: tuple[str, asyncpg.Connection], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    dsn, db = database
    # No time to wait for the whole answer: the ack goes as soon as the deploy is stored.
    env = _env(_write_config(tmp_path), ZZIK_ACK_BUDGET_SECONDS="0")
    fake_slack.latency = SLOW_SLACK
    async with serve(dsn, fake_slack, tmp_path / "first.log", **env) as first:
        command = _requests(first, fake_slack).command("/deploy", 'prod v2.0.0 --force "hotfix"', user="U0DAVE")
        await _kill_on_ack(first, command)
    row = await db.fetchrow("SELECT environment, version, status, forced_reason FROM deploys")
    assert row is not None, "acked, yet no deploy was stored"
    assert tuple(row.values()) == ("prod", "v2.0.0", "pending", "hotfix")
    fake_slack.latency = 0
    async with serve(dsn, fake_slack, tmp_path / "second.log", **env):
        announced = await eventually(
            lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "#zzik-deployments"],
            within=40,
        )
        await eventually(lambda: db.fetchval("SELECT message_ts IS NOT NULL FROM deploys"))
    assert len(announced) == 1 and "v2.0.0" in flatten(announced[0])


async def test_kill_9_right_after_the_ack_of_a_rollback_confirmation_loses_nothing(
    database: tuple[str, asyncpg.Connection], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    dsn, db = database
    pipeline = FakePipeline(WEBHOOK_SECRET)
    await pipeline.start()
    pipeline.delay = 10  # CI never answers before the bot is gone
    try:
        env = _env(_write_config(tmp_path, pipeline))
        async with serve(dsn, fake_slack, tmp_path / "first.log", **env) as first:
            # What ran on prod: v1.0, then v1.1 (the one to roll back from).
            await db.execute(
                """INSERT INTO deploys (environment, version, status, request_key, requested_by, finished_at,
                                        created_at)
                   VALUES ('prod', 'v1.0', 'succeeded', 'seed:1', 'U0DAVE', now() - interval '2 hours',
                           now() - interval '3 hours'),
                          ('prod', 'v1.1', 'succeeded', 'seed:2', 'U0DAVE', now() - interval '1 hour',
                           now() - interval '90 minutes')"""
            )
            fake_slack.latency = SLOW_SLACK
            offer = json.dumps({"env": "prod", "current": 2, "target": "v1.0", "reason": ""})
            picked = {"type": "radio_buttons", "selected_option": {"value": "error_rate"}}
            state = {"values": {"rollback_reason": {"rollback_reason": picked}}}
            confirm = _requests(first, fake_slack).action(
                "rollback_confirm", offer, user="U0DAVE", channel="C0OPS", state=state
            )
            await _kill_on_ack(first, confirm)
        row = await db.fetchrow("SELECT kind, version, status, rollback_of FROM deploys WHERE kind = 'rollback'")
        assert row is not None, "acked, yet no rollback was stored"
        assert tuple(row.values()) == ("rollback", "v1.0", "running", 2)
        fake_slack.latency = 0
        fake_slack.clear()
        async with serve(dsn, fake_slack, tmp_path / "second.log", **env):
            # The pipeline call the crash cut off is said where the rollback is announced, and can be marked.
            told = await eventually(
                lambda: [t for t in fake_slack.texts() if "outcome unknown: check CI" in t], within=40
            )
            assert "Rollback #3 of v1.0 to prod" in told[0]
            # (the rollback's other post there is its fix-forward note: no incident is open, so the channel has it)
            posts = [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "#zzik-deployments"]
            announced = [c for c in posts if "fix forward or revert" not in flatten(c)]
            assert announced and "Mark deployed" in flatten(announced[0])
    finally:
        await pipeline.stop()


async def test_kill_9_right_after_the_ack_of_ill_cover_loses_nothing(
    database: tuple[str, asyncpg.Connection], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    dsn, db = database
    env = _env(_write_config(tmp_path))
    async with serve(dsn, fake_slack, tmp_path / "first.log", **env) as first:
        requests = _requests(first, fake_slack)
        assert (await requests.command("/oncall", "cover for 2", user="U0ALICE")).status == 200
        await eventually(lambda: db.fetchval("SELECT ts IS NOT NULL FROM oncall_cover_posts WHERE target = 'U0CAROL'"))
        fake_slack.latency = SLOW_SLACK
        take = requests.action("oncall_cover_take", "1", user="U0CAROL", channel="DU0CAROL", block_id="cover")
        await _kill_on_ack(first, take)
    row = await db.fetchrow("SELECT status, taken_by, override_id FROM oncall_cover_requests")
    assert row is not None and (row["status"], row["taken_by"]) == ("taken", "U0CAROL"), "acked, yet not taken"
    held = await db.fetchrow("SELECT user_id, role, status FROM oncall_overrides WHERE id = $1", row["override_id"])
    assert tuple(held.values()) == ("U0CAROL", "primary", "accepted")
    fake_slack.latency = 0
    fake_slack.clear()
    async with serve(dsn, fake_slack, tmp_path / "second.log", **env):
        # What the take scheduled in its transaction is done by the restarted bot: the asker hears who took it,
        # and every request message says so.
        told = await eventually(
            lambda: [flatten(c) for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0ALICE"],
            within=40,
        )
        await eventually(
            lambda: [c for c in fake_slack.calls_to("chat.update") if "Covered by <@U0CAROL>" in flatten(c)],
            within=40,
        )
    assert any("<@U0CAROL>" in t for t in told), told
    assert await db.fetchval("SELECT count(*) FROM oncall_overrides") == 1


async def test_sigterm_mid_declare_tells_the_reporter_once_that_it_was_declared(
    database: tuple[str, asyncpg.Connection], fake_slack: FakeSlack, tmp_path: Path
) -> None:
    dsn, db = database
    env = _env(_write_config(tmp_path))
    fake_slack.latency = SLOW_SLACK  # the set-up takes seconds: the stop comes in the middle of it
    async with serve(dsn, fake_slack, tmp_path / "first.log", **env) as first:
        requests = _requests(first, fake_slack)
        sent = asyncio.ensure_future(requests.command("/incident", "p1 Database outage", user="U0CAROL"))
        # A rolling restart's SIGTERM, once the request is in the bot's hands (its delivery claimed).
        await eventually(lambda: db.fetchval("SELECT count(*) FROM idempotency_keys"), within=10)
        first.proc.terminate()
        reply = await sent
        assert reply.status == 200 and NOTHING_DONE not in reply.text
        assert await asyncio.wait_for(first.proc.wait(), 30) == 0
    assert _told_nothing_done(fake_slack, "U0CAROL") == []
    # Whatever the stopped bot left (nothing, if it finished in its grace), a restarted one completes.
    await _declared_and_set_up(fake_slack, db, dsn, tmp_path / "second.log", env)
    assert _told_nothing_done(fake_slack, "U0CAROL") == []
    answers = [c["text"] for c in fake_slack.calls_to("response_url")]
    assert len(answers) == 1 and answers[0].startswith("Declared *INC-1* (P1)"), answers


async def test_a_change_not_stored_within_slacks_wait_is_acked_as_not_recorded_yet(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = await make_bot(config_with(oncall=ROTA, permissions={"deployers": ["dave@zzik.example"]}))
    fake_slack.fail("users.lookupByEmail", delay=3.5)  # who may deploy takes longer than Slack waits for an ack
    reply = await bot.slack.command("/deploy", 'prod v2.0.0 --force "hotfix"', user="U0DAVE")
    assert reply.status == 200 and reply.json == {"response_type": "ephemeral", "text": STILL_WORKING}
    answers = await eventually(lambda: fake_slack.calls_to("response_url"), within=30)
    assert answers[0]["text"].startswith("Deploy #1 of v2.0.0 to prod is announced in #zzik-deployments")
    assert await bot.db.fetchval("SELECT count(*) FROM deploys") == 1
    assert _told_nothing_done(fake_slack, "U0DAVE") == []


async def test_an_outage_after_the_commit_is_never_answered_nothing_was_done(
    make_bot: BotFactory, fake_slack: FakeSlack, pg_dsn: str
) -> None:
    proxy = PgProxy(pg_dsn)
    await proxy.start()
    try:
        bot = await make_bot(config_with(oncall=ROTA), dsn=proxy.dsn)
        await ask(fake_slack, bot, "/incident", "p3 Search is slow", user="U0BOB")
        await eventually(set_up_is_over(bot))
        # The escalation to P1 commits, then pages; the database goes while alice's page is on its way.
        fake_slack.clear()
        fake_slack.fail("chat.postMessage", delay=2.0, channel="U0ALICE")
        reply = await bot.slack.command("/incident", "severity p1", user="U0BOB", channel="C00000001")
        assert reply.status == 200 and NOTHING_DONE not in reply.text
        await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0ALICE"])
        proxy.cut()
        said = await eventually(lambda: [flatten(c) for c in fake_slack.calls_to("response_url")], within=30)
        assert said[0].startswith("Recorded, but the database became unavailable"), said
        assert _told_nothing_done(fake_slack, "U0BOB") == []
        proxy.restore()
        assert await eventually(lambda: bot.db.fetchval("SELECT severity FROM incidents WHERE id = 1")) == "P1"
    finally:
        await proxy.stop()
