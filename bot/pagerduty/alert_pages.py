"""A P1 alert that no incident is declared for pages through PagerDuty too, beside the primary's DM.

The alerts domain says what happened (paged, acknowledged in Slack, resolved); each becomes one event row for
the alert (dedup key `ALERT-<id>`), sent by the same durable SEND job as an incident's, in order and once. An
alert auto-declared as an incident pages through the incident instead, so PagerDuty hears of it once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.alerts.models import Alert
from bot.pagerduty import store
from bot.pagerduty.flows import Outgoing, configured, echoing, record, routing_key
from bot.services import Services


def dedup_key(alert: Alert) -> str:
    return f"ALERT-{alert.id}"


def _pages(services: Services, alert: Alert) -> bool:
    config = services.config
    return (
        configured(services)
        and alert.priority in config.pagerduty.severities
        and alert.priority not in config.alerting.auto_declare
        and routing_key(services, alert.priority) is not None
    )


async def paged(services: Services, alert: Alert) -> str | None:
    """The alert's page (its PAGE job, after the commit): the trigger recorded with its SEND run, whose key is
    returned for the caller to start beside its Slack DM (None: nothing to send, or already recorded)."""
    if not _pages(services, alert):
        return None
    now = services.clock.now()
    links = [{"href": alert.generator_url, "text": "Alert source"}] if alert.generator_url else []
    body = {
        "event_action": "trigger",
        "dedup_key": dedup_key(alert),
        "payload": {
            "summary": f"{alert.priority} alert {alert.alertname}: {alert.summary}"[:1024],
            "source": services.config.pagerduty.source,
            "severity": services.config.pagerduty.severity_map.get(alert.priority, "critical"),  # type: ignore[call-overload]
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
    async with services.db.transaction() as conn:
        return await record(services, conn, {"alert_id": alert.id}, _event(alert, "trigger", body), now)


async def acknowledged(services: Services, conn: Any, alert: Alert, now: datetime) -> str | None:
    """Inside the acknowledgement's transaction; the SEND run to start after the commit."""
    return await _follow_up(services, conn, alert, "acknowledge", now)


async def resolved(services: Services, conn: Any, alert: Alert, now: datetime) -> str | None:
    return await _follow_up(services, conn, alert, "resolve", now)


async def _follow_up(services: Services, conn: Any, alert: Alert, action: str, now: datetime) -> str | None:
    if echoing() or not any(e.action == "trigger" for e in await store.alert_events(conn, alert.id)):
        return None
    body = {"event_action": action, "dedup_key": dedup_key(alert)}
    return await record(services, conn, {"alert_id": alert.id}, _event(alert, action, body), now)


def _event(alert: Alert, action: str, body: dict[str, Any]) -> Outgoing:
    return f"alert:{alert.id}:{action}", action, alert.priority, body


def register(runner: Any, services: Services) -> None:
    """The alert events PagerDuty acts on (subscribed here; called from the domain's jobs.register)."""
