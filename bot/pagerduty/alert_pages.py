"""A P1 alert that no incident is declared for pages through PagerDuty too, beside the primary's DM.

The alerts domain says what happened (bot/alerts/events.py: paged, acknowledged, resolved); PagerDuty subscribes
here. Each becomes one event row for the alert (dedup key `ALERT-<id>`), sent by the same durable SEND job as an
incident's, in order and once. The page's subscriber is urgent and runs at once after the page's commit, side by
side with the primary's DM. An alert auto-declared as an incident pages through the incident instead, so
PagerDuty hears of it once.
"""

from __future__ import annotations

from typing import Any

from bot.alerts import api as alerts
from bot.alerts.events import AlertAcknowledged, AlertPaged, AlertResolved
from bot.alerts.models import Alert
from bot.jobs import PAGING_LEASE, PAGING_RETRY
from bot.pagerduty import store
from bot.pagerduty.flows import Outgoing, configured, record, routing_key, send_now
from bot.services import Services

PAGED = "pagerduty.alert_paged"
ACKNOWLEDGED = "pagerduty.alert_acknowledged"
RESOLVED = "pagerduty.alert_resolved"
# The request ids inbound.py gives the changes PagerDuty told the bot (`pagerduty:<webhook event id>`).
TOLD_BY_PAGERDUTY = "pagerduty:"


def dedup_key(alert_id: int) -> str:
    return f"ALERT-{alert_id}"


def _pages(services: Services, priority: str) -> bool:
    config = services.config
    return (
        configured(services)
        and priority in config.pagerduty.severities
        and priority not in config.alerting.auto_declare
        and routing_key(services, priority) is not None
    )


async def on_paged(services: Services, event: AlertPaged) -> None:
    """The alert's page: its trigger recorded with its SEND run, which is sent here at once (the primary's DM goes
    out beside this run). Not for an alert acknowledged or resolved meanwhile: this run may come late (after a
    crash), and that change, under the same row lock, told PagerDuty nothing as nothing was triggered yet."""
    if not _pages(services, event.priority):
        return
    async with services.db.transaction() as conn:
        alert = await alerts.get(conn, event.alert_id, for_update=True)
        if alert is None or not alert.firing or alert.acknowledged_at:
            return
        trigger = _event(alert.id, alert.priority, "trigger", _trigger(services, alert))
        run = await record(services, conn, {"alert_id": alert.id}, trigger, services.clock.now())
    await send_now(services, run)


def _trigger(services: Services, alert: Alert) -> dict[str, Any]:
    links = [{"href": alert.generator_url, "text": "Alert source"}] if alert.generator_url else []
    return {
        "event_action": "trigger",
        "dedup_key": dedup_key(alert.id),
        "payload": {
            "summary": f"{alert.priority} alert {alert.alertname}: {alert.summary}"[:1024],
            "source": services.config.pagerduty.source,
            "severity": services.config.pagerduty.severity_map.get(alert.priority, "critical"),
            "timestamp": alert.starts_at.isoformat(),
            "component": alert.alertname,
            "custom_details": {
                "labels": alert.labels,
                "annotations": alert.annotations,
                "slack_channel": alert.channel,
            },
        },
        "links": links,
        "client": "ZZIK Ops Bot",
    }


async def on_acknowledged(services: Services, event: AlertAcknowledged) -> None:
    """Acknowledged in Slack: PagerDuty hears it (not when PagerDuty told the bot, which would echo it back)."""
    if (event.request_id or "").startswith(TOLD_BY_PAGERDUTY):
        return
    await _follow_up(services, event.alert_id, event.priority, "acknowledge")


async def on_resolved(services: Services, event: AlertResolved) -> None:
    await _follow_up(services, event.alert_id, event.priority, "resolve")


async def _follow_up(services: Services, alert_id: int, priority: str, action: str) -> None:
    """Acknowledge/resolve only what the bot triggered; the SEND run is sent here at once."""
    async with services.db.transaction() as conn:
        if not any(e.action == "trigger" for e in await store.alert_events(conn, alert_id)):
            return
        body = {"event_action": action, "dedup_key": dedup_key(alert_id)}
        run = await record(
            services, conn, {"alert_id": alert_id}, _event(alert_id, priority, action, body), services.clock.now()
        )
    await send_now(services, run)


def _event(alert_id: int, priority: str, action: str, body: dict[str, Any]) -> Outgoing:
    return f"alert:{alert_id}:{action}", action, priority, body


def register(runner: Any, services: Services) -> None:
    """The alert events PagerDuty acts on (subscribed here; called from the domain's jobs.register). Each runs at
    once after the alert's commit, in the urgent slots, retried within seconds: they page or stop a page."""
    paging: dict[str, Any] = {"urgent": True, "lease": PAGING_LEASE, "retry": PAGING_RETRY}
    services.events.subscribe(services, AlertPaged, PAGED, on_paged, **paging)
    services.events.subscribe(services, AlertAcknowledged, ACKNOWLEDGED, on_acknowledged, **paging)
    services.events.subscribe(services, AlertResolved, RESOLVED, on_resolved, **paging)
