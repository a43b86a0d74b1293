"""Alert webhooks: how many alerts per second `POST /hooks/alertmanager` accepts, and what a storm posts.

Starts a fake Slack Web API that rate-limits chat.postMessage/chat.update to one call per second per channel
(429 with Retry-After, as Slack does), and the bot (`python -m bot serve`, its own process) on a scratch
database. Then:

1. accept: N Alertmanager (version 4) deliveries of B alerts each at concurrency C; prints alerts/s answered
   2xx and checks every one of them is stored (zero lost);
2. storm: on a fresh database, 500 alerts of one group in deliveries of 10; waits until every alert is
   processed and every message is sent, then prints the Slack calls made (posts, edits, 429s) and checks
   that none was lost and no message was posted twice.

    python bench/alerts.py [-n 5000] [-b 1] [-c 50] [--storm 500]

Database: DATABASE_URL (a server the bench may create databases on), default postgresql://postgres@127.0.0.1/postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
import asyncpg
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.fakeslack import FakeSlack  # noqa: E402

SECRET = "bench-webhook-secret"
SIGNING = "bench-signing-secret"
LIMITED = ("chat.postMessage", "chat.update")


class RateLimitedSlack(FakeSlack):
    """The fake Slack, with Slack's one message per second per channel enforced (429 + Retry-After)."""

    def __init__(self, per_channel: float = 1.0) -> None:
        super().__init__()
        self.per_channel = per_channel
        self.last: dict[str, float] = {}
        self.limited = 0

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method in LIMITED:
            args = await self._read(request)
            channel = str(args.get("channel"))
            now = time.monotonic()
            if now - self.last.get(channel, -1e9) < self.per_channel:
                self.limited += 1
                return web.json_response(
                    {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
                )
            self.last[channel] = now
        return await super()._api(request)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def scratch_database(admin_dsn: str):
    name = f"zzik_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        yield urlparse(admin_dsn)._replace(path=f"/{name}").geturl()
    finally:
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.asynccontextmanager
async def bot(dsn: str, slack_url: str, log: Path):
    port = free_port()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-bench-token",
        "SLACK_SIGNING_SECRET": SIGNING,
        "SLACK_API_URL": slack_url,
        "DATABASE_URL": dsn,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_FORMAT": "json",
        "ZZIK_WEBHOOK_SECRET": SECRET,
        "ZZIK_JOB_TICK_SECONDS": "0.5",
    }
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, cwd=ROOT, stderr=err)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as s:
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"bot exited with {proc.returncode}: see {log}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with s.get(url + "/healthz") as r:
                        if r.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise SystemExit("bot did not become healthy")
                await asyncio.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def delivery(alerts: list[dict[str, Any]], group: str) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{group}"}}',
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "zzik",
            "groupLabels": {"alertname": group},
            "commonLabels": {"alertname": group},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.invalid:9093",
            "alerts": alerts,
        }
    ).encode()


def one_alert(group: str, i: int, starts: datetime) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": group, "instance": f"host-{i}", "severity": "warning"},
        "annotations": {"summary": f"{group} on host-{i}"},
        "startsAt": starts.isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": f"{uuid.uuid5(uuid.NAMESPACE_OID, f'{group}-{i}').hex[:16]}",
    }


async def send_all(url: str, bodies: list[bytes], concurrency: int) -> tuple[int, int, float]:
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    ok = failed = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal ok, failed
        while not queue.empty():
            body = queue.get_nowait()
            async with session.post(url + "/hooks/alertmanager", data=body, headers=headers) as r:
                await r.read()
                if 200 <= r.status < 300:
                    ok += 1
                else:
                    failed += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return ok, failed, elapsed


