"""PagerDuty's v3 webhooks: the signature and the payload, as PagerDuty's developer documentation gives them.

Each delivery carries one event: `{"event": {"id", "event_type", "resource_type", "occurred_at", "agent",
"client", "data"}}`; for incident events `data` is the incident (`id`, `number`, `status`, `incident_key`, `title`,
`html_url`, `assignees`, ...). `X-PagerDuty-Signature` is `v1=<hex HMAC-SHA256 of the raw body>`, several of them
comma-separated while a subscription's secret is rotated: any one that matches will do.

A delivery is read (`read`) before it is validated: NUL, which PostgreSQL's jsonb and text refuse, becomes U+FFFD
in every string and key; nesting deeper than MAX_DEPTH, non-finite numbers and a time without an offset are
refused naming the field. The rest is kept as PagerDuty sent it, fields the bot does not read included.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import pydantic_core
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

MAX_SIGNATURES = 10
MAX_DEPTH = 32  # PagerDuty's incident events nest 4 levels; a body nested deeper is not one of them
NUL, REPLACEMENT = "\x00", "\ufffd"


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


class Unreadable(ValueError):
    """A delivery that is not JSON the bot can keep: `field` names where (dotted, as pydantic's errors)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def read(body: bytes) -> Any:
    """The JSON of a delivery, fit to store as jsonb: NUL replaced by U+FFFD in every string and key. Raises
    Unreadable when it is not JSON, nests deeper than MAX_DEPTH or holds a number that is not finite."""
    try:
        value = pydantic_core.from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        if "recursion limit" in str(exc):  # the parser's own bound (200 levels), past ours: find where
            raise Unreadable(_field(_deep_path(body)), f"nested deeper than {MAX_DEPTH} levels") from None
        raise Unreadable("body", f"not JSON ({exc})") from None
    return _clean(value, ())


def _clean(value: Any, path: tuple[str | int, ...]) -> Any:
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT)
    if isinstance(value, float) and not math.isfinite(value):
        raise Unreadable(_field(path), "a number out of range")
    if isinstance(value, dict | list) and len(path) >= MAX_DEPTH:
        raise Unreadable(_field(path), f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        return {k.replace(NUL, REPLACEMENT): _clean(v, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, (*path, i)) for i, v in enumerate(value)]
    return value


_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}:,]')


def _deep_path(body: bytes) -> tuple[str | int, ...]:
    """The keys and indexes down to the first container nested deeper than MAX_DEPTH, read from the raw text (for
    a body too deep for the parser). Only the prefix up to there is scanned."""
    stack: list[list[Any]] = []  # per open container: its bracket and the key or index now being read
    last = ""
    for token in _TOKEN.finditer(body):
        text = token[0]
        if text.startswith(b'"'):
            last = text[1:-1].decode("utf-8", "replace")
        elif text == b":":
            if stack and stack[-1][0] == b"{":
                stack[-1][1] = last
        elif text == b",":
            if stack and stack[-1][0] == b"[":
                stack[-1][1] += 1
        elif text in (b"{", b"["):
            if len(stack) >= MAX_DEPTH:
                break
            stack.append([text, 0 if text == b"[" else ""])
        elif stack:
            stack.pop()
    return tuple(key for _, key in stack)


def _field(path: tuple[str | int, ...], shown: int = 8) -> str:
    """A dotted field name (pydantic's style), cut short when it goes on and on."""
    name = ".".join(str(p) for p in path[:shown]) or "body"
    return name + "…" if len(path) > shown else name


def _sane_time(value: datetime) -> datetime:
    # Far outside PagerDuty's real times: one overflows when converted to UTC, and a future one would make every
    # later event of its incident look stale.
    if not 2000 <= value.year <= 2099:  # its own year: converting year 9999 to UTC could overflow
        raise ValueError("not between the years 2000 and 2099")
    return value


When = Annotated[AwareDatetime, AfterValidator(_sane_time)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Reference(_Model):
    """A user, service or integration reference (`agent`, `assignees[]`)."""

    id: str = Field(default="", max_length=100)
    type: str = Field(default="", max_length=100)
    summary: str = Field(default="", max_length=500)
    html_url: str | None = Field(default=None, max_length=2000)


class ResolveReason(_Model):
    """Why PagerDuty resolved an incident, when not by hand: so far only a merge (`merge_resolve_reason`, with the
    incident it was merged into)."""

    type: str = Field(default="", max_length=100)
    incident: Reference | None = None


class IncidentData(_Model):
    id: str = Field(min_length=1, max_length=100)
    type: str = Field(default="incident", max_length=100)
    number: int | None = None
    status: str | None = Field(default=None, max_length=50)
    incident_key: str | None = Field(default=None, max_length=255)
    title: str = Field(default="", max_length=1024)
    html_url: str | None = Field(default=None, max_length=2000)
    assignees: list[Reference] = Field(default=[], max_length=100)
    resolve_reason: ResolveReason | None = None

    @property
    def merged_into(self) -> Reference | None:
        """The incident this one was merged into, when PagerDuty resolved it by a merge."""
        reason = self.resolve_reason
        return reason.incident if reason is not None and reason.type == "merge_resolve_reason" else None


class Head(_Model):
    """What every v3 event has, whatever its type (`pagey.ping`, `service.*`, notes ...): enough to record it."""

    id: str = Field(min_length=1, max_length=200)
    event_type: str = Field(min_length=1, max_length=100)
    resource_type: str = Field(default="incident", max_length=100)
    occurred_at: When


class Envelope(_Model):
    event: Head


class Event(Head):
    """An incident event the bot follows (`EventType`)."""

    agent: Reference | None = None
    data: IncidentData


class Webhook(_Model):
    event: Event


def signature(secret: str, body: bytes) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(header: str, body: bytes, secret: str | None) -> bool:
    """Any `v1=` signature in the header matches the body under the secret (compared in constant time)."""
    if not secret or not header:
        return False
    expected = signature(secret, body).encode()
    given = [s.strip() for s in header.split(",")][:MAX_SIGNATURES]
    return any(hmac.compare_digest(expected, s.encode()) for s in given if s.startswith("v1="))
