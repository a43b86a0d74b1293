"""The alerts domain's records: what its store returns and the other domains may import (never its store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.alerts.ids import Status
from bot.opsconfig import Severity


@dataclass(frozen=True)
class Alert:
    id: int
    source: str
    fingerprint: str
    starts_at: datetime
    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str | None
    values_text: str | None
    group_key: str | None
    status: str
    ends_at: datetime | None
    priority: Severity
    response_time: timedelta
    rule: str | None
    runbook: str | None
    runbook_url: str | None
    channel: str
    digest_id: int | None
    message_channel: str | None
    message_ts: str | None
    root_id: int | None
    previous_id: int | None
    episode: int
    flapping: bool
    primary_user: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    silence_id: str | None
    silenced_until: datetime | None
    silenced_by: str | None
    deploy_id: int | None
    incident_id: int | None
    version: int
    sent_version: int
    send_error: str | None
    created_at: datetime
    # The acknowledgement's expiry (ack_expiry.py): when its window began and runs out, a snooze, the reminder.
    ack_since: datetime | None = None
    ack_expires_at: datetime | None = None
    snoozed_until: datetime | None = None
    snoozed_by: str | None = None
    ack_reminder_ts: str | None = None

    @property
    def summary(self) -> str:
        return self.annotations.get("summary") or self.annotations.get("title") or self.alertname

    @property
    def firing(self) -> bool:
        return self.status == Status.FIRING


@dataclass(frozen=True)
class Digest:
    id: int
    group_key: str
    group_labels: dict[str, str]
    channel: str
    message_channel: str | None
    message_ts: str | None
    opened_at: datetime
    closed_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    version: int
    sent_version: int


@dataclass(frozen=True)
class IngestNote:
    id: int
    source: str
    delivery_id: int | None
    received_at: datetime
    receiver: str
    group_key: str | None
    alert_count: int
    accepted: int
    unreadable: int
    over_limit: int
    truncated: int
    limit_reason: str | None
    repeat_key: str
    said: bool
    channel: str
    message_channel: str | None
    message_ts: str | None
    send_error: str | None


@dataclass(frozen=True)
class AlertPage:
    """A page the alerts domain sent (a P1's page of the primary, or an escalation): who, as what, when."""

    user_id: str
    role: str
    at: datetime


@dataclass(frozen=True)
class RuleCount:
    """How often one row of the alert table fired in a period (a review's noisiest first)."""

    rule: str  # the config row that matched, else the alertname
    alerts: int  # firing episodes the bot received in the period
    flapping: int  # how many of its alerts (by fingerprint) were labelled flapping
