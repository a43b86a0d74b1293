"""Two real `zzik-bot serve` processes on one database: each due job runs once, and both shut down cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

import aiohttp
import asyncpg

from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.fakeslack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def healthy(port: int, proc: asyncio.subprocess.Process, seconds: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            assert proc.returncode is None, f"serve exited with {proc.returncode}"
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("serve did not become healthy")


async def test_two_serve_processes_run_each_due_job_once(pg_dsn: str, fake_slack: FakeSlack, tmp_path) -> None:
    name = f"zzik_replicas_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = urlparse(pg_dsn)._replace(path=f"/{name}").geturl()
    procs, ports = [], []
    try:
        for n in range(2):
            port = free_port()
            env = {
                **os.environ,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": fake_slack.url,
                "DATABASE_URL": dsn,
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "ZZIK_JOB_TICK_SECONDS": "0.2",
                "LOG_FORMAT": "json",
            }
            log = tmp_path / f"serve{n}.log"
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot",
                    "serve",
                    env=env,
                    cwd=ROOT,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=await asyncio.to_thread(log.open, "w"),
                )
            )
            ports.append(port)
        await asyncio.gather(*(healthy(p, proc) for p, proc in zip(ports, procs, strict=True)))

        db = await asyncpg.connect(dsn)
        await db.executemany(
            """INSERT INTO job_runs (job, run_key, due_at) VALUES ('housekeeping.prune_idempotency_keys', $1,
               now() - interval '1 second')""",
            [(f"due-{i}",) for i in range(40)],
        )
        for _ in range(150):
            done = await db.fetchval("SELECT count(*) FROM job_runs WHERE run_key LIKE 'due-%' AND status = 'done'")
            if done == 40:
                break
            await asyncio.sleep(0.1)
        rows = await db.fetch("SELECT status, attempts, claimed_by FROM job_runs WHERE run_key LIKE 'due-%'")
        await db.close()
        assert len(rows) == 40
        assert {(r["status"], r["attempts"]) for r in rows} == {("done", 1)}  # each ran, and ran once
        assert len({r["claimed_by"] for r in rows}) in (1, 2)

        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        assert [await asyncio.wait_for(proc.wait(), 30) for proc in procs] == [0, 0]
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        admin = await asyncpg.connect(pg_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    logs = "".join((tmp_path / f"serve{n}.log").read_text() for n in range(2))
    assert BOT_TOKEN not in logs and SIGNING_SECRET not in logs
    assert logs.count('"event": "serving"') == 2
