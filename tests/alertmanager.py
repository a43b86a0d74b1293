"""Real Alertmanagers (Debian's prometheus-alertmanager) for tests: on free loopback ports, their receiver the bot.

`alertmanagers(n=2)` starts an HA pair gossiping on loopback. Alerts go in through Alertmanager's own API
(`POST /api/v2/alerts`); silences are read back through it (`GET /api/v2/silence/{id}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.processes import free_port

BINARIES = ("prometheus-alertmanager", "alertmanager")


def binary() -> str:
    found = next((shutil.which(b) for b in BINARIES if shutil.which(b)), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus-alertmanager is not installed (.ci/run installs it)")
        pytest.skip("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
    return found


def config(bot_url: str, secret: str, repeat_interval: str, group_wait: str = "50ms") -> str:
    return f"""global:
  resolve_timeout: 1h
route:
  receiver: bot
  group_by: [alertname]
  group_wait: {group_wait}
  group_interval: 100ms
  repeat_interval: {repeat_interval}
receivers:
  - name: bot
    webhook_configs:
      - url: {bot_url}/hooks/alertmanager
        send_resolved: true
        max_alerts: 0
        http_config:
          authorization:
            type: Bearer
            credentials: {secret}
"""


@dataclass
class Alertmanager:
    proc: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def push(self, *alerts: dict[str, Any]) -> None:
        async with aiohttp.ClientSession() as s, s.post(self.url + "/api/v2/alerts", json=list(alerts)) as r:
            assert r.status == 200, await r.text()

    async def silence(self, silence_id: str) -> dict[str, Any]:
        async with aiohttp.ClientSession() as s, s.get(self.url + f"/api/v2/silence/{silence_id}") as r:
            assert r.status == 200, await r.text()
            return await r.json()


def alert(
    name: str, starts: datetime, *, ends: datetime | None = None, labels: dict | None = None, **annotations: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": {"alertname": name, **(labels or {})},
        "annotations": annotations,
        "startsAt": starts.isoformat(),
        "generatorURL": f"http://prometheus.invalid/graph?g0.expr={name}",
    }
    if ends is not None:
        body["endsAt"] = ends.isoformat()
    return body


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)


async def _ready(am: Alertmanager, seconds: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    async with aiohttp.ClientSession() as s:
        while loop.time() < deadline:
            assert am.proc.returncode is None, am.log.read_text()[-2000:]
            with contextlib.suppress(aiohttp.ClientError):
                async with s.get(am.url + "/-/ready") as r:
                    if r.status == 200:
                        return
            await asyncio.sleep(0.05)
    raise AssertionError("alertmanager did not become ready:\n" + am.log.read_text()[-2000:])


@contextlib.asynccontextmanager
async def alertmanagers(
    tmp: Path,
    bot_url: str,
    secret: str,
    *,
    n: int = 1,
    repeat_interval: str = "1h",
    ports: list[int] | None = None,
    group_wait: str = "50ms",
) -> AsyncIterator[list[Alertmanager]]:
    exe = binary()
    (tmp / "am.yml").write_text(config(bot_url, secret, repeat_interval, group_wait))
    cluster = [free_port() for _ in range(n)]
    started: list[Alertmanager] = []
    try:
        for i in range(n):
            port = ports[i] if ports else free_port()
            args = [
                f"--config.file={tmp / 'am.yml'}",
                f"--storage.path={tmp / f'data{i}'}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url=http://127.0.0.1:{port}",
            ]
            if n == 1:
                args.append("--cluster.listen-address=")
            else:
                args += [
                    f"--cluster.listen-address=127.0.0.1:{cluster[i]}",
                    f"--cluster.advertise-address=127.0.0.1:{cluster[i]}",
                    "--cluster.settle-timeout=200ms",
                    "--cluster.peer-timeout=50ms",
                    "--cluster.gossip-interval=50ms",
                    "--cluster.pushpull-interval=1s",
                ]
                args += [f"--cluster.peer=127.0.0.1:{p}" for j, p in enumerate(cluster) if j != i]
            log = tmp / f"alertmanager{i}.log"
            stderr = await asyncio.to_thread(log.open, "w")
            try:
                proc = await asyncio.create_subprocess_exec(
                    exe, *args, stdout=asyncio.subprocess.DEVNULL, stderr=stderr
                )
            finally:
                stderr.close()  # the process has its own copy of the descriptor
            started.append(Alertmanager(proc, port, log))
        for am in started:
            await _ready(am)
        yield started
    finally:
        for am in started:
            if am.proc.returncode is None:
                am.proc.kill()  # nothing of theirs outlives the test, so no graceful cluster leave
            await am.proc.wait()