async def accept(admin_dsn: str, n: int, batch: int, concurrency: int, tmp: Path) -> None:
    slack = RateLimitedSlack()
    await slack.start()
    starts = datetime.now(UTC) - timedelta(minutes=1)
    bodies = [
        delivery([one_alert(f"Bench{d % 20}", d * batch + i, starts) for i in range(batch)], f"Bench{d % 20}")
        for d in range(n)
    ]
    try:
        async with scratch_database(admin_dsn) as dsn, bot(dsn, slack.url, tmp / "accept.log") as url:
            await send_all(url, bodies[:50], 10)  # warm up the connection pools
            ok, failed, elapsed = await send_all(url, bodies[50:], concurrency)
            db = await asyncpg.connect(dsn)
            stored = await db.fetchval("SELECT coalesce(sum(alert_count), 0) FROM alert_deliveries")
            await db.close()
        sent = (n - 50) * batch
        print(
            f"accept: {n - 50} deliveries x {batch} alert(s), concurrency {concurrency}: "
            f"{ok} answered 2xx, {failed} not, in {elapsed:.2f} s -> {sent / elapsed:,.0f} alerts/s "
            f"({(n - 50) / elapsed:,.0f} deliveries/s); stored {stored - 50 * batch} of {sent} "
            f"({'zero lost' if stored == n * batch and failed == 0 else 'LOST SOME'})"
        )
    finally:
        await slack.stop()


async def storm(admin_dsn: str, size: int, tmp: Path) -> None:
    slack = RateLimitedSlack()
    await slack.start()
    starts = datetime.now(UTC) - timedelta(minutes=1)
    alerts = [one_alert("PodCrashLooping", i, starts) for i in range(size)]
    bodies = [delivery(alerts[i : i + 10], "PodCrashLooping") for i in range(0, size, 10)]
    try:
        async with scratch_database(admin_dsn) as dsn, bot(dsn, slack.url, tmp / "storm.log") as url:
            started = time.perf_counter()
            ok, failed, _ = await send_all(url, bodies, 10)
            db = await asyncpg.connect(dsn)
            while True:
                left = await db.fetchval(
                    """SELECT (SELECT count(*) FROM alert_deliveries WHERE processed_at IS NULL)
                            + (SELECT count(*) FROM alerts WHERE version > sent_version AND digest_id IS NULL)
                            + (SELECT count(*) FROM alert_digests WHERE version > sent_version)"""
                )
                if left == 0:
                    break
                if time.perf_counter() - started > 300:
                    raise SystemExit("storm not settled within 5 minutes")
                await asyncio.sleep(0.2)
            settled = time.perf_counter() - started
            stored = await db.fetchval("SELECT count(*) FROM alerts")
            in_digest = await db.fetchval("SELECT count(*) FROM alerts WHERE digest_id IS NOT NULL")
            own = await db.fetchval("SELECT count(*) FROM alerts WHERE message_ts IS NOT NULL")
            await db.close()
        # 429s are answered before the call is recorded: `calls` holds what Slack accepted.
        calls = [c for c in slack.calls if c.method in LIMITED]
        posts = [c for c in calls if c.method == "chat.postMessage"]
        edits = [c for c in calls if c.method == "chat.update"]
        digests = [c for c in posts if "Alert storm" in str(c.args.get("text"))]
        final = (edits or posts)[-1].args.get("text") if calls else None
        print(
            f"storm: {size} alerts in {len(bodies)} deliveries ({ok} 2xx, {failed} not); settled in {settled:.1f} s; "
            f"#zzik-alerts got {len(posts)} message(s) posted and {len(edits)} edit(s), {slack.limited} call(s) "
            f"answered 429 and retried; {stored} alerts stored, {in_digest} in the digest, {own} with a message "
            f"of their own; the digest now says {final!r}"
        )
        lost = stored != size or in_digest + own != size or str(size) not in str(final)
        twice = len(digests) > 1
        print("storm: " + ("LOST SOME" if lost else "zero lost") + ", " + ("POSTED TWICE" if twice else "none twice"))
    finally:
        await slack.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5000, help="deliveries in the accept phase")
    parser.add_argument("-b", type=int, default=1, help="alerts per delivery in the accept phase")
    parser.add_argument("-c", type=int, default=50, help="concurrency of the accept phase")
    parser.add_argument("--storm", type=int, default=500)
    args = parser.parse_args()
    admin = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with tempfile.TemporaryDirectory() as tmp:
        await accept(admin, args.n, args.b, args.c, Path(tmp))
        await storm(admin, args.storm, Path(tmp))


if __name__ == "__main__":
    asyncio.run(main())
