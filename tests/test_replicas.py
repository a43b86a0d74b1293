"""Two real `zzik-bot serve` processes on one database: each due job runs once, and both shut down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import asyncpg

from bot.fakeslack import FakeSlack
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, eventually
from tests.processes import scratch_database, serve


async def test_two_serve_processes_run_each_due_job_once(pg_dsn: str, fake_slack: FakeSlack, tmp_path) -> None:
    async with scratch_database(pg_dsn) as dsn, contextlib.AsyncExitStack() as stack:
        replicas = [
            await stack.enter_async_context(
                serve(dsn, fake_slack, tmp_path / f"serve{n}.log", ZZIK_JOB_TICK_SECONDS="0.2")
            )
            for n in range(2)
        ]
        db = await asyncpg.connect(dsn)
        await db.executemany(
            """INSERT INTO job_runs (job, run_key, due_at) VALUES ('housekeeping.prune_idempotency_keys', $1,
               now() - interval '1 second')""",
            [(f"due-{i}",) for i in range(40)],
        )

        async def all_done() -> bool:
            done = await db.fetchval("SELECT count(*) FROM job_runs WHERE run_key LIKE 'due-%' AND status = 'done'")
            return done == 40

        with contextlib.suppress(AssertionError):  # the assertions below say what was not done
            await eventually(all_done, within=15)
        rows = await db.fetch("SELECT status, attempts, claimed_by FROM job_runs WHERE run_key LIKE 'due-%'")
        await db.close()
        assert len(rows) == 40
        assert {(r["status"], r["attempts"]) for r in rows} == {("done", 1)}  # each ran, and ran once
        assert len({r["claimed_by"] for r in rows}) in (1, 2)

        for replica in replicas:
            replica.proc.send_signal(signal.SIGTERM)
        assert [await asyncio.wait_for(r.proc.wait(), 30) for r in replicas] == [0, 0]
    logs = "".join(r.log.read_text() for r in replicas)
    assert BOT_TOKEN not in logs and SIGNING_SECRET not in logs
    assert logs.count('"event": "serving"') == 2
