"""/slo, the monthly SLO report, and the measured deploy watch, against a real Prometheus."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually
from tests.fakepipeline import FakePipeline
from tests.prom import Exporter, PrometheusServer, backfill, free_port, start_prometheus
from tests.test_deploys import check, click, deploys

SECRET = "test-webhook-secret-77"


def slo_config(url: str, pipeline: str | None = None, **prometheus):
    base = config_with(oncall=ROTA)
    deploy = base.deploy.model_dump(mode="json")
    deploy["webhook_url"] = pipeline
    return config_with(
        oncall=ROTA,
        deploy=deploy,
        permissions={"deployers": ["U0DAVE"], "incident_managers": []},
        prometheus={"url": url, **prometheus},
    )


@pytest.fixture
async def exporter() -> AsyncIterator[Exporter]:
    e = Exporter()
    await e.start()
    yield e
    await e.stop()


@pytest.fixture
async def live_prometheus(exporter: Exporter) -> AsyncIterator[PrometheusServer]:
    # web is the exporter; api's target is a port nobody listens on (up 0); no database job at all.
    server = await start_prometheus({"web": exporter.url, "api": f"127.0.0.1:{free_port()}"})
    yield server
    server.stop()


@pytest.fixture
def failing_slowly() -> Exporter:
    """An exporter whose every scrape, from the first, says 1% of requests fail and each takes 0.2 s."""
    return Exporter(error_ratio=0.01, latency=0.2)


@pytest.fixture
async def failing_prometheus(failing_slowly: Exporter) -> AsyncIterator[PrometheusServer]:
    await failing_slowly.start()
    server = await start_prometheus({"web": failing_slowly.url, "api": f"127.0.0.1:{free_port()}"})
    yield server
    server.stop()
    await failing_slowly.stop()


async def scraped(prom: PrometheusServer, times: int = 3) -> None:
    async def enough() -> bool:
        return bool(await prom.query(f'count_over_time(up{{job="web"}}[1m]) >= {times}'))

    await eventually(enough, within=20)


async def slo(bot: RunningBot, text: str = "") -> tuple[float, dict]:
    started = time.perf_counter()
    reply = await bot.slack.command("/slo", text, user="U0BOB")
    assert reply.status == 200
    return time.perf_counter() - started, reply.json


# -- /slo live ---------------------------------------------------------------------------------------------------


async def test_slo_shows_live_values_budgets_and_burn_rates(
    make_bot: BotFactory, failing_slowly: Exporter, failing_prometheus: PrometheusServer, clock: FrozenClock
) -> None:
    # 1% of requests fail (over the 0.3% target), each takes 0.2 s: so from the first scrape, whenever it comes.
    exporter = failing_slowly
    clock.set(datetime.now(UTC))
    await scraped(failing_prometheus)
    clock.set(datetime.now(UTC))
    bot = await make_bot(slo_config(failing_prometheus.url))
    _, answer = await slo(bot)
    assert answer["response_type"] == "ephemeral"
    text = flatten(answer)
    assert answer["text"] == "SLOs: 2 SLO(s) breaching, 0 at risk"
    assert (
        ":red_circle: Error Rate: *1%* over 30d (target &lt;= 0.3%) · breaching · budget *overspent* (233.333% over)"
        in text
    )
    assert "burn 1h 3.3× / 6h 3.3×" in text
    # TTFB p95 from the histogram: every request 0.2 s, in the (0.1, 0.25] bucket: 0.1 + 0.15 × 0.95 = 242.5 ms,
    # which Prometheus's extrapolated rates put a hair either side of the rounding edge.
    ttfb = ":large_green_circle: TTFB (Time to First Byte) p95: *{} ms* over 30d (target &lt;= 600ms) · ok"
    assert ttfb.format(242) in text or ttfb.format(243) in text
    assert (
        ":large_green_circle: Web Application: *100%* over 30d (target 99.9%) · ok · budget left 100% "
        "· burn 1h 0.0× / 6h 0.0×" in text
    )
    assert ":red_circle: API Services: *0%* over 30d (target 99.95%) · breaching · budget *overspent*" in text
    assert ":white_circle: Database (target 99.99%): _no data_" in text  # no such scrape job
    assert ":heavy_minus_sign: Ingest Success Rate (target &gt;= 97%): _not measured_" in text
    assert ":white_circle: Nearby Search p95 (target &lt;= 100ms): _no data_" in text  # no route-labelled series
    assert ":white_circle: Nearby Search p99 (target &lt;= 200ms): _no data_" in text

    # A healthy service: everything measured is within target.
    exporter.error_ratio = 0.0
    ok = await start_prometheus({"web": exporter.url, "api": exporter.url, "database": exporter.url})
    try:
        await scraped(ok)
        clock.set(datetime.now(UTC))
        healthy = await make_bot(slo_config(ok.url))
        _, answer = await slo(healthy)
        assert answer["text"] == "SLOs: All measured SLOs are within target"
        assert ":large_green_circle: Error Rate: *0%* over 30d (target &lt;= 0.3%) · ok · budget left 100%" in (
            flatten(answer)
        )
    finally:
        ok.stop()


async def test_slo_says_plainly_when_prometheus_is_slow_or_down(make_bot: BotFactory) -> None:
    # Slow: a server that accepts the connection and never answers (until the test lets go of it).
    release = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await release.wait()
        writer.close()

    stalled = await asyncio.start_server(stall, "127.0.0.1", 0)
    port = stalled.sockets[0].getsockname()[1]
    try:
        bot = await make_bot(slo_config(f"http://127.0.0.1:{port}"))
        took, answer = await slo(bot)
        assert took < 2.9  # within Slack's 3 s, in the ack
        assert answer["text"] == "Live SLO values are unavailable: Prometheus did not answer within 2 s. The targets:"
        assert "• Error Rate: *&lt;= 0.3%* _(Failed requests / Total requests)_" in flatten(answer)
        took, answer = await slo(bot, "report 2026-10")
        assert took < 2.9 and "Prometheus did not answer within 2 s" in answer["text"]
    finally:
        # Its connections closed before the test's event loop is: else they are collected open later, as
        # ResourceWarnings (errors) in whatever test runs then.
        release.set()
        stalled.close()
        for writer in held:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    # Down: nothing listens.
    down = await make_bot(slo_config(f"http://127.0.0.1:{free_port()}"))
    took, answer = await slo(down)
    assert took < 2.9
    assert answer["text"] == (
        "Live SLO values are unavailable: Prometheus could not be reached (ClientConnectorError). The targets:"
    )

    # Not configured: the targets, "not measured".
    plain = await make_bot()
    _, answer = await slo(plain)
    assert "Not measured: no Prometheus is configured" in flatten(answer)


async def test_slo_usage(bot: RunningBot, fake_slack: FakeSlack) -> None:
    said = await ask(fake_slack, bot, "/slo", "report 2026-13")
    assert said.startswith("Name the month as YYYY-MM, e.g. `/slo report 2026-10`.")
    said = await ask(fake_slack, bot, "/slo", "breaches")
    assert said.startswith("`breaches` is not a /slo command")
    assert "`/slo report [YYYY-MM]`" in await ask(fake_slack, bot, "/slo", "help")


# -- a month backfilled ------------------------------------------------------------------------------------------


def october() -> str:
    """October 2026 twice a day: web down once (the 10th, noon), 0.1% errors, p95 ~ 0.24 s. (promtool writes a block
    per 2 hours that has samples, which is what costs time: two samples a day keep it to 63 blocks.)"""
    start = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())
    end = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    web_down = range(start + 9 * 86400 + 12 * 3600, start + 9 * 86400 + 13 * 3600)  # the sample at noon on the 10th
    up = ["# TYPE up gauge"]
    requests = ["# TYPE http_requests counter"]
    latency = ["# TYPE http_request_duration_seconds histogram"]
    ok = errors = fast = 0
    for ts in range(start, end + 1, 12 * 3600):
        up.append(f'up{{job="web"}} {0 if ts in web_down else 1} {ts}')
        up.append(f'up{{job="api"}} 1 {ts}')
        up.append(f'up{{job="database"}} 1 {ts}')
        requests.append(f'http_requests_total{{code="200"}} {ok} {ts}')
        requests.append(f'http_requests_total{{code="500"}} {errors} {ts}')
        slow = ok + errors - fast
        for le, count in (("0.1", fast), ("0.25", fast + slow), ("+Inf", fast + slow)):
            latency.append(f'http_request_duration_seconds_bucket{{le="{le}"}} {count} {ts}')
        ok, errors = ok + 9990, errors + 10
        fast += 5000
    return "\n".join(up + requests + latency) + "\n# EOF\n"


@pytest.fixture(scope="module")
def october_data():
    return backfill(october())


async def test_slo_report_for_a_backfilled_month_and_the_monthly_review(
    make_bot: BotFactory, fake_slack: FakeSlack, october_data, clock: FrozenClock
) -> None:
    prom = await start_prometheus(data=october_data)
    try:
        bot = await make_bot(slo_config(prom.url, timeout="5s"))
        said = await ask(fake_slack, bot, "/slo", "report 2026-10")
        text = flatten(fake_slack.calls_to("response_url")[-1])
        assert said.startswith("SLO report 2026-10: 1 SLO(s) missed\n")
        assert ":large_green_circle: Error Rate: *0.1%* (target &lt;= 0.3%) · ok · error budget spent 33.333%" in text
        # 1 of the month's 63 samples down: 98.413% up, 15.87 times the 0.1% budget.
        assert ":red_circle: Web Application: *98.413%* (target 99.9%) · breaching · error budget spent 1587." in text
        assert ":large_green_circle: API Services: *100%* (target 99.95%) · ok · error budget spent 0%" in text
        assert ":large_green_circle: Database: *100%* (target 99.99%) · ok · error budget spent 0%" in text
        assert ":large_green_circle: TTFB (Time to First Byte) p95: *235 ms* (target &lt;= 600ms) · ok" in text
        # The default month is the last one (the clock says 25 Nov 2026).
        assert await ask(fake_slack, bot, "/slo", "report") == said
        assert (await ask(fake_slack, bot, "/slo", "report 2026-12")).startswith("2026-12 has not started yet")

        # The monthly checklist's SLO review comes with the report, in its thread, once.
        assert "The monthly checklist is posted" in await ask(fake_slack, bot, "/maintenance", "post monthly")
        checklist = fake_slack.calls_to("chat.postMessage")[-1]
        await bot.tick()
        await bot.tick()
        reports = [c for c in fake_slack.calls_to("chat.postMessage") if c["text"].startswith("SLO report")]
        assert len(reports) == 1 and reports[0]["thread_ts"] is not None
        assert reports[0]["text"] == "SLO report 2026-10: 1 SLO(s) missed"
        assert reports[0]["channel"] == fake_slack.channel_id(checklist["channel"])  # the thread: by its id
    finally:
        prom.stop()


# -- the deploy watch, measured ----------------------------------------------------------------------------------


@pytest.fixture
async def pipeline() -> AsyncIterator[FakePipeline]:
    p = FakePipeline(SECRET)
    await p.start()
    yield p
    await p.stop()


async def deploy(bot: RunningBot, fake: FakeSlack, version: str) -> int:
    said = await ask(fake, bot, "/deploy", f'prod {version} --force "measured"', user="U0DAVE")
    assert "is announced" in said, said
    deploy_id = (await deploys(bot))[-1]["id"]
    pre = [i.id for i in bot.services.config.deploy.pre_deploy_checklist]
    await check(bot, deploy_id, "pre", pre, user="U0DAVE")
    await click(bot, fake, "deploy_start", str(deploy_id), user="U0DAVE")
    return deploy_id


def thread(fake: FakeSlack, needle: str) -> list[dict]:
    return [c for c in fake.calls_to("chat.postMessage") if c.get("thread_ts") and needle in flatten(c)]


async def test_the_watch_window_is_measured_and_a_rollback_verified(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    pipeline: FakePipeline,
    exporter: Exporter,
    live_prometheus: PrometheusServer,
    clock: FrozenClock,
) -> None:
    clock.set(datetime.now(UTC))
    bot = await make_bot(slo_config(live_prometheus.url, pipeline.url, watch_every="1s"))
    await scraped(live_prometheus)

    async def ticking(condition, within: float = 20):
        async def step():
            clock.set(datetime.now(UTC))
            await bot.tick()
            return condition()

        return await eventually(step, within=within)

    # v1, healthy: the window's end shows the figures before and during it.
    clock.set(datetime.now(UTC))
    first = await deploy(bot, fake_slack, "v1")
    await pipeline.report(bot.url, first, "succeeded")
    finished = (await deploys(bot))[-1]["finished_at"]
    await ticking(lambda: True, within=0.1)
    seen = exporter.scrapes
    await eventually(lambda: exporter.scrapes >= seen + 3, within=20)  # a few scrapes inside the window
    clock.set(finished + timedelta(minutes=30))
    await bot.tick()
    (end,) = thread(fake_slack, "Watch window of Deploy #1")
    assert "Over the watch window: error rate 0% (before: 0%) · p95 95 ms (before: 95 ms)" in flatten(end)
    await click(bot, fake_slack, "deploy_watch_healthy", str(first), user="U0DAVE")

    # v2 makes things worse: first every request takes 0.4 s, then 20% of them fail.
    clock.set(datetime.now(UTC))
    second = await deploy(bot, fake_slack, "v2")
    exporter.latency = 0.4
    await pipeline.report(bot.url, second, "succeeded")
    (slow,) = await ticking(lambda: thread(fake_slack, "*Performance degraded &gt; 50%*:"))
    assert "Deploy #2 of v2 to prod meets the manual's rollback criteria: *Performance degraded &gt; 50%*: p95" in (
        flatten(slow)
    )
    assert "slower than before (95 ms), over 50%" in flatten(slow)
    slow_radio = next(b for b in slow["blocks"] if b.get("block_id") == "rollback_reason")["elements"][0]
    assert slow_radio["initial_option"]["value"] == "performance"

    exporter.error_ratio = 0.2
    posts = await ticking(lambda: thread(fake_slack, "Error rate &gt; 10%*:"))
    text = flatten(posts[0])
    assert "Deploy #2 of v2 to prod meets the manual's rollback criteria: *Error rate &gt; 10%*: error rate" in text
    assert "% &gt; 10%" in posts[0]["text"] and ">" not in posts[0]["text"]  # `>` escaped once, as the criterion's
    assert "(before: 0%)" in text and "Roll back to v1" in text
    radio = next(b for b in posts[0]["blocks"] if b.get("block_id") == "rollback_reason")["elements"][0]
    assert radio["initial_option"]["value"] == "error_rate"
    await ticking(lambda: True, within=0.1)
    # Once per criterion, not every minute.
    assert (
        len(thread(fake_slack, "Error rate &gt; 10%*:"))
        == len(thread(fake_slack, "*Performance degraded &gt; 50%*:"))
        == 1
    )

    # Roll back from the thread, the criterion as preselected.
    button = next(b for b in posts[0]["blocks"] if b["type"] == "actions" and b.get("block_id") != "rollback_reason")
    value = button["elements"][0]["value"]
    state = {
        "values": {
            "rollback_reason": {
                "rollback_reason": {"type": "radio_buttons", "selected_option": radio["initial_option"]}
            }
        }
    }
    reply = await bot.slack.action("rollback_confirm", value, user="U0DAVE", channel="#zzik-deployments", state=state)
    assert reply.status == 200
    rollback = await eventually(lambda: _rollback(bot))
    assert rollback["reason"] == "Error rate &gt; 10%" and rollback["version"] == "v1"

    # The rollback works: errors stop, and "error rates returned to normal" is ticked with the figure.
    exporter.error_ratio, exporter.latency = 0.0, 0.05
    await pipeline.report(bot.url, rollback["id"], "succeeded")

    async def ticked() -> bool:
        return bool(
            await bot.db.fetchval(
                "SELECT ticked_by FROM deploy_checks WHERE deploy_id = $1 AND item = 'error_rates_normal'",
                rollback["id"],
            )
        )

    async def step() -> bool:
        clock.set(datetime.now(UTC))
        await bot.tick()
        return await ticked()

    await eventually(step, within=20)
    by = await bot.db.fetchval(
        "SELECT ticked_by FROM deploy_checks WHERE deploy_id = $1 AND item = 'error_rates_normal'", rollback["id"]
    )
    assert by.startswith("bot:Prometheus: error rate 0% (before the deploy: 0%)")
    shown = flatten(fake_slack.calls_to("chat.update")[-1])
    assert "Prometheus: error rate 0% (before the deploy: 0%)" in shown and "Verify the rollback* (1/3)" in shown
    audit = await bot.db.fetchval("SELECT count(*) FROM audit_log WHERE action = 'verify.error_rates_normal'")
    assert audit == 1


async def _rollback(bot: RunningBot) -> dict | None:
    return next((d for d in await deploys(bot) if d["kind"] == "rollback"), None)


async def test_the_watch_says_when_prometheus_is_down(
    make_bot: BotFactory, fake_slack: FakeSlack, pipeline: FakePipeline, clock: FrozenClock
) -> None:
    clock.set(datetime.now(UTC))
    bot = await make_bot(slo_config(f"http://127.0.0.1:{free_port()}", pipeline.url, watch_every="1s"))
    deploy_id = await deploy(bot, fake_slack, "v9")
    await pipeline.report(bot.url, deploy_id, "succeeded")
    for _ in range(3):
        clock.advance(timedelta(seconds=2))
        await bot.tick()
    (said,) = thread(fake_slack, "cannot be measured")
    assert "The watch of Deploy #1 of v9 to prod cannot be measured: Prometheus could not be reached" in said["text"]
    clock.set((await deploys(bot))[-1]["watch_until"])
    await bot.tick()
    (end,) = thread(fake_slack, "Watch window of Deploy #1")
    assert "Measured figures unavailable: Prometheus could not be reached" in flatten(end)
    assert json.dumps(end)  # the end message is still posted with its buttons


async def test_a_rollback_that_does_not_bring_error_rates_back_is_said(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    pipeline: FakePipeline,
    exporter: Exporter,
    live_prometheus: PrometheusServer,
    clock: FrozenClock,
) -> None:
    clock.set(datetime.now(UTC))
    bot = await make_bot(slo_config(live_prometheus.url, pipeline.url, watch_every="1s", verify_for="4s"))
    await scraped(live_prometheus)
    for version in ("v1", "v2"):
        clock.set(datetime.now(UTC))
        deploy_id = await deploy(bot, fake_slack, version)
        await pipeline.report(bot.url, deploy_id, "succeeded")
    exporter.error_ratio = 0.3  # and it stays so after the rollback
    value = json.dumps({"env": "prod", "current": deploy_id, "target": "v1", "reason": ""})
    state = {
        "values": {
            "rollback_reason": {
                "rollback_reason": {"type": "radio_buttons", "selected_option": {"value": "error_rate"}}
            }
        }
    }
    reply = await bot.slack.action("rollback_confirm", value, user="U0DAVE", channel="#zzik-deployments", state=state)
    assert reply.status == 200
    rollback = await eventually(lambda: _rollback(bot))
    await pipeline.report(bot.url, rollback["id"], "succeeded")

    async def step():
        clock.set(datetime.now(UTC))
        await bot.tick()
        return thread(fake_slack, "error rates have not returned to normal")

    (said,) = await eventually(step, within=20)
    assert said["text"].startswith(
        f":warning: Rollback #{rollback['id']} of v1 to prod: error rates have not returned to normal after 4 s: "
    )
    assert said["text"].endswith("% (normal: at most 0.1%). Check it by hand.")
    ticked = await bot.db.fetchval("SELECT count(*) FROM deploy_checks WHERE item = 'error_rates_normal'")
    assert ticked == 0


async def test_a_watch_start_a_crash_left_pending_is_done_by_a_tick(
    make_bot: BotFactory, fake_slack: FakeSlack, pipeline: FakePipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The deploy's success is committed with its subscribers' runs; the process dies before it runs them itself.
    bot = await make_bot(slo_config(f"http://127.0.0.1:{free_port()}", pipeline.url, watch_every="1s"))

    async def crashed(published) -> None:
        return None

    monkeypatch.setattr(bot.services.events, "after_commit", crashed)
    first = await deploy(bot, fake_slack, "v1")
    status, _ = await pipeline.report(bot.url, first, "succeeded")
    assert status == 200
    runs = "SELECT job, run_key, status, due_at FROM job_runs WHERE job LIKE 'slo.%' ORDER BY id"
    assert [(r["job"], r["run_key"], r["status"]) for r in await bot.db.fetch(runs)] == [
        ("slo.start_watch", f"{first}:succeeded", "pending")
    ]
    await bot.tick()  # any replica's pass
    rows = await bot.db.fetch(runs)
    assert [(r["job"], r["run_key"], r["status"]) for r in rows] == [
        ("slo.start_watch", f"{first}:succeeded", "done"),
        ("slo.watch_tick", f"{first}:1", "pending"),
    ]
    finished = (await deploys(bot))[-1]["finished_at"]
    assert rows[1]["due_at"] == finished + timedelta(seconds=1)
