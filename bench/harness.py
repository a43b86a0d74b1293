"""What the benchmarks share: a fake Slack that timestamps answers, the bot and the bare Bolt app as processes,
signed slash commands, percentiles, and a note on the machine (CPUs, load) the figures were taken on."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakeslack import FakeSlack  # noqa: E402

SECRET = "bench-signing-secret"
USER = "U0BENCH"


class TimedSlack(FakeSlack):
    """The fake Slack, noting when each response_url answer arrives and, optionally, answering each Web API call
    only after `api_delay` seconds (Slack's own latency), with each call's start and end."""

    def __init__(self, api_delay: float = 0.0) -> None:
        super().__init__()
        self.api_delay = api_delay
        self.answered: dict[str, float] = {}
        self.spans: list[tuple[str, float, float, dict[str, Any]]] = []  # (method, start, end, args)

    async def _response_url(self, request: web.Request) -> web.Response:
        self.answered[request.match_info["name"]] = time.perf_counter()
        return web.json_response({"ok": True})  # no bookkeeping: a benchmark sends hundreds of thousands

    async def _api(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        if self.api_delay:
            await asyncio.sleep(self.api_delay)
        response = await super()._api(request)
        self.spans.append((request.match_info["method"], started, time.perf_counter(), self.calls[-1].args))
        if len(self.calls) > 10_000:
            del self.calls[:5_000]
        return response


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"


def pct(values: list[float], p: float) -> float:
    """The p-th percentile in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def wait_healthy(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
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


@dataclass
class Processes:
    fake: TimedSlack
    bot_url: str
    floor_url: str | None
    procs: list[subprocess.Popen] = field(default_factory=list)
    data_dir: str = ""
    strict_floor_url: str | None = None  # bare Bolt with process_before_response: no 10 ms ack poll

    @property
    def bot_pid(self) -> int:
        return self.procs[0].pid

    async def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        await self.fake.stop()


async def start(*, floor: bool = True, api_delay: float = 0.0, env: dict[str, str] | None = None) -> Processes:
    """The fake Slack in this process; the bot (`python -m bot serve`) and the bare Bolt app as processes.

    Database: DATABASE_URL if set (use a database of its own: the bot migrates it), else the embedded PostgreSQL.
    """
    fake = TimedSlack(api_delay)
    await fake.start()
    fake.add_user(USER, "bench", tz="Asia/Seoul")
    data_dir = tempfile.mkdtemp(prefix="zzik-bench-")
    os.chmod(data_dir, 0o755)  # as root, the embedded PostgreSQL's own account must be able to enter it
    bot_port = free_port()
    bot_env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-bench-token",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.url,
        "PORT": str(bot_port),
        "HOST": "127.0.0.1",
        "ZZIK_DATA_DIR": data_dir,
        "LOG_FORMAT": "json",
        "ZZIK_JOB_TICK_SECONDS": "60",
        **(env or {}),
    }
    log = open(Path(data_dir) / "bot.log", "w")
    procs = [subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=bot_env, stdout=log, stderr=log, cwd=ROOT)]
    floor_urls: list[str | None] = [None, None]
    if floor:
        for i, extra in enumerate([[], ["--no-poll"]]):
            floor_port = free_port()
            procs.append(
                subprocess.Popen(
                    [sys.executable, str(ROOT / "bench" / "floor_app.py"), str(floor_port), SECRET, fake.url, *extra],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            floor_urls[i] = f"http://127.0.0.1:{floor_port}"
    running = Processes(fake, f"http://127.0.0.1:{bot_port}", floor_urls[0], procs, data_dir, floor_urls[1])
    urls = [running.bot_url, *(u for u in floor_urls if u)]
    try:
        await asyncio.gather(*(wait_healthy(u, p) for u, p in zip(urls, procs, strict=True)))
    except BaseException:
        await running.stop()
        raise
    return running


class Commands:
    """Signed slash commands, each with its own response_url, timed from sending to the answer."""

    def __init__(self, fake: TimedSlack) -> None:
        self.fake = fake
        self.verifier = SignatureVerifier(SECRET)
        self.serial = 0

    def request(self, command: str, text: str, tag: str) -> tuple[str, dict[str, str], str]:
        self.serial += 1
        name = f"{tag}-{self.serial}"
        body = urlencode(
            {
                "command": command,
                "text": text,
                "user_id": USER,
                "user_name": "bench",
                "channel_id": "C0BENCH",
                "team_id": "T0BENCH",
                "trigger_id": f"{name}.{time.time_ns()}",
                "response_url": self.fake.response_url(name),
            }
        )
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=ts, body=body),
        }
        return body, headers, name

    async def send(
        self, session: aiohttp.ClientSession, url: str, command: str, text: str, tag: str
    ) -> tuple[float, bool, str, float]:
        """(ack seconds, answered in the ack, response_url name, sent at)."""
        body, headers, name = self.request(command, text, tag)
        started = time.perf_counter()
        async with session.post(url + "/slack/events", data=body, headers=headers) as r:
            payload = await r.read()
            if r.status != 200:
                raise RuntimeError(f"HTTP {r.status}")
        return time.perf_counter() - started, bool(payload), name, started


async def answer_times(fake: TimedSlack, sent: list[tuple[float, bool, str, float]], within: float = 10) -> list[float]:
    """Seconds from sending each command to its answer (the ack's body, or the response_url post)."""
    deadline = time.monotonic() + within
    waiting = [s[2] for s in sent if not s[1]]
    while time.monotonic() < deadline:
        if all(name in fake.answered for name in waiting):
            break
        await asyncio.sleep(0.05)
    times = []
    for ack, in_ack, name, started in sent:
        if in_ack:
            times.append(ack)
        elif name in fake.answered:
            times.append(fake.answered[name] - started)
    return times
