"""The two webhook formats, validated with pydantic and turned into one shape.

Alertmanager: the webhook receiver's JSON, version 4 (prometheus/alertmanager notify/webhook). Grafana: the
unified alerting webhook contact point's JSON (its alerts carry `values`/`valueString`; identity is the labels).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.alerts.ids import Source, Status

MAX_ALERTS = 5000


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Alert(_Model):
    """What both senders' alerts carry."""

    status: Status
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = {}
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str = ""


class AmAlert(_Alert):
    fingerprint: str = Field(min_length=1, max_length=200)


class AlertmanagerWebhook(_Model):
    version: Literal["4"]
    groupKey: str = Field(max_length=4000)
    truncatedAlerts: int = Field(default=0, ge=0)
    status: Status
    receiver: str = ""
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""
    alerts: list[AmAlert] = Field(min_length=1, max_length=MAX_ALERTS)


class GrafanaAlert(_Alert):
    fingerprint: str = ""
    silenceURL: str = ""
    dashboardURL: str = ""
    panelURL: str = ""
    values: dict[str, float | None] | None = None
    valueString: str = ""


class GrafanaWebhook(_Model):
    receiver: str = ""
    status: Status
    orgId: int | None = None
    groupKey: str = Field(default="", max_length=4000)
    groupLabels: dict[str, str] = {}
    commonLabels: dict[str, str] = {}
    commonAnnotations: dict[str, str] = {}
    externalURL: str = ""
    version: str = "1"
    truncatedAlerts: int = Field(default=0, ge=0)
    title: str = ""
    state: str = ""
    message: str = ""
    alerts: list[GrafanaAlert] = Field(min_length=1, max_length=MAX_ALERTS)


@dataclass(frozen=True)
class Incoming:
    """One alert of a delivery, whatever sent it."""

    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str | None
    values_text: str | None
    group_key: str
    group_labels: dict[str, str]

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname") or "unnamed alert"

    def as_received(self) -> dict[str, Any]:
        """The columns of a new episode that are the alert as it came (all but the group's labels)."""
        received = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "group_labels"}
        return received | {"alertname": self.alertname}


def _ends(at: datetime | None) -> datetime | None:
    """Alertmanager writes the zero time (0001-01-01) for "not ended"."""
    if at is None or at.year <= 1:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def labels_fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def _group_key(given: str, group_labels: dict[str, str]) -> str:
    return given or "labels:" + json.dumps(group_labels, sort_keys=True)


def from_alertmanager(hook: AlertmanagerWebhook) -> list[Incoming]:
    key = _group_key(hook.groupKey, hook.groupLabels)
    return [
        Incoming(
            fingerprint=a.fingerprint,
            status=a.status,
            labels=dict(a.labels),
            annotations=dict(a.annotations),
            starts_at=_aware(a.startsAt),
            ends_at=_ends(a.endsAt) if a.status == Status.RESOLVED else None,
            generator_url=a.generatorURL or None,
            values_text=None,
            group_key=key,
            group_labels=dict(hook.groupLabels),
        )
        for a in hook.alerts
    ]


def _values(a: GrafanaAlert) -> str | None:
    if a.values:
        return ", ".join(f"{k}={v:g}" if v is not None else f"{k}=none" for k, v in sorted(a.values.items()))
    return a.valueString or None


def from_grafana(hook: GrafanaWebhook) -> list[Incoming]:
    key = "grafana:" + _group_key(hook.groupKey, hook.groupLabels)
    return [
        Incoming(
            fingerprint=labels_fingerprint(dict(a.labels)),
            status=a.status,
            labels=dict(a.labels),
            annotations=dict(a.annotations),
            starts_at=_aware(a.startsAt),
            ends_at=_ends(a.endsAt) if a.status == Status.RESOLVED else None,
            generator_url=a.generatorURL or a.panelURL or a.dashboardURL or None,
            values_text=_values(a),
            group_key=key,
            group_labels=dict(hook.groupLabels),
        )
        for a in hook.alerts
    ]


def parse(source: str, body: Any) -> list[Incoming]:
    """A stored delivery's body as alerts (it was validated when received)."""
    if source == Source.GRAFANA:
        return from_grafana(GrafanaWebhook.model_validate(body))
    return from_alertmanager(AlertmanagerWebhook.model_validate(body))
