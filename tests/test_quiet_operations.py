"""Quiet operations: an idle bot says nothing at info; requests refused at the door (a bad Slack signature, a
webhook without valid credentials) are counted by route and reason and logged at most once a minute per route."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import aiohttp
from structlog.testing import capture_logs

from bot.clock import FrozenClock
from bot.web.refusals import RefusalLog
from bot.web.signing import signed_headers
from tests.conftest import BotFactory, RunningBot

SECRET = "test-webhook-secret-77"  # conftest's zzik_webhook_secret


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as s, s.post(url, data=body, headers=headers) as r:
        return r.status


def metric(bot: RunningBot, line: str) -> bool:
    return line in bot.services.metrics.render().decode()


async def test_an_idle_bot_logs_its_routine_runs_at_debug_and_a_late_one_at_info(
    bot: RunningBot, clock: FrozenClock
) -> None:
    with capture_logs() as logs:
        for _ in range(4):  # the alert sweep is due every 10 s
            clock.advance(timedelta(seconds=11))
            await bot.tick()
    sweeps = [e for e in logs if e["event"] == "job ran" and e["job"] == "alerts.sweep"]
    assert sweeps and all(e["log_level"] == "debug" for e in sweeps)
    assert [e for e in logs if e["log_level"] != "debug"] == []  # nothing at info while idle

    with capture_logs() as logs:
        clock.advance(timedelta(minutes=10))  # a replica that was stopped: the due sweep runs late
        await bot.tick()
    late = [e for e in logs if e["event"] == "job ran" and e["job"] == "alerts.sweep"]
    assert late and late[0]["log_level"] == "info" and late[0]["late_seconds"] >= 60


async def test_bad_slack_signatures_are_counted_by_reason_and_logged_once_a_minute(bot: RunningBot) -> None:
    body = "command=%2Fincident&text=list&user_id=U0ALICE"
    form = "application/x-www-form-urlencoded"
    with capture_logs() as logs:
        for _ in range(3):
            assert (await bot.slack.post(body, form, signature="v0=" + "0" * 64)).status == 401
        assert (await bot.slack.post(body, form, timestamp=int(time.time()) - 3600)).status == 401
        url = bot.slack.url
        assert await post(url, body.encode(), {"Content-Type": form}) == 401
    for reason, count in (("invalid", 3), ("stale", 1), ("missing", 1)):
        line = f'zzik_slack_signature_refusals_total{{reason="{reason}",route="/slack/events"}} {count}.0'
        assert metric(bot, line), line
    warned = [e for e in logs if e["log_level"] == "warning" and e.get("route") == "/slack/events"]
    assert len(warned) == 1 and warned[0]["reason"] == "invalid" and warned[0]["refused"] == 1
    assert "0" * 64 not in json.dumps(warned, default=str)  # what the caller sent is not logged


async def test_unauthorised_webhooks_are_counted_by_route_and_reason(make_bot: BotFactory) -> None:
    bot = await make_bot()
    alerts = bot.url + "/hooks/alertmanager"
    body = json.dumps({"version": "4", "status": "firing", "alerts": []}).encode()
    json_type = {"Content-Type": "application/json"}
    with capture_logs() as logs:
        assert await post(alerts, body, json_type) == 401
        assert await post(alerts, body, {**json_type, "Authorization": "Bearer wrong-secret"}) == 401
        stale = signed_headers(SECRET, body, now=time.time() - 3600)
        assert await post(alerts, body, {**json_type, **stale}) == 401
        assert await post(bot.url + "/hooks/deploy", b"{}", json_type) == 401
        assert await post(alerts, body, {**json_type, "Authorization": f"Bearer {SECRET}"}) != 401
    for route, reason in (
        ("/hooks/alertmanager", "missing"),
        ("/hooks/alertmanager", "invalid"),
        ("/hooks/alertmanager", "stale"),
        ("/hooks/deploy", "missing"),
    ):
        line = f'zzik_webhook_refusals_total{{reason="{reason}",route="{route}"}} 1.0'
        assert metric(bot, line), line
    warned = [e for e in logs if e["log_level"] == "warning" and e["event"].startswith("webhook refused")]
    assert sorted(e["route"] for e in warned) == ["/hooks/alertmanager", "/hooks/deploy"]  # one line per route

    unset = await make_bot(zzik_webhook_secret=None)
    assert await post(unset.url + "/hooks/alertmanager", body, {**json_type, "Authorization": "Bearer x"}) == 401
    assert metric(unset, 'zzik_webhook_refusals_total{reason="not_configured",route="/hooks/alertmanager"} 1.0')


def test_the_refusal_log_says_how_many_refusals_each_line_stands_for() -> None:
    now = [1000.0]
    refusals = RefusalLog(every=60, clock=lambda: now[0])
    with capture_logs() as logs:
        for at in (0, 1, 2, 30, 59):
            now[0] = 1000.0 + at
            refusals.note("webhook refused: unauthorised", "/hooks/grafana", "invalid", "10.0.0.9")
        now[0] = 1000.0 + 61
        refusals.note("webhook refused: unauthorised", "/hooks/grafana", "invalid", "10.0.0.9")
        refusals.note("webhook refused: unauthorised", "/hooks/deploy", "missing", "10.0.0.9")
    assert [(e["route"], e["refused"]) for e in logs] == [
        ("/hooks/grafana", 1),
        ("/hooks/grafana", 5),
        ("/hooks/deploy", 1),
    ]
