"""The home domain's records: what its store returns and the other domains may import (never its store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class MyIncident:
    number: int
    severity: str
    title: str  # safe mrkdwn
    stage: str
    channel_id: str | None
    declared_at: datetime
    role: str  # commander | reporter


@dataclass(frozen=True)
class MyAction:
    id: int
    number: int
    text: str  # safe mrkdwn
    channel_id: str | None


@dataclass(frozen=True)
class OpenChecklist:
    kind: str
    posted_at: datetime
    deadline_at: datetime
    channel: str | None
    ts: str | None
    open_items: list[str]
