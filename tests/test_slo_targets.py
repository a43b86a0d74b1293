"""Every target of an SLO row judged (p95 and p99 each), the API rows measured per route, and check-config
naming the SLOs nobody measures."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
import yaml

from bot import opsconfig
from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from bot.prom import Prometheus, PrometheusError
from bot.slo import measure
from bot.slo import messages as slo_messages
from bot.slo.measure import Status, checks
from tests.conftest import BotFactory, ask, eventually
from tests.prom import MetricsEndpoint, PrometheusServer, start_prometheus
from tests.test_slo import slo_config

BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.5, float("inf"))


@dataclass
class RouteExporter(MetricsEndpoint):
    """A latency histogram per route that advances on every scrape: each route's requests take these seconds."""

    routes: dict[str, list[float]]
    counts: dict[str, dict[float, float]] = field(default_factory=dict)

    def metrics(self) -> list[str]:
        lines = ["# TYPE http_request_duration_seconds histogram"]
        for route, latencies in self.routes.items():
            counts = self.counts.setdefault(route, dict.fromkeys(BUCKETS, 0.0))
            for le in BUCKETS:
                counts[le] += sum(1 for seconds in latencies if seconds <= le)
            lines += [
                f'http_request_duration_seconds_bucket{{route="{route}",le="{"+Inf" if le == float("inf") else le}"}} '
                f"{count}"
                for le, count in counts.items()
            ]
        return lines


@pytest.fixture
async def route_prometheus() -> AsyncIterator[PrometheusServer]:
    # Nearby Search: 97 of 100 requests take 40 ms, 3 take 300 ms: p95 49 ms (fine), p99 400 ms (over 200 ms).
    # Text Search: every request 40 ms. No QR Validation or Receipt Upload traffic at all.
    exporter = RouteExporter({"nearby-search": [0.04] * 97 + [0.3] * 3, "text-search": [0.04] * 100})
    await exporter.start()
    server = await start_prometheus({"web": exporter.url})
    yield server
    server.stop()
    await exporter.stop()


async def test_a_p99_breach_is_reported_while_p95_is_fine(
    make_bot: BotFactory, fake_slack: FakeSlack, route_prometheus: PrometheusServer, clock: FrozenClock
) -> None:
    async def scraped() -> bool:
        return bool(await route_prometheus.query("count_over_time(up[1m]) >= 3"))

    await eventually(scraped, within=20)
    clock.set(datetime.now(UTC))
    bot = await make_bot(slo_config(route_prometheus.url, timeout="5s"))
    said = await ask(fake_slack, bot, "/slo")
    text = flatten(fake_slack.calls_to("response_url")[-1])
    # One row breaching (its p99), counted once; Nearby Search's p95 alone is fine.
    assert said.startswith("SLOs: 1 SLO(s) breaching, 0 at risk\n"), text
    assert ":large_green_circle: Nearby Search p95: *49 ms* over 30d (target &lt;= 100ms) · ok" in text
    assert ":red_circle: Nearby Search p99: *400 ms* over 30d (target &lt;= 200ms) · breaching" in text
    assert ":large_green_circle: Text Search p95: *49 ms* over 30d (target &lt;= 80ms) · ok" in text
    assert ":large_green_circle: Text Search p99: *50 ms* over 30d (target &lt;= 150ms) · ok" in text
    assert ":white_circle: QR Validation p95 (target &lt;= 50ms): _no data_" in text
    assert ":white_circle: QR Validation p99 (target &lt;= 100ms): _no data_" in text
    assert ":heavy_minus_sign: LCP (Largest Contentful Paint) p75 (target &lt;= 2.5s): _not measured_" in text

    # The monthly report judges both as well: this month so far.
    now = clock.now()
    said = await ask(fake_slack, bot, "/slo", f"report {now:%Y-%m}")
    report = flatten(fake_slack.calls_to("response_url")[-1])
    assert said.startswith(f"SLO report {now:%Y-%m}: 1 SLO(s) missed\n"), said
    assert ":large_green_circle: Nearby Search p95: *49 ms* (target &lt;= 100ms) · ok" in report
    assert ":red_circle: Nearby Search p99: *400 ms* (target &lt;= 200ms) · breaching" in report


