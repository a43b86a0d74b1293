"""PagerDuty's v3 webhooks: the signature and the payload, as PagerDuty's developer documentation gives them.

Each delivery carries one event: `{"event": {"id", "event_type", "resource_type", "occurred_at", "agent",
"client", "data"}}`; for incident events `data` is the incident (`id`, `number`, `status`, `incident_key`, `title`,
`html_url`, `assignees`, ...). `X-PagerDuty-Signature` is `v1=<hex HMAC-SHA256 of the raw body>`, several of them
comma-separated while a subscription's secret is rotated: any one that matches will do.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

MAX_SIGNATURES = 10


class EventType(StrEnum):
    TRIGGERED = "incident.triggered"
    ACKNOWLEDGED = "incident.acknowledged"
    UNACKNOWLEDGED = "incident.unacknowledged"
    RESOLVED = "incident.resolved"
    REOPENED = "incident.reopened"
    ESCALATED = "incident.escalated"
    REASSIGNED = "incident.reassigned"


# The status each event leaves the PagerDuty incident in (the others change who, not the status).
STATUS_AFTER: dict[str, str] = {
    EventType.TRIGGERED: "triggered",
    EventType.UNACKNOWLEDGED: "triggered",
    EventType.REOPENED: "triggered",
    EventType.ACKNOWLEDGED: "acknowledged",
    EventType.RESOLVED: "resolved",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Reference(_Model):
    """A user, service or integration reference (`agent`, `assignees[]`)."""

    id: str = Field(default="", max_length=100)
    type: str = Field(default="", max_length=100)
    summary: str = Field(default="", max_length=500)
    html_url: str | None = Field(default=None, max_length=2000)


class IncidentData(_Model):
    id: str = Field(min_length=1, max_length=100)
    type: str = Field(default="incident", max_length=100)
    number: int | None = None
    status: str | None = Field(default=None, max_length=50)
    incident_key: str | None = Field(default=None, max_length=255)
    title: str = Field(default="", max_length=1024)
    html_url: str | None = Field(default=None, max_length=2000)
    assignees: list[Reference] = Field(default=[], max_length=100)
    resolve_reason: str | None = Field(default=None, max_length=2000)


class Event(_Model):
    id: str = Field(min_length=1, max_length=200)
    event_type: str = Field(min_length=1, max_length=100)
    resource_type: str = Field(default="incident", max_length=100)
    occurred_at: datetime
    agent: Reference | None = None
    data: IncidentData


class Webhook(_Model):
    event: Event


class Ping(_Model):
    """What PagerDuty sends when a subscription is tested (`pagey.ping`): no incident data."""

    event: dict[str, object]


def signature(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(header: str, body: bytes, secret: str | None) -> bool:
    """Any `v1=` signature in the header matches the body under the secret (compared in constant time)."""
    if not secret or not header:
        return False
    expected = signature(secret, body).encode()
    given = [s.strip() for s in header.split(",")][:MAX_SIGNATURES]
    return any(hmac.compare_digest(expected, s.encode()) for s in given if s.startswith("v1="))
