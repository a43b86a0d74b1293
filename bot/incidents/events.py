"""What the incidents domain announces (bot/events.py): the other domains subscribe to these instead of being
called. Fields are facts (ids and values), never text: a subscriber reads what else it needs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar

from pydantic import Field

from bot.events import Event


class IncidentDeclared(Event):
    """An incident was declared (committed). `alert_id`: the alert it was declared from, if any."""

    topic = "incident.declared"
    incident_id: int
    severity: str
    actor: str | None = None
    alert_id: int | None = None

    def key(self) -> str:
        return str(self.incident_id)


class IncidentAcknowledged(Event):
    """Acknowledged (once per incident). `actor` is None when PagerDuty's user is not known in Slack; `via`: the
    outside system it was acknowledged in ("pagerduty"), which need not be told it back."""

    topic = "incident.acknowledged"
    incident_id: int
    actor: str | None
    at: datetime | None = None
    via: str | None = None

    def key(self) -> str:
        return f"{self.incident_id}:acknowledged"


def _change_id() -> str:
    return uuid.uuid4().hex[:12]


class IncidentChange(Event):
    """A change someone made to an incident at a time. `change_id` names the occurrence (two changes at the same
    instant are two); the subscribers' run key is `<incident>:<occurrence>:<change_id>`."""

    occurrence: ClassVar[str]
    incident_id: int
    actor: str
    at: datetime
    change_id: str = Field(default_factory=_change_id)

    def key(self) -> str:
        return f"{self.incident_id}:{self.occurrence}:{self.change_id}"


class SeverityChanged(IncidentChange):
    topic = "incident.severity_changed"
    occurrence = "severity"
    old: str
    new: str


class IncidentResolved(IncidentChange):
    """Resolved. `via`: the outside system it was resolved in ("pagerduty"), which need not be told it back."""

    topic = "incident.resolved"
    occurrence = "resolved"
    via: str | None = None


class IncidentReopened(IncidentChange):
    topic = "incident.reopened"
    occurrence = "reopened"
