"""The heartbeats domain's records: what its store returns and the other domains may import (never its store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Run:
    """One run a scheduled job reported (or Prometheus showed)."""

    id: int
    name: str
    at: datetime
    ok: bool
    message: str | None
    size_bytes: int | None
    source: str
    received_at: datetime


@dataclass(frozen=True)
class Heartbeat:
    """What the bot knows of one watched job."""

    name: str
    last_success_at: datetime | None
    last_run_id: int | None
    alert_starts_at: datetime | None  # the open alert's episode; None: no alert open
    alert_reason: str | None
    updated_at: datetime


@dataclass(frozen=True)
class ChecklistCheck:
    """A daily checklist whose backup item the bot checked."""

    post_id: int
    deadline_at: datetime
    item: int
    checked_at: datetime
    said_late: str | None
    ticked_at: datetime | None
