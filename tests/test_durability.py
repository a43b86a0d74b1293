"""Nothing is lost: an incident's set-up and its pages are durable work that survives kill -9 and Slack outages."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import asyncpg
import pytest
import yaml

from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from bot.incidents import paging
from bot.incidents import store as incidents_store
from bot.incidents.ids import Job
from tests.conftest import (
    ROTA,
    SIGNING_SECRET,
    BotFactory,
    RunningBot,
    ask,
    config_with,
    eventually,
    rota_now,
    set_up_is_over,
)
from tests.fakepipeline import FakePipeline
from tests.processes import scratch_database, serve
from tests.slackreq import SlackRequests


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall=ROTA, permissions={"deployers": [], "incident_managers": ["U0DAVE"]}))


async def test_failed_pages_are_recorded_told_and_retried(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    # Every page of a P1 fails (an error Slack's client does not retry, so the count is exact under load).
    fake_slack.fail("chat.postMessage", error="fatal_error", times=3)
    said = await ask(fake_slack, bot, "/incident", "p1 Database outage", user="U0CAROL")
    assert "Paged" not in said.split("\n")[0]
    assert "Could not reach <@U0ALICE> (fatal_error), <@U0BOB> (fatal_error), <@U0MGR> (fatal_error)." in said
    assert "could not page <@U0ALICE>: fatal_error" in said  # with the Retry button
    pages = await bot.db.fetch("SELECT user_id, attempts, delivered_at FROM incident_pages ORDER BY id")
    assert [(p["user_id"], p["attempts"], p["delivered_at"]) for p in pages] == [
        ("U0ALICE", 1, None),
        ("U0BOB", 1, None),
        ("U0MGR", 1, None),
    ]
    posts = fake_slack.calls_to("chat.postMessage")
    announcement = flatten(next(c for c in posts if c["channel"] == "#zzik-incidents"))
    assert "*Paging:* Could not reach <@U0ALICE> (fatal_error)" in announcement

    # Retried by the job runner after its backoff, not before.
    await bot.tick()
    assert await bot.db.fetchval("SELECT max(attempts) FROM incident_pages") == 1
    clock.advance(timedelta(seconds=15))
    await bot.tick()
    pages = await bot.db.fetch("SELECT attempts, delivered_at FROM incident_pages ORDER BY id")
    assert [(p["attempts"], p["delivered_at"] is not None) for p in pages] == [(2, True)] * 3
    assert any(
        c["text"] == ":pager: Paged <@U0ALICE>, <@U0BOB>, <@U0MGR> (late)."
        for c in fake_slack.calls_to("chat.postMessage")
    )
    updated = flatten(fake_slack.calls_to("chat.update")[-1])
    assert "*Paging:* Paged <@U0ALICE>, <@U0BOB>, <@U0MGR>." in updated

    # Retry now answers from the records: everyone reached, nothing sent twice.
    fake_slack.clear()
    await bot.slack.action("incident_retry_setup", "1", user="U0CAROL")
    answer = await eventually(lambda: fake_slack.calls_to("response_url"))
    assert answer[0]["text"].startswith("INC-1 is fully set up: <#C00000001>. Paged <@U0ALICE>, <@U0BOB>, <@U0MGR>.")
    assert [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"][0] == "U"] == []


async def test_retry_resends_only_what_is_undelivered(bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", error="fatal_error")  # alice's page only (P2: the primary alone)
    said = await ask(fake_slack, bot, "/incident", "p2 Search is slow", user="U0CAROL")
    assert "Could not reach <@U0ALICE> (fatal_error)." in said
    await eventually(set_up_is_over(bot))  # the retry comes after the first set-up, not during it
    fake_slack.clear()
    await bot.slack.action("incident_retry_setup", "1", user="U0CAROL")
    answer = await eventually(lambda: fake_slack.calls_to("response_url"))
    assert answer[0]["text"].startswith("INC-1 is fully set up: <#C00000001>. Paged <@U0ALICE>.")
    assert [c["channel"] for c in fake_slack.calls_to("chat.postMessage")] == ["U0ALICE"]
    assert await bot.db.fetchval("SELECT attempts FROM incident_pages") == 2


async def test_a_page_left_claimed_by_a_dead_sender_is_sent_when_the_claim_runs_out(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    await ask(fake_slack, bot, "/incident", "p2 Search is slow", user="U0CAROL")
    await eventually(set_up_is_over(bot))
    # As a replica killed mid-send leaves it: claimed, never tried, undelivered; its round's run is over.
    await bot.db.execute("UPDATE incident_pages SET delivered_at = NULL, attempts = 0, sending_since = $1", clock.now())
    fake_slack.clear()
    incident = await incidents_store.get(bot.db, 1)
    assert incident is not None
    await paging.deliver(bot.app.services, incident)  # a round that finds the page claimed sends nothing...
    assert fake_slack.calls_to("chat.postMessage") == []
    due = await bot.db.fetchval("SELECT due_at FROM job_runs WHERE job = $1 AND status = 'pending'", Job.PAGE_RETRY)
    assert due == clock.now() + paging.SENDING_CLAIM + timedelta(seconds=0.5)  # ...and comes back when it runs out
    clock.advance(paging.SENDING_CLAIM + timedelta(seconds=1))
    await bot.tick()
    assert [c["channel"] for c in fake_slack.calls_to("chat.postMessage") if c["channel"][0] == "U"] == ["U0ALICE"]
    assert await bot.db.fetchval("SELECT delivered_at IS NOT NULL FROM incident_pages")


async def test_kill_9_during_set_up_resumes_on_restart(pg_dsn: str, fake_slack: FakeSlack, tmp_path) -> None:
    config = tmp_path / "ops.yml"
    config.write_text(yaml.safe_dump({"oncall": rota_now()}))
    env = {"ZZIK_JOB_TICK_SECONDS": "0.5", "ZZIK_CONFIG": str(config)}
    fake_slack.latency = 0.3  # a slow Slack: the set-up is mid-way when the bot dies
    async with scratch_database(pg_dsn) as dsn:
        async with serve(dsn, fake_slack, tmp_path / "first.log", **env) as first:
            requests = SlackRequests(f"http://127.0.0.1:{first.port}", SIGNING_SECRET, fake_slack.response_url())
            reply = await requests.command("/incident", "p1 Database outage", user="U0CAROL")
            assert reply.status == 200
            # The crash comes mid-way through the set-up, as in the report: once Slack has made the channel.
            await eventually(lambda: fake_slack.created_channels())
            first.proc.kill()
            await first.proc.wait()
        db = await asyncpg.connect(dsn)
        try:
            row = await db.fetchrow("SELECT channel_id, announcement_ts, kickoff_ts, paged_at FROM incidents")
            assert row is not None and not (row["announcement_ts"] and row["kickoff_ts"])  # killed half-way
            assert fake_slack.calls_to("response_url") == []
            async with serve(dsn, fake_slack, tmp_path / "second.log", **env):
                loop = asyncio.get_running_loop()
                started = loop.time()

                async def set_up() -> bool:
                    row = await db.fetchrow(
                        """SELECT channel_id, announcement_ts, kickoff_ts, paged_at, reporter_answered_at
                           FROM incidents"""
                    )
                    undelivered = await db.fetchval("SELECT count(*) FROM incident_pages WHERE delivered_at IS NULL")
                    # The run is marked done after its last step: wait for that too, not only for the steps.
                    running = await db.fetchval(
                        """SELECT count(*) FROM job_runs
                           WHERE job = 'incidents.setup' AND status IN ('pending', 'running')"""
                    )
                    return all(row.values()) and undelivered == 0 and running == 0

                await eventually(set_up, within=30)
                assert loop.time() - started < 30
            answers = fake_slack.calls_to("response_url")
            assert len(answers) == 1 and answers[0]["text"].startswith("Declared *INC-1* (P1): <#C00000001>.")
            assert "Paged <@U0ALICE>, <@U0BOB>, <@U0MGR>." in answers[0]["text"]
            assert len([c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "#zzik-incidents"]) == 1
            assert len(fake_slack.created_channels()) == 1  # the channel the first process created is adopted
            pages = await db.fetch("SELECT user_id, delivered_at FROM incident_pages ORDER BY id")
            assert [p["user_id"] for p in pages] == ["U0ALICE", "U0BOB", "U0MGR"]
            runs = await db.fetch("SELECT status, attempts FROM job_runs WHERE job = 'incidents.setup'")
            assert [(r["status"], r["attempts"]) for r in runs] == [("done", 2)]
            assert json.loads(await db.fetchval("SELECT payload FROM job_runs WHERE job = 'incidents.setup'"))
        finally:
            await db.close()


PRE = ["tests", "security_scan", "benchmarks", "migrations", "rollback_plan", "changelog", "team_notified"]


async def test_kill_9_while_calling_the_pipeline_is_announced_and_markable(
    pg_dsn: str, fake_slack: FakeSlack, tmp_path
) -> None:
    pipeline = FakePipeline("test-webhook-secret-77")
    await pipeline.start()
    pipeline.delay = 5  # the bot dies while waiting for CI's answer
    config = tmp_path / "ops.yml"
    deploy = config_with(oncall=ROTA).deploy.model_dump(mode="json")
    deploy.update(webhook_url=pipeline.url, pipeline_answer_within="2s")
    config.write_text(yaml.safe_dump({"oncall": rota_now(), "deploy": deploy}))
    env = {
        "ZZIK_JOB_TICK_SECONDS": "0.5",
        "ZZIK_CONFIG": str(config),
        "ZZIK_WEBHOOK_SECRET": "test-webhook-secret-77",
        "ZZIK_PUBLIC_URL": "http://bot.invalid",
    }
    try:
        async with scratch_database(pg_dsn) as dsn:
            db = await asyncpg.connect(dsn)
            try:
                async with serve(dsn, fake_slack, tmp_path / "first.log", **env) as first:
                    slack = SlackRequests(f"http://127.0.0.1:{first.port}", SIGNING_SECRET, fake_slack.response_url())
                    assert (await slack.command("/deploy", "staging v2.0.0", user="U0BOB")).status == 200
                    await eventually(lambda: db.fetchval("SELECT message_ts FROM deploys WHERE id = 1"))
                    await slack.checkboxes("deploy_check:pre", "deploy:1:pre", PRE, user="U0BOB", channel="C1")
                    await eventually(lambda: db.fetchval("SELECT count(*) = 7 FROM deploy_checks"))
                    assert (await slack.action("deploy_start", "1", user="U0BOB")).status == 200
                    await eventually(lambda: pipeline.received)  # the call is out, unanswered
                    first.proc.kill()
                    await first.proc.wait()
                row = await db.fetchrow("SELECT status, pipeline_accepted_at FROM deploys WHERE id = 1")
                assert (row["status"], row["pipeline_accepted_at"]) == ("running", None)
                fake_slack.clear()
                async with serve(dsn, fake_slack, tmp_path / "second.log", **env) as second:
                    told = await eventually(
                        lambda: [t for t in fake_slack.texts() if "outcome unknown: check CI" in t], within=20
                    )
                    assert "staging stays locked until the pipeline reports back" in told[0]
                    updated = flatten(fake_slack.calls_to("chat.update")[-1])
                    assert "Outcome unknown: check CI" in updated and "Mark deployed" in updated
                    assert "Start deploy" not in updated
                    # A late callback from CI is accepted, and the lock goes with it.
                    status, body = await pipeline.report(f"http://127.0.0.1:{second.port}", 1, "succeeded")
                    assert (status, body["status"]) == (200, "succeeded")
                    active = await db.fetchval("SELECT count(*) FROM deploys WHERE status IN ('pending', 'running')")
                    assert active == 0
                    audit = await db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'outcome_unknown'")
                    assert audit == 1
            finally:
                await db.close()
    finally:
        await pipeline.stop()
