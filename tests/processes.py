"""Real `zzik-bot serve` processes for tests: each on a database of its own, torn down afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import aiohttp
import asyncpg

from bot.fakeslack import FakeSlack
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Served:
    proc: asyncio.subprocess.Process
    port: int
    log: Path


@contextlib.asynccontextmanager
async def scratch_database(pg_dsn: str) -> AsyncIterator[str]:
    """A new, empty database on the test server; its URL. Dropped afterwards, connections and all."""
    name = f"zzik_proc_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield urlparse(pg_dsn)._replace(path=f"/{name}").geturl()
    finally:
        admin = await asyncpg.connect(pg_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.asynccontextmanager
async def serve(dsn: str, fake: FakeSlack, log: Path, *args: str, **env: str) -> AsyncIterator[Served]:
    """`python -m bot serve ARGS` against the fake Slack, healthy before it is yielded, stopped after."""
    port = free_port()
    environment = {
        **os.environ,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.url,
        "DATABASE_URL": dsn,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_FORMAT": "json",
        **env,
    }
    proc = await start_bot(["serve", *args], environment, log)
    served = Served(proc, port, log)
    async with stopped_after(proc, log):
        await _healthy(served)
        yield served


async def start_bot(
    args: list[str], environment: dict[str, str], log: Path, *, stdout: bool = False
) -> asyncio.subprocess.Process:
    """`python -m bot ARGS` from the checkout, its stderr (and stdout if asked) written to `log`."""
    output = await asyncio.to_thread(log.open, "w")
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *args,
            env=environment,
            cwd=ROOT,
            stdout=output if stdout else asyncio.subprocess.DEVNULL,
            stderr=output,
        )
    finally:
        output.close()  # the process has its own copy of the descriptor


@contextlib.asynccontextmanager
async def stopped_after(proc: asyncio.subprocess.Process, log: Path, lines: int = 80) -> AsyncIterator[None]:
    """Stops `proc` when the block ends; if the block fails, the tail of `log` goes with the failure."""
    try:
        yield
    except BaseException:
        # The test failed while this process ran: its log's tail goes with the failure (pytest shows stdout).
        tail = (await asyncio.to_thread(log.read_text, errors="replace")).splitlines()[-lines:]
        print(f"--- the last lines of {log.name} ---", *tail, sep="\n")
        raise
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _healthy(served: Served, seconds: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            assert served.proc.returncode is None, f"serve exited with {served.proc.returncode}"
            try:
                async with session.get(f"http://127.0.0.1:{served.port}/healthz") as r:
                    # Healthy, and it is this process that answers: it says "serving" once it has bound the port
                    # (another suite's bot may have taken the port first, and this one then exits).
                    if r.status == 200 and "serving" in await asyncio.to_thread(served.log.read_text):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("serve did not become healthy")
