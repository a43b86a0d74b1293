"""The event the alerts domain subscribes to: an incident declared from an alert (IncidentDeclared with its
alert_id) links the two, as the alert's Declare incident button promises: the incident's timeline gets the alert,
the alert's message names the incident."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.alerts.ids import Job
from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from bot.incidents import flows as incident_flows
from bot.incidents.enums import Severity
from bot.incidents.events import IncidentDeclared
from tests.conftest import ROTA, BotFactory, RunningBot, config_with, eventually
from tests.test_alerts import AUTH, alert_rows, grafana, post, posts, updates


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall=ROTA), zzik_alert_pace_seconds=0.02)


async def _delivered(bot: RunningBot, event: IncidentDeclared, key: str) -> None:
    """The subscriber's run, as a publish adds it in the declaration's transaction, then run here at once (due
    later, so that no pass elsewhere takes it first)."""
    due = bot.services.clock.now() + timedelta(hours=1)
    async with bot.db.transaction() as conn:
        await bot.services.jobs.schedule_once(conn, Job.LINK_INCIDENT, key, due, event.model_dump(mode="json"))
    assert await bot.services.jobs.run_now(Job.LINK_INCIDENT, key)


async def test_an_incident_declared_from_an_alert_is_linked_to_it_once(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    assert Job.LINK_INCIDENT in bot.services.events.subscribers(IncidentDeclared)
    await post(bot.url + "/hooks/grafana", grafana("firing", clock.now(), name="HighErrorRate"), AUTH)
    alert_id = (await eventually(lambda: alert_rows(bot)))[0]["id"]
    await eventually(lambda: posts(fake_slack))
    declared = await incident_flows.declare(
        bot.services, key="t1", title="Checkout is down", severity=Severity.P1, reporter="U0BOB", set_up=False
    )
    incident_id = declared.incident.id
    event = IncidentDeclared(incident_id=incident_id, severity="P1", actor="U0BOB", alert_id=alert_id)

    await _delivered(bot, event, "first")
    assert await bot.db.fetchval("SELECT incident_id FROM alerts WHERE id = $1", alert_id) == incident_id
    entries = await bot.db.fetch(
        "SELECT actor, text FROM incident_events WHERE incident_id = $1 AND kind = 'alert'", incident_id
    )
    assert [r["actor"] for r in entries] == ["U0BOB"]
    assert entries[0]["text"].startswith("alert P1 HighErrorRate: p95 latency is 4.2s on /search")
    await eventually(lambda: updates(fake_slack) and "Incident INC-1" in flatten(updates(fake_slack)[-1]))

    await _delivered(bot, event, "again")  # a second delivery of the same news changes nothing
    assert await bot.db.fetchval("SELECT count(*) FROM incident_events WHERE kind = 'alert'") == 1


async def test_an_incident_declared_from_no_alert_links_nothing(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    await post(bot.url + "/hooks/grafana", grafana("firing", clock.now(), name="HighErrorRate"), AUTH)
    await eventually(lambda: alert_rows(bot))
    declared = await incident_flows.declare(
        bot.services, key="t2", title="Checkout is down", severity=Severity.P2, reporter="U0BOB", set_up=False
    )
    await _delivered(bot, IncidentDeclared(incident_id=declared.incident.id, severity="P2", actor="U0BOB"), "none")
    assert await bot.db.fetchval("SELECT incident_id FROM alerts") is None
    assert await bot.db.fetchval("SELECT count(*) FROM incident_events WHERE kind = 'alert'") == 0
