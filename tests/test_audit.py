"""The audit writer against a real outage (tests/pgproxy.py between it and PostgreSQL): a batch the database
cannot take now is written once it is back; what waits is bounded, and what is dropped past the bound, or left
when close() runs out of time, is counted in zzik_audit_rows_lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bot import audit
from bot.db import Database
from bot.metrics import Metrics
from tests.conftest import BotFactory, eventually
from tests.pgproxy import PgProxy


@pytest.fixture
async def through_proxy(proxy: PgProxy, schema: str) -> AsyncIterator[Database]:
    db = Database(proxy.dsn, schema=schema, min_size=1, max_size=2)
    await db.open()
    yield db
    await db.close()


@pytest.fixture
async def direct(pg_dsn: str, schema: str) -> AsyncIterator[Database]:
    db = Database(pg_dsn, schema=schema, min_size=1, max_size=1)
    await db.open()
    yield db
    await db.close()


def lost(metrics: Metrics, reason: str) -> float:
    return metrics.registry.get_sample_value("zzik_audit_rows_lost_total", {"reason": reason}) or 0.0


async def actions(db: Database) -> list[str]:
    return [r["action"] for r in await db.fetch("SELECT action FROM audit_log ORDER BY at, id")]


async def test_a_batch_the_database_could_not_take_is_written_when_it_is_back(
    proxy: PgProxy, through_proxy: Database, direct: Database
) -> None:
    metrics = Metrics()
    writer = audit.Writer(through_proxy, metrics)
    writer.add(kind="command", action="before", outcome="ok", actor="U0ALICE")
    assert await eventually(lambda: actions(direct)) == ["before"]

    proxy.cut()
    for n in range(3):
        writer.add(kind="command", action=f"during-{n}", outcome="ok", actor="U0ALICE")
    await eventually(lambda: writer.failed_tries >= 2)  # tried, failed, and tried again: not dropped
    assert await actions(direct) == ["before"]

    proxy.restore()
    await eventually(lambda: _count(direct, 4), within=30)
    assert await actions(direct) == ["before", "during-0", "during-1", "during-2"]
    assert writer.queued == 0
    assert lost(metrics, "overflow") == lost(metrics, "shutdown") == lost(metrics, "refused") == 0
    await writer.close()


async def _count(db: Database, n: int) -> bool:
    return await db.fetchval("SELECT count(*) FROM audit_log") == n


async def test_past_the_bound_the_oldest_rows_are_dropped_and_counted(
    proxy: PgProxy, through_proxy: Database, direct: Database
) -> None:
    metrics = Metrics()
    writer = audit.Writer(through_proxy, metrics)
    writer.LIMIT = 5
    proxy.cut()
    for n in range(8):
        writer.add(kind="action", action=f"row-{n}", outcome="ok")
    assert lost(metrics, "overflow") == 3
    await eventually(lambda: writer.failed_tries >= 1)
    writer.add(kind="action", action="row-8", outcome="ok")  # the batch in hand (5 rows) is kept; one more waits
    assert lost(metrics, "overflow") == 3 and writer.queued == 6

    proxy.restore()
    await eventually(lambda: _count(direct, 6), within=30)
    assert await actions(direct) == [f"row-{n}" for n in range(3, 9)]
    await writer.close()
    assert lost(metrics, "overflow") == 3 and lost(metrics, "shutdown") == 0


async def test_close_gives_up_within_its_bound_and_counts_what_it_could_not_write(
    proxy: PgProxy, through_proxy: Database, direct: Database
) -> None:
    metrics = Metrics()
    writer = audit.Writer(through_proxy, metrics)
    proxy.cut()
    writer.add(kind="command", action="unwritten", outcome="ok")
    writer.add(kind="command", action="unwritten", outcome="ok")
    started = time.monotonic()
    await writer.close(within=1.0)
    assert time.monotonic() - started < 10  # bounded (the pool's own connect timeout is 5 s)
    assert lost(metrics, "shutdown") == 2 and writer.queued == 0
    proxy.restore()
    await asyncio.sleep(0)
    assert await actions(direct) == []


async def test_close_writes_what_is_left_when_the_database_is_up(direct: Database) -> None:
    metrics = Metrics()
    writer = audit.Writer(direct, metrics)
    for n in range(1200):  # more than one statement's worth
        writer.add(kind="command", action=f"r{n}", outcome="ok")
    await writer.close()
    assert await direct.fetchval("SELECT count(*) FROM audit_log") == 1200
    assert lost(metrics, "shutdown") == 0


async def test_a_row_postgresql_refuses_costs_only_itself(direct: Database) -> None:
    metrics = Metrics()
    writer = audit.Writer(direct, metrics)
    writer.add(kind="command", action="fine", outcome="ok")
    writer.add(kind="command", action="bad", outcome="ok", request_id="x" * 10)
    writer._rows[-1] = (*writer._rows[-1][:-1], 12345)  # not text: PostgreSQL (asyncpg) refuses this row alone
    writer.add(kind="command", action="fine too", outcome="ok")
    await writer.close()
    assert sorted(await actions(direct)) == ["fine", "fine too"]
    assert lost(metrics, "refused") == 1


async def test_a_request_refused_because_the_database_is_away_is_audited_once_it_is_back(
    make_bot: BotFactory, proxy: PgProxy
) -> None:
    bot = await make_bot(dsn=proxy.dsn)
    proxy.cut()
    reply = await bot.slack.command("/maintenance", "post daily", user="U0BOB")
    assert reply.json["text"].startswith("The database is unavailable right now")  # the delivery claim failed
    proxy.restore()
    rows = await eventually(
        lambda: bot.db.fetch("SELECT action, outcome, actor FROM audit_log WHERE outcome = 'unavailable'"), within=30
    )
    assert [dict(r) for r in rows] == [{"action": "/maintenance", "outcome": "unavailable", "actor": "U0BOB"}]
