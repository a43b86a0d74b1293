"""A real Prometheus for tests (Debian's `prometheus`), on a free loopback port, and an exporter the test steers.

Live cases: Prometheus scrapes the exporter every second. Windows of days and months: series written as
OpenMetrics and backfilled with `promtool tsdb create-blocks-from openmetrics` before Prometheus starts.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.ports import free_port

BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def binary(name: str) -> str:
    """The path of prometheus/promtool; skipped locally when absent, a failure under CI."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed (.ci/run installs Debian's prometheus package)")
        pytest.skip(f"{name} is not installed (apt-get install prometheus)")
    return path


class MetricsEndpoint:
    """/metrics on a free loopback port (`url` is its host:port once started), answering `metrics()`'s lines."""

    url: str = ""
    _runner: web.AppRunner | None = None

    def metrics(self) -> list[str]:
        raise NotImplementedError

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(text="\n".join(self.metrics()) + "\n", content_type="text/plain")


@dataclass
class Exporter(MetricsEndpoint):
    """/metrics with request counters and a latency histogram that advance on every scrape, as traffic would."""

    requests_per_scrape: int = 100
    error_ratio: float = 0.0
    latency: float = 0.05  # every request of a scrape interval takes this long
    ok: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=lambda: dict.fromkeys((*BUCKETS, float("inf")), 0.0))
    scrapes: int = 0  # how many times /metrics was read

    def metrics(self) -> list[str]:
        self.scrapes += 1
        n = self.requests_per_scrape
        self.errors += n * self.error_ratio
        self.ok += n * (1 - self.error_ratio)
        for le in self.buckets:
            if self.latency <= le:
                self.buckets[le] += n
        lines = [
            "# TYPE http_requests_total counter",
            f'http_requests_total{{code="200"}} {self.ok}',
            f'http_requests_total{{code="500"}} {self.errors}',
            "# TYPE http_request_duration_seconds histogram",
            *(
                f'http_request_duration_seconds_bucket{{le="{"+Inf" if le == float("inf") else le}"}} {count}'
                for le, count in self.buckets.items()
            ),
            f"http_request_duration_seconds_count {self.buckets[float('inf')]}",
        ]
        return lines


@dataclass
class PrometheusServer:
    url: str
    process: subprocess.Popen
    data: Path

    async def query(self, promql: str) -> list:
        async with aiohttp.ClientSession() as s, s.get(f"{self.url}/api/v1/query", params={"query": promql}) as r:
            return (await r.json())["data"]["result"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.data, ignore_errors=True)


async def start_prometheus(jobs: dict[str, str] | None = None, data: Path | None = None) -> PrometheusServer:
    """Prometheus on a free loopback port scraping `jobs` (name -> host:port) every second."""
    data = data or Path(tempfile.mkdtemp(prefix="zzik-prom-"))
    scrapes = "".join(
        f"  - job_name: {name}\n    static_configs:\n      - targets: ['{target}']\n"
        for name, target in (jobs or {}).items()
    )
    config = data / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
        + (scrapes or "  []\n")
    )
    if not scrapes:
        config.write_text("global:\n  scrape_interval: 1s\n")
    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 - started once; waited for below without blocking
        [
            binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={data / 'tsdb'}",
            "--storage.tsdb.retention.time=20y",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = PrometheusServer(f"http://127.0.0.1:{port}", process, data)
    deadline = asyncio.get_running_loop().time() + 30
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(f"{server.url}/-/ready") as r:
                    if r.status == 200:
                        return server
            except aiohttp.ClientError:
                pass
            if process.poll() is not None or asyncio.get_running_loop().time() > deadline:
                server.stop()
                raise RuntimeError("prometheus did not start")
            await asyncio.sleep(0.1)


def backfill(openmetrics: str) -> Path:
    """A data directory holding `openmetrics` as TSDB blocks (promtool tsdb create-blocks-from openmetrics)."""
    data = Path(tempfile.mkdtemp(prefix="zzik-prom-"))
    source = data / "series.om"
    source.write_text(openmetrics if openmetrics.endswith("# EOF\n") else openmetrics + "# EOF\n")
    (data / "tsdb").mkdir()
    subprocess.run(
        [binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(source), str(data / "tsdb")],
        check=True,
        capture_output=True,
    )
    source.unlink()
    return data
