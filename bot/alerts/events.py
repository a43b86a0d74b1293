"""What the alerts domain announces (bot/events.py): the other domains subscribe to these instead of being called
(PagerDuty pages, acknowledges and resolves its own incident for a P1 alert). Fields are facts (ids and values),
never text: a subscriber reads what else it needs through bot.alerts.api."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from bot.events import Event
from bot.opsconfig import Severity


class AlertPaged(Event):
    """The on-call primary is being paged for a firing alert (committed before the DM goes out): the alert on its
    own, or the first firing alert of a storm's digest (`digest_id`)."""

    topic = "alert.paged"
    alert_id: int
    priority: Severity
    digest_id: int | None = None

    def key(self) -> str:
        return f"d{self.digest_id}:paged" if self.digest_id is not None else f"{self.alert_id}:paged"


class AlertChange(Event):
    """A change to one alert at a time (one occurrence per alert): the subscribers' run key is
    `<alert>:<occurrence>`."""

    occurrence: ClassVar[str]
    alert_id: int
    priority: Severity
    at: datetime

    def key(self) -> str:
        return f"{self.alert_id}:{self.occurrence}"


class AlertAcknowledged(AlertChange):
    """Someone acknowledged the alert (its escalations are cancelled). `request_id`: the request that did it
    (a Slack request's id, or what the caller passed, e.g. the webhook event a change came from)."""

    topic = "alert.acknowledged"
    occurrence = "acknowledged"
    actor: str
    request_id: str | None = None


class AlertResolved(AlertChange):
    """The alert's episode resolved (its sender said so); `at`: when it ended."""

    topic = "alert.resolved"
    occurrence = "resolved"
