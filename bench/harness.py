"""What the benchmarks share: a fake Slack that timestamps answers, the bot and the bare Bolt app as processes,
signed slash commands, percentiles, and a note on the machine (CPUs, load) the figures were taken on; for the time
to page and the soak, scratch databases, killable `serve` processes, a rota on call now, a timed fake PagerDuty and
Alertmanager deliveries."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import yaml
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.fakeslack import FakeSlack  # noqa: E402
from tests.fakepagerduty import FakePagerDuty  # noqa: E402
from tests.processes import scratch_database  # noqa: E402,F401  (the benches' scratch databases)

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


# -- What bench/time_to_page.py and bench/soak.py share: scratch databases, `serve` processes that can be killed
# and restarted, a config with a rota on call now, a fake PagerDuty that notes when it accepted each event, and
# Alertmanager deliveries. Only the public surface: processes, signed HTTP, the fakes over HTTP, the database.

REPORTER = "U0REPORTER"
ENGINEERS = ["U0ENG1", "U0ENG2", "U0ENG3"]
MANAGER = "U0MANAGER"
WEBHOOK_SECRET = "bench-webhook-secret"
PD_KEY = "R0BENCHPAGERDUTYROUTINGKEY00001"
TAG = re.compile(r"ttp\d+x\d+x\d+z")  # the tag each declaration carries in its title or summary
ESCALATION = re.compile(r"escalat", re.IGNORECASE)


def is_page(text: str) -> bool:
    """A page DM of a declaration or an alert. An escalation's page (the next role, once the response time has
    passed unacknowledged) is not a second page of the same declaration."""
    return text.startswith(":rotating_light:") and not ESCALATION.search(text)


def rota_config(directory: Path) -> Path:
    """The built-in config with a rota on call now (three engineers, one manager): a P1 pages three people."""
    config = yaml.safe_load((ROOT / "bot" / "default.yml").read_text())
    config["oncall"].update(
        timezone="UTC",
        start=(datetime.now(UTC) - timedelta(days=7)).date().isoformat(),
        engineers=ENGINEERS,
        managers=[MANAGER],
    )
    path = directory / "zzik.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def add_people(fake: FakeSlack) -> None:
    for user in [REPORTER, *ENGINEERS, MANAGER]:
        fake.add_user(user, user.lower())


class Served:
    """One `python -m bot serve` process on 127.0.0.1, which can be killed (-9) and started again on its port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "HOST": "127.0.0.1", "PORT": str(self.port), "LOG_FORMAT": "json"}
        self.log = log
        self.proc: subprocess.Popen | None = None

    async def start(self, healthy_within: float = 90) -> None:
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve"], env=self.env, cwd=ROOT, stdout=out, stderr=out
            )
        await wait_healthy(self.url, self.proc, healthy_within)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9: no shutdown, no flush, as a host that fails."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                await asyncio.to_thread(self.proc.wait, 30)
            except subprocess.TimeoutExpired:
                self.kill()


def bot_env(dsn: str, slack: FakeSlack, config: Path, pagerduty: FakePagerDuty | None) -> dict[str, str]:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-bench-token",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.url,
        "DATABASE_URL": dsn,
        "ZZIK_CONFIG": str(config),
        "ZZIK_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ZZIK_DATA_DIR": str(config.parent),
    }
    if pagerduty is not None:
        env.update(ZZIK_PAGERDUTY_ROUTING_KEY=PD_KEY, ZZIK_PAGERDUTY_EVENTS_URL=pagerduty.url)
    return env


class TimedPagerDuty(FakePagerDuty):
    """The fake PagerDuty, noting when it accepted (202) each event. `script` answers each trigger's first tries
    (per dedup key) with these statuses, e.g. (429, 500); `burst(status, seconds)` answers every event so for a
    while (an outage or a rate limit)."""

    def __init__(self, script: tuple[int, ...] = ()) -> None:
        super().__init__({PD_KEY})
        self.script = script
        self.tries: dict[str, int] = {}
        self.accepted: list[tuple[float, dict[str, Any]]] = []  # (perf_counter, event)
        self.refused = 0
        self._burst: tuple[int, float] | None = None

    def burst(self, status: int, seconds: float) -> None:
        self._burst = (status, time.perf_counter() + seconds)

    async def _enqueue(self, request: web.Request) -> web.Response:
        try:
            event = json.loads(await request.text())  # aiohttp keeps the body: the fake reads it again
        except ValueError:
            event = None
        status = None
        if self._burst is not None and time.perf_counter() < self._burst[1]:
            status = self._burst[0]
        elif isinstance(event, dict) and event.get("event_action") == "trigger" and self.script:
            key = str(event.get("dedup_key"))
            tried = self.tries.get(key, 0)
            self.tries[key] = tried + 1
            if tried < len(self.script):
                status = self.script[tried]
        if status is not None:
            self.refused += 1
            self.arrived += 1
            self.answers.append(status)
            return web.json_response({"status": "throttle event" if status == 429 else "error"}, status=status)
        response = await super()._enqueue(request)
        if response.status == 202:
            self.accepted.append((time.perf_counter(), event or {}))
        return response


def alertmanager_delivery(tag: str, *, status: str = "firing", alertname: str = "ServiceDown") -> bytes:
    """An Alertmanager (v4) delivery of one P1 alert of its own group, its summary carrying `tag`."""
    starts = datetime.now(UTC) - timedelta(seconds=30)
    alert = {
        "status": status,
        "labels": {"alertname": alertname, "instance": tag, "severity": "critical"},
        "annotations": {"summary": f"Checkout unreachable {tag}"},
        "startsAt": starts.isoformat(),
        "endsAt": datetime.now(UTC).isoformat() if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": uuid.uuid5(uuid.NAMESPACE_OID, tag).hex[:16],
    }
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{alertname}",instance="{tag}"}}',
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "zzik",
            "groupLabels": {"alertname": alertname, "instance": tag},
            "commonLabels": alert["labels"],
            "commonAnnotations": alert["annotations"],
            "externalURL": "http://alertmanager.invalid:9093",
            "alerts": [alert],
        }
    ).encode()


async def post_alert(session: aiohttp.ClientSession, url: str, body: bytes) -> int:
    headers = {"Authorization": f"Bearer {WEBHOOK_SECRET}", "Content-Type": "application/json"}
    async with session.post(url + "/hooks/alertmanager", data=body, headers=headers) as r:
        await r.read()
        return r.status


def declare_form(tag: str) -> dict[str, dict[str, Any]]:
    """The Declare form's values for a P1 titled with `tag` (commander left to the rota)."""
    return {
        "title": {"value": {"value": f"Checkout down {tag}"}},
        "severity": {"value": {"selected_option": {"value": "P1"}}},
        "description": {"value": {"value": "declared by the benchmark"}},
        "commander": {"value": {"selected_user": None}},
    }
