"""Liveness (GET /livez) checks the process, readiness (GET /healthz) the database too (issue 23, item 1).

A database outage must never make liveness fail: Kubernetes restarts a pod whose liveness probe fails, and
a restart mends no outage. The outage is real: a TCP proxy in front of PostgreSQL (tests/pgproxy.py), cut
while a real `zzik-bot serve` process runs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from bot.fakeslack import FakeSlack
from tests.conftest import eventually
from tests.pgproxy import PgProxy
from tests.processes import scratch_database, serve


async def get(port_or_url: int | str, path: str) -> tuple[int, dict[str, Any]]:
    base = f"http://127.0.0.1:{port_or_url}" if isinstance(port_or_url, int) else port_or_url
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session, session.get(base + path) as response:
        return response.status, await response.json()


async def test_a_database_outage_leaves_liveness_up_and_readiness_down(
    pg_dsn: str, fake_slack: FakeSlack, tmp_path
) -> None:
    loop = asyncio.get_running_loop()
    async with scratch_database(pg_dsn) as dsn:
        proxy = PgProxy(dsn)
        await proxy.start()
        try:
            async with serve(proxy.dsn, fake_slack, tmp_path / "serve.log", ZZIK_JOB_TICK_SECONDS="0.2") as bot:
                status, body = await get(bot.port, "/livez")
                assert status == 200 and body["status"] == "ok" and body["job_runner"]["running"] is True

                not_alive: list[dict[str, Any]] = []  # every /livez answer that was not 200

                async def passed_since(moment: float) -> bool:
                    """A pass of the job runner has finished after `moment` (loop time), as /livez reports it."""
                    status, body = await get(bot.port, "/livez")
                    if status != 200:
                        not_alive.append(body)
                    ago = body["job_runner"]["last_pass_finished_seconds_ago"]
                    return ago is not None and ago < loop.time() - moment

                for outage in (proxy.cut, proxy.lose_packets):  # refused, then silently lost
                    outage()
                    cut_at = loop.time()
                    status, health = await get(bot.port, "/healthz")
                    assert status == 503 and health["database"] == "unreachable"
                    # Ticks go on during the outage (skipped at once, or given up at the pool's timeout) and
                    # liveness stays 200 all along; readiness stays 503.
                    await eventually(lambda moment=cut_at: passed_since(moment), within=90)  # type: ignore[misc]
                    assert (await get(bot.port, "/healthz"))[0] == 503
                    assert (await get(bot.port, "/livez"))[0] == 200 and not_alive == []
                    proxy.restore()
                    await eventually(lambda: _status(bot.port, "/healthz", 200), within=60)
                assert bot.proc.returncode is None
        finally:
            await proxy.stop()


async def _status(port: int, path: str, expected: int) -> bool:
    return (await get(port, path))[0] == expected


async def test_liveness_fails_when_the_job_runner_stops(make_bot) -> None:
    bot = await make_bot()
    status, body = await get(bot.url, "/livez")  # built but not ticking: not alive
    assert status == 503 and body["problems"] == ["the job runner is not running"]
    bot.services.jobs.start(0.2)
    status, body = await get(bot.url, "/livez")
    assert status == 200 and body["job_runner"]["running"] is True
    await bot.services.jobs.stop()
    status, body = await get(bot.url, "/livez")
    assert status == 503 and body["problems"] == ["the job runner is not running"]
    assert (await get(bot.url, "/healthz"))[0] == 200  # the database is fine: readiness is not liveness


async def _failing(url: str, problem: str) -> dict[str, Any] | None:
    status, body = await get(url, "/livez")
    return body if status == 503 and any(p.startswith(problem) for p in body["problems"]) else None


async def test_liveness_fails_when_a_pass_runs_longer_than_its_limit(make_bot, proxy: PgProxy) -> None:
    """A pass of the job runner that does not end is reported once it is older than the limit. The real limit
    (600 s) is far beyond what an outage can hold a pass for (the pool gives up after 5 s, a query after 30 s);
    here it is 0.5 s, so a pass held by a black-holed database is such a pass."""
    bot = await make_bot(dsn=proxy.dsn)
    bot.services.liveness.stale_after = 0.5
    bot.services.jobs.start(0.2)
    await eventually(lambda: _status(int(bot.url.rsplit(":", 1)[1]), "/livez", 200))
    proxy.lose_packets()
    await eventually(lambda: _failing(bot.url, "a job pass has been running for"), within=30)
    proxy.cut()  # the held connections end at once, so the pool closes without waiting on them
