"""The two webhook formats, validated with pydantic and turned into one shape.

Alertmanager: the webhook receiver's JSON, version 4 (prometheus/alertmanager notify/webhook). Grafana: the
unified alerting webhook contact point's JSON (its alerts carry `values`/`valueString`; identity is the labels).

A delivery is validated in two steps, so one bad alert never takes its neighbours down: the envelope (what the
whole delivery says: version, group, receiver) and then each alert on its own (`read_alert`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from bot.alerts.ids import Source, Status

MAX_ALERTS = 5000
# Times an alert may carry. Prometheus counts from the Unix epoch; anything outside this range is a sender's
# bug, and times near datetime's own limits overflow when the bot adds a flap window or a response time.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _none_is_empty(value: Any) -> Any:
    """Go encodes an empty map as `null`; some Alertmanager relays send it for the common and group labels."""
    return {} if value is None else value


KV = Annotated[dict[str, str], BeforeValidator(_none_is_empty)]


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _in_range(at: datetime) -> bool:
    return EARLIEST <= _aware(at) < LATEST


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Alert(_Model):
    """What both senders' alerts carry."""

    status: Status
    labels: KV = Field(min_length=1)
    annotations: KV = {}
    startsAt: datetime
    endsAt: datetime | None = None
    generatorURL: str | None = ""

    @model_validator(mode="after")
    def _times_in_range(self) -> _Alert:
        if not _in_range(self.startsAt):
            raise ValueError(f"startsAt {self.startsAt.isoformat()} is out of range (1970 to 9000)")
        # endsAt counts only when resolved; the zero time (0001-01-01) means "not ended".
        ends = self.endsAt
        if self.status == Status.RESOLVED and ends is not None and ends.year > 1 and not _in_range(ends):
            raise ValueError(f"endsAt {ends.isoformat()} is out of range (1970 to 9000)")
        return self


class AmAlert(_Alert):
    fingerprint: str = Field(min_length=1, max_length=200)


class _Envelope(_Model):
    """What the whole delivery says. `alerts` is only a list here: each alert is read on its own."""

    version: str | None = "1"  # first: a delivery in another format is answered about its version
    status: Status
    receiver: str | None = ""
    groupLabels: KV = {}
    commonLabels: KV = {}
    commonAnnotations: KV = {}
    externalURL: str | None = ""
    truncatedAlerts: int | None = Field(default=0, ge=0)
    alerts: list[Any] = Field(min_length=1)


class AlertmanagerWebhook(_Envelope):
    version: Literal["4"]
    groupKey: str = Field(max_length=4000)


class GrafanaAlert(_Alert):
    fingerprint: str | None = ""
    silenceURL: str | None = ""
    dashboardURL: str | None = ""
    panelURL: str | None = ""
    # Grafana writes NaN and ±Infinity as bare words; they arrive as the text "NaN" etc. and are shown as such.
    values: dict[str, float | str | None] | None = None
    valueString: str | None = ""


class GrafanaWebhook(_Envelope):
    orgId: int | None = None
    groupKey: str | None = Field(default="", max_length=4000)
    title: str | None = ""
    state: str | None = ""
    message: str | None = ""


Webhook = AlertmanagerWebhook | GrafanaWebhook
ENVELOPES: dict[str, type[AlertmanagerWebhook] | type[GrafanaWebhook]] = {
    Source.ALERTMANAGER: AlertmanagerWebhook,
    Source.GRAFANA: GrafanaWebhook,
    Source.HEARTBEAT: AlertmanagerWebhook,  # the bot's own alerts are written in Alertmanager's format
}


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


@dataclass(frozen=True)
class Unreadable:
    """An alert of a delivery that could not be read: where it was, why, and what it was."""

    position: int
    reason: str
    raw: Any


def _ends(at: datetime | None) -> datetime | None:
    """Alertmanager writes the zero time (0001-01-01) for "not ended"."""
    if at is None or at.year <= 1:
        return None
    return _aware(at)


def labels_fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def group_key(source: str, hook: Webhook) -> str:
    """The group an alert belongs to: the sender's key, or one made of the group's labels."""
    key = hook.groupKey or "labels:" + json.dumps(hook.groupLabels, sort_keys=True)
    return "grafana:" + key if source == Source.GRAFANA else key


def _values(a: GrafanaAlert) -> str | None:
    def shown(v: float | str | None) -> str:
        return "none" if v is None else v if isinstance(v, str) else f"{v:g}"

    if a.values:
        return ", ".join(f"{k}={shown(v)}" for k, v in sorted(a.values.items()))
    return a.valueString or None


def read_alert(source: str, hook: Webhook, raw: Any) -> Incoming:
    """One alert of a delivery whose envelope is `hook`. Raises ValidationError when this alert is unreadable."""
    a: AmAlert | GrafanaAlert
    if source == Source.GRAFANA:
        a = GrafanaAlert.model_validate(raw)
        fingerprint, values = labels_fingerprint(dict(a.labels)), _values(a)
        link = a.generatorURL or a.panelURL or a.dashboardURL or None
    else:
        a = AmAlert.model_validate(raw)
        fingerprint, values, link = a.fingerprint, None, a.generatorURL or None
    return Incoming(
        fingerprint=fingerprint,
        status=a.status,
        labels=dict(a.labels),
        annotations=dict(a.annotations),
        starts_at=_aware(a.startsAt),
        ends_at=_ends(a.endsAt) if a.status == Status.RESOLVED else None,
        generator_url=link,
        values_text=values,
        group_key=group_key(source, hook),
        group_labels=dict(hook.groupLabels),
    )


def problem(exc: ValidationError, prefix: str = "") -> str:
    """A validation error as `field: what is wrong` (the first one), fields joined with dots."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "") or "body"
    message = first["msg"].removeprefix("Value error, ")
    return f"{field}: {message}"


def read(source: str, body: Any) -> tuple[Webhook, list[Incoming], list[Unreadable]]:
    """A delivery's envelope, its readable alerts, and the ones that are not. Raises ValidationError when the
    envelope itself is unreadable."""
    hook = ENVELOPES[source].model_validate(body)
    readable: list[Incoming] = []
    unreadable: list[Unreadable] = []
    for position, raw in enumerate(hook.alerts):
        try:
            readable.append(read_alert(source, hook, raw))
        except ValidationError as exc:
            unreadable.append(Unreadable(position, problem(exc, f"alerts.{position}"), raw))
    return hook, readable, unreadable


def parse(source: str, body: Any) -> list[Incoming]:
    """A stored delivery's readable alerts (unreadable ones were left out when it was received)."""
    return read(source, body)[1]
