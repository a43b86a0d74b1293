"""What the incidents domain announces (bot/events.py): the other domains subscribe to these instead of being
called. Fields are facts (ids and values), never text: a subscriber reads what else it needs."""

from __future__ import annotations

from datetime import datetime

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


class SeverityChanged(Event):
    topic = "incident.severity_changed"
    incident_id: int
    old: str
    new: str
    actor: str
    at: datetime
    change_id: str | None = None  # which change (two at the same instant are two occurrences)

    def key(self) -> str:
        return f"{self.incident_id}:severity:{self.change_id or self.at.isoformat()}"


class IncidentResolved(Event):
    """Resolved. `via`: the outside system it was resolved in ("pagerduty"), which need not be told it back."""

    topic = "incident.resolved"
    incident_id: int
    actor: str
    at: datetime
    via: str | None = None
    change_id: str | None = None  # which change (two at the same instant are two occurrences)

    def key(self) -> str:
        return f"{self.incident_id}:resolved:{self.change_id or self.at.isoformat()}"


class IncidentReopened(Event):
    topic = "incident.reopened"
    incident_id: int
    actor: str
    at: datetime
    change_id: str | None = None  # which change (two at the same instant are two occurrences)

    def key(self) -> str:
        return f"{self.incident_id}:reopened:{self.change_id or self.at.isoformat()}"
