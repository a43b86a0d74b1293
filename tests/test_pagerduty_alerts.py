"""A P1 alert that no incident is declared for pages through PagerDuty too (the same durable send as incidents),
and PagerDuty hears when it is acknowledged in Slack and when it resolves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.clock import FrozenClock
from tests.alertmanager import now
from tests.conftest import ROTA, BotFactory, RunningBot, config_with, eventually
from tests.fakepagerduty import FakePagerDuty
from tests.fakeslack import FakeSlack
from tests.test_alerts import AUTH, grafana, post

KEY = "R0ZZIKPAGERDUTYINTEGRATIONKEY001"


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    fake = FakePagerDuty({KEY})
    await fake.start()
    yield fake
    await fake.stop()


async def make(make_bot: BotFactory, pagerduty: FakePagerDuty, **alerting: object) -> RunningBot:
    return await make_bot(
        config_with(oncall=ROTA, alerting=alerting) if alerting else config_with(oncall=ROTA),
        zzik_alert_pace_seconds=0.02,
        zzik_pagerduty_routing_key=KEY,
        zzik_pagerduty_events_url=pagerduty.url,
    )


async def test_a_p1_alert_pages_pagerduty_once_and_follows_it(
    make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    bot = await make(make_bot, pagerduty)
    started = now()
    firing = grafana("firing", started, name="ServiceDown")
    assert (await post(bot.url + "/hooks/grafana", firing, AUTH))[0] == 200
    await eventually(lambda: pagerduty.received)
    await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0ALICE"])
    [trigger] = pagerduty.received
    assert (trigger["dedup_key"], trigger["payload"]["severity"]) == ("ALERT-1", "critical")
    assert trigger["payload"]["summary"] == "P1 alert ServiceDown: p95 latency is 4.2s on /search"
    assert trigger["links"] == [{"href": "https://grafana.invalid/alerting/grafana/abc/view", "text": "Alert source"}]
    # Grafana sends the same firing again: nothing new in PagerDuty.
    assert (await post(bot.url + "/hooks/grafana", firing, AUTH))[0] == 200
    await bot.tick()
    assert pagerduty.actions("ALERT-1") == ["trigger"]

    await bot.slack.action("alert_acknowledge", "1", user="U0BOB", channel="C0ALERTS")
    await eventually(lambda: pagerduty.incidents["ALERT-1"]["status"] == "acknowledged")
    resolved = grafana("resolved", started, ends=started + timedelta(minutes=4), name="ServiceDown")
    assert (await post(bot.url + "/hooks/grafana", resolved, AUTH))[0] == 200
    await eventually(lambda: bot.db.fetchval("SELECT count(*) = 3 FROM pagerduty_events"))
    await bot.tick()
    await eventually(lambda: pagerduty.incidents["ALERT-1"]["status"] == "resolved")
    assert pagerduty.actions("ALERT-1") == ["trigger", "acknowledge", "resolve"]


async def test_a_rate_limited_alert_page_is_retried(
    make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    bot = await make(make_bot, pagerduty)
    pagerduty.fail(429)
    pagerduty.fail(502)
    assert (await post(bot.url + "/hooks/grafana", grafana("firing", now(), name="ServiceDown"), AUTH))[0] == 200
    await eventually(lambda: pagerduty.answers[:1] == [429])
    assert pagerduty.received == []
    for _ in range(3):
        clock.advance(timedelta(minutes=5))
        await bot.tick()
    await eventually(lambda: pagerduty.actions("ALERT-1") == ["trigger"])
    assert pagerduty.answers[:3] == [429, 502, 202]


async def test_an_auto_declared_alert_pages_through_its_incident_only(
    make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    bot = await make(make_bot, pagerduty, auto_declare=["P1"])
    assert (await post(bot.url + "/hooks/grafana", grafana("firing", now(), name="ServiceDown"), AUTH))[0] == 200
    await eventually(lambda: pagerduty.actions("INC-1") == ["trigger"])
    await eventually(
        lambda: bot.db.fetchval("SELECT count(*) > 0 FROM job_runs WHERE job = 'alerts.page' AND status = 'done'")
    )
    await bot.tick()
    assert [e["dedup_key"] for e in pagerduty.received] == ["INC-1"]
