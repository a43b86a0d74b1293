"""The foundation through its real HTTP surface: signatures, fallbacks, health, metrics, de-dup, outages."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from bot import migrate
from bot.db import Database
from bot.errors import DatabaseUnavailable, UsageError
from bot.fakeslack import FakeSlack
from bot.slack import middleware
from tests.conftest import RunningBot, eventually
from tests.pgproxy import PgProxy


async def audit_rows(bot: RunningBot, action: str | None = None) -> list[dict]:
    rows = await bot.db.fetch("SELECT * FROM audit_log ORDER BY id")
    return [dict(r) for r in rows if action is None or r["action"] == action]


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_bad_signature_and_stale_timestamp_are_rejected(bot: RunningBot) -> None:
    bad = await bot.slack.command("/slo", signature="v0=" + "0" * 64)
    assert bad.status == 401
    stale = await bot.slack.command("/slo", timestamp=int(time.time()) - 60 * 10)
    assert stale.status == 401
    assert await audit_rows(bot) == []


async def test_command_without_handler_gets_a_clear_answer(bot: RunningBot) -> None:
    reply = await bot.slack.command("/frobnicate", "now")
    assert reply.status == 200
    assert reply.json["response_type"] == "ephemeral"
    assert reply.json["text"].startswith("`/frobnicate` is not a command of this bot. Its commands: `/incident`, ")
    rows = await eventually(lambda: audit_rows(bot, "/frobnicate"))
    assert rows[0]["actor"] == "U0ALICE" and rows[0]["outcome"] == "not_available"


async def test_slo_tables(bot: RunningBot) -> None:
    reply = await bot.slack.command("/slo")
    text = "\n".join(b["text"]["text"] for b in reply.json["blocks"] if b["type"] == "section")
    assert "*Data Quality Metrics*\n• Ingest Success Rate: *&gt;= 97%* _(Successfully processed events" in text
    assert "• Nearby Search: *p95 &lt;= 100ms · p99 &lt;= 200ms*" in text
    assert "• Database: *99.99%* _(Monthly uptime)_" in text
    assert "Not measured: no Prometheus is configured" in reply.json["blocks"][-1]["elements"][0]["text"]
    bad = await bot.slack.command("/slo", "breaches")
    assert bad.json["text"].startswith("`breaches` is not a /slo command")


async def test_unknown_button_is_acknowledged_and_explained(bot: RunningBot, fake_slack: FakeSlack) -> None:
    reply = await bot.slack.action("no_such_button")
    assert reply.status == 200
    await eventually(lambda: fake_slack.calls_to("response_url"))
    assert "not handled" in fake_slack.calls_to("response_url")[0]["text"]


async def test_healthz_and_metrics(bot: RunningBot) -> None:
    status, body = await get(bot.url + "/healthz")
    assert status == 200 and '"database": "up"' in body
    await bot.slack.command("/slo")
    await eventually(lambda: audit_rows(bot, "/slo"))
    status, text = await get(bot.url + "/metrics")
    assert status == 200
    assert 'zzik_requests_total{kind="command",name="/slo",outcome="ok"} 1.0' in text
    assert 'zzik_request_seconds_count{kind="command",name="/slo"} 1.0' in text
    assert "zzik_database_up 1.0" in text


async def test_the_same_delivery_is_handled_once(bot: RunningBot) -> None:
    # A command that may change something is claimed (one that only reads needs no claim).
    first = await bot.slack.command("/maintenance", "post hourly", trigger_id="trig.same")
    again = await bot.slack.command("/maintenance", "post hourly", trigger_id="trig.same")
    assert "say which checklist" in first.json["text"].lower()
    assert again.status == 200 and again.text == ""
    outcomes = [r["outcome"] for r in await eventually(lambda: _two_rows(bot, "/maintenance"))]
    assert sorted(outcomes) == ["duplicate", "usage_error"]


async def test_slack_event_retries_are_handled_once(bot: RunningBot, fake_slack: FakeSlack) -> None:
    event = {"type": "app_mention", "user": "U0ALICE", "text": "hi", "channel": "C1", "ts": "1.2"}
    assert (await bot.slack.event(event, event_id="Ev001")).status == 200
    assert (await bot.slack.event(event, event_id="Ev001", retry_num=1)).status == 200
    keys = await bot.db.fetch("SELECT key FROM idempotency_keys")
    assert [k["key"] for k in keys] == ["event:Ev001"]
    rows = await eventually(lambda: _two_rows(bot, "app_mention"))
    assert sorted(r["outcome"] for r in rows) == ["duplicate", "ok"]
    posts = fake_slack.calls_to("chat.postMessage")
    assert len(posts) == 1 and posts[0]["thread_ts"] == "1.2" and "/incident" in posts[0]["text"]


async def test_usage_errors_become_one_ephemeral_answer_with_usage(bot: RunningBot, fake_slack: FakeSlack) -> None:
    # A listener registered through the same wrapper every domain uses.
    @middleware.command(bot.app.bolt, bot.services, "/oncall-test")
    async def strict(ctx: middleware.Ctx) -> None:
        if ctx.text == "later":
            await ctx.ack()
            raise UsageError("that came too late")
        raise UsageError("severity must be p1–p4")

    bot.app.bolt._async_listeners.insert(0, bot.app.bolt._async_listeners.pop())  # before the catch-all
    reply = await bot.slack.command("/oncall-test", "p9")
    assert reply.json["response_type"] == "ephemeral"
    assert reply.json["text"].startswith("severity must be p1–p4")
    late = await bot.slack.command("/oncall-test", "later")
    assert late.status == 200
    await eventually(lambda: fake_slack.calls_to("response_url"))
    assert fake_slack.calls_to("response_url")[0]["text"] == "that came too late"
    assert fake_slack.calls_to("response_url")[0]["response_type"] == "ephemeral"
    outcomes = [r["outcome"] for r in await eventually(lambda: _two_rows(bot, "/oncall-test"))]
    assert outcomes == ["usage_error", "usage_error"]


async def test_migrations_are_idempotent_and_guarded(bot: RunningBot, tmp_path) -> None:
    assert await migrate.migrate(bot.db) == []
    versions = await bot.db.fetch("SELECT version FROM schema_migrations")
    assert [v["version"] for v in versions] == [m.version for m in migrate.discover()]
    # Two replicas migrating at once: the advisory lock makes one wait, neither fails.
    assert await asyncio.gather(migrate.migrate(bot.db), migrate.migrate(bot.db)) == [[], []]
    changed = tmp_path / "m"
    changed.mkdir()
    for m in migrate.discover():
        (changed / f"{m.version}_{m.name}.sql").write_text(m.sql + "\n-- edited\n")
    with pytest.raises(migrate.MigrationError, match="changed after it was applied"):
        await migrate.migrate(bot.db, changed)


async def test_database_unreachable_at_start_gives_up_with_one_clear_error() -> None:
    db = Database("postgresql://postgres@127.0.0.1:1/none")
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="database unreachable after"):
        await db.open(wait_seconds=1.0)
    assert time.monotonic() - started < 5


async def test_database_outage_degrades_then_recovers_without_restart(make_bot, proxy: PgProxy) -> None:
    bot = await make_bot(dsn=proxy.dsn)
    assert (await get(bot.url + "/healthz"))[0] == 200

    proxy.cut()
    status, body = await get(bot.url + "/healthz")
    assert status == 503 and '"database": "unreachable"' in body
    reply = await bot.slack.command("/incident", "list")
    assert reply.status == 200
    assert reply.json["text"].startswith("The database is unavailable right now")
    changed = await bot.slack.command("/maintenance", "post daily")
    assert changed.json["text"].startswith("The database is unavailable right now")  # the claim failed: nothing done
    config_only = await bot.slack.command("/slo")  # needs no database: still answered
    assert config_only.json["text"] == "Service level objectives"
    assert await bot.tick() == 0  # jobs skip the tick instead of crashing

    proxy.restore()
    await eventually(lambda: _healthy(bot), within=10)
    reply = await bot.slack.command("/slo")
    assert reply.json["text"] == "Service level objectives"


async def _two_rows(bot: RunningBot, action: str) -> list[dict]:
    rows = await audit_rows(bot, action)
    return rows if len(rows) == 2 else []


async def _healthy(bot: RunningBot) -> bool:
    return (await get(bot.url + "/healthz"))[0] == 200