def test_the_route_template_follows_the_configured_label_and_route() -> None:
    prometheus = opsconfig.Prometheus.model_validate({"route_label": "handler"})
    row = opsconfig.Objective.model_validate({"name": "Nearby Search", "p95": "<= 100ms", "p99": "<= 200ms"})
    template = "histogram_quantile({}, sum by (le) (rate(http_request_duration_seconds_bucket{{{}}}[$window])))"
    assert [(c.which, c.query) for c in checks(row, prometheus)] == [
        ("p95", template.format("0.95", 'handler="nearby-search"')),
        ("p99", template.format("0.99", 'handler="nearby-search"')),
    ]
    own = opsconfig.Objective.model_validate({"name": "Nearby Search", "p99": "<= 200ms", "route": '/api/"near"'})
    (check,) = checks(own, prometheus)
    assert '{handler="/api/\\"near\\""}' in (check.query or "")
    # A row's own query is used for both percentiles through $quantile; without it, two targets are refused.
    mine = {"name": "Search", "p95": "<= 1s", "p99": "<= 2s", "query": "histogram_quantile($quantile, x[$window])"}
    assert [c.query for c in checks(opsconfig.Objective.model_validate(mine), prometheus)] == [
        "histogram_quantile(0.95, x[$window])",
        "histogram_quantile(0.99, x[$window])",
    ]
    with pytest.raises(ValueError, match=r"needs \$quantile"):
        opsconfig.Objective.model_validate({**mine, "query": "x[$window]"})
    # `target` cannot share that query: $quantile means nothing for it (Prometheus would refuse it as it is).
    for row in ({**mine, "target": "<= 1%"}, {"name": "Search", "target": "<= 1%", "query": mine["query"]}):
        with pytest.raises(ValueError, match=r"`target` cannot share its query with p95/p99 or use \$quantile"):
            opsconfig.Objective.model_validate(row)
    with pytest.raises(ValueError, match=r"`target` cannot share"):
        opsconfig.Objective.model_validate({**mine, "p99": None, "target": "<= 1%", "query": "x[$window]"})


class Refusing:
    """A Prometheus that refuses any query naming `broken` and answers every other 0.001 (0.1%)."""

    timeout = timedelta(seconds=5)

    async def value(self, query: str, at: datetime) -> float | None:
        if "broken" in query:
            raise PrometheusError("Prometheus refused the query: bad_data: parse error")
        return 0.001


async def test_a_query_prometheus_refuses_sinks_only_its_own_slo() -> None:
    rows = [
        {"name": "Good", "target": "<= 0.3%", "query": "good[$window]"},
        {"name": "Bad", "target": "<= 0.3%", "query": "broken[$window]"},
        {"name": "Also Good", "target": "<= 1%", "query": "fine[$window]"},
    ]
    groups = [opsconfig.SloGroup.model_validate({"group": "G", "objectives": rows})]
    config = opsconfig.Prometheus.model_validate({"url": "http://prometheus.invalid"})
    prom = cast(Prometheus, Refusing())
    at = datetime(2026, 11, 26, tzinfo=UTC)
    live = await measure.now(prom, config, groups, at)
    assert [(m.name, m.status, m.why) for m in live] == [
        ("Good", Status.OK, ""),
        ("Bad", Status.NOT_MEASURED, "Prometheus refused the query: bad_data: parse error"),
        ("Also Good", Status.OK, ""),
    ]
    assert slo_messages.live_line(live[1]) == (
        ":heavy_minus_sign: Bad (target &lt;= 0.3%): _not measured_"
        " (Prometheus refused the query: bad_data: parse error)"
    )
    month = await measure.month(prom, config, groups, at - timedelta(days=30), at)
    assert [(m.name, m.status) for m in month] == [
        ("Good", Status.OK),
        ("Bad", Status.NOT_MEASURED),
        ("Also Good", Status.OK),
    ]
    assert month[1].why.startswith("Prometheus refused the query")
    # Every query refused (Prometheus is down, or nothing is right): the error, as before.
    only_bad = [opsconfig.SloGroup.model_validate({"group": "G", "objectives": [rows[1]]})]
    with pytest.raises(PrometheusError, match="bad_data"):
        await measure.now(prom, config, only_bad, at)


def check_config(path: Path) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ["PATH"]}
    return subprocess.run(
        [sys.executable, "-m", "bot", "check-config", str(path)], capture_output=True, text=True, env=clean, timeout=60
    )


def test_check_config_names_the_slos_that_are_not_measured_and_why(tmp_path: Path) -> None:
    config = tmp_path / "ops.yml"
    config.write_text(yaml.safe_dump({"oncall": {"timezone": "UTC"}}))
    said = check_config(config)
    assert said.returncode == 0, said.stderr
    lines = said.stdout.splitlines()
    unmeasured = lines[lines.index("SLOs not measured:") + 1 : lines.index(f"{config}: ok")]
    assert "  Ingest Success Rate: no query" in unmeasured
    assert "  LCP (Largest Contentful Paint) p75: measured by Lighthouse / RUM, not Prometheus" in unmeasured
    assert "  FID (First Input Delay) p75: measured by RUM, not Prometheus" in unmeasured
    assert "  CLS (Cumulative Layout Shift): measured by Lighthouse / RUM, not Prometheus" in unmeasured
    assert "  Error Rate: no Prometheus is configured (prometheus.url)" in unmeasured
    assert "  Nearby Search: no Prometheus is configured (prometheus.url)" in unmeasured

    # With Prometheus: the rows with queries (and the API rows, by route) are measured; the rest still say why.
    config.write_text(yaml.safe_dump({"prometheus": {"url": "http://prom:9090", "route_latency": None}}))
    said = check_config(config)
    lines = said.stdout.splitlines()
    unmeasured = lines[lines.index("SLOs not measured:") + 1 : lines.index(f"{config}: ok")]
    names = [line.split(":")[0].strip() for line in unmeasured]
    assert "Error Rate" not in names and "Web Application" not in names
    assert "  Nearby Search: no query (and prometheus.route_latency is null)" in unmeasured
    assert "  Ingest Success Rate: no query" in unmeasured
