"""Ack latency of the bot's /slack/events against a bare Bolt app that only acks (the floor).

Starts a fake Slack Web API, the bot (`python -m bot serve`, its own process) and the floor app (its own
process), sends N correctly signed slash commands at concurrency C to each over loopback, and prints
p50/p95/p99 for both and the ratio. Database: DATABASE_URL if set, else the embedded PostgreSQL.

    python bench/ack_latency.py [-n 2000] [-c 20] [--command /incident] [--text list]

The default, `/incident list`, acks at once and then reads Postgres and answers through response_url (the
fake Slack's); `--command /oncall --text help` answers inside the ack itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakeslack import FakeSlack  # noqa: E402

SECRET = "bench-signing-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"{url}: process exited with {proc.returncode}")
            try:
                async with session.get(url + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"{url} did not become healthy")


async def load(url: str, n: int, c: int, command: str, text: str, tag: str, response_url: str) -> list[float]:
    verifier = SignatureVerifier(SECRET)
    latencies: list[float] = []
    counter = iter(range(n))
    errors = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for i in counter:
            body = urlencode(
                {
                    "command": command,
                    "text": text,
                    "user_id": "U0BENCH",
                    "channel_id": "C0BENCH",
                    "team_id": "T0BENCH",
                    "trigger_id": f"{tag}.{i}.{time.time_ns()}",
                    "response_url": response_url,
                }
            )
            ts = str(int(time.time()))
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body),
            }
            started = time.perf_counter()
            async with session.post(url + "/slack/events", data=body, headers=headers) as r:
                await r.read()
                if r.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - started)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c)) as session:
        await asyncio.gather(*(worker(session) for _ in range(c)))
    if errors:
        print(f"  {tag}: {errors} non-200 answers")
    return latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("-c", type=int, default=20)
    parser.add_argument("--command", default="/incident")
    parser.add_argument("--text", default="list")
    args = parser.parse_args()

    fake = FakeSlack()
    await fake.start()
    data_dir = tempfile.mkdtemp(prefix="zzik-bench-")
    os.chmod(data_dir, 0o755)  # as root, the embedded PostgreSQL's own account must be able to enter it
    bot_port, floor_port = free_port(), free_port()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-bench-token",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.url,
        "PORT": str(bot_port),
        "HOST": "127.0.0.1",
        "ZZIK_DATA_DIR": data_dir,
        "LOG_FORMAT": "json",
        "ZZIK_JOB_TICK_SECONDS": "60",
    }
    log = open(Path(data_dir) / "bot.log", "w")
    bot = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, stdout=log, stderr=log, cwd=ROOT)
    floor = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "floor_app.py"), str(floor_port), SECRET, fake.url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        bot_url, floor_url = f"http://127.0.0.1:{bot_port}", f"http://127.0.0.1:{floor_port}"
        await asyncio.gather(wait_healthy(bot_url, bot), wait_healthy(floor_url, floor))
        # Warm both (connections, auth.test, prepared statements), then measure.
        respond_to = fake.response_url("bench")
        await load(floor_url, 100, args.c, args.command, args.text, "warm-floor", respond_to)
        await load(bot_url, 100, args.c, args.command, args.text, "warm-bot", respond_to)
        results = {}
        for name, url in (("floor (bare Bolt ack)", floor_url), ("zzik-bot", bot_url)):
            started = time.perf_counter()
            lat = await load(url, args.n, args.c, args.command, args.text, name.split()[0], respond_to)
            results[name] = (lat, args.n / (time.perf_counter() - started))
        print(
            f"{args.n} signed `{args.command} {args.text}` commands, concurrency {args.c}, "
            f"{os.cpu_count()} CPUs, database: {'DATABASE_URL' if os.environ.get('DATABASE_URL') else 'embedded'}"
        )
        print(f"{'target':<24}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'mean ms':>9}{'req/s':>9}")
        for name, (lat, rate) in results.items():
            print(
                f"{name:<24}{pct(lat, 50):>9.2f}{pct(lat, 95):>9.2f}{pct(lat, 99):>9.2f}"
                f"{statistics.mean(lat) * 1000:>9.2f}{rate:>9.0f}"
            )
        (floor_lat, _), (bot_lat, _) = results.values()
        print("ratio bot/floor: " + "  ".join(f"p{p} {pct(bot_lat, p) / pct(floor_lat, p):.2f}x" for p in (50, 95, 99)))
    finally:
        for proc in (bot, floor):
            proc.terminate()
            proc.wait(timeout=30)
        await fake.stop()
        log.close()


if __name__ == "__main__":
    asyncio.run(main())
