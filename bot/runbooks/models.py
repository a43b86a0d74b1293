"""The runbooks domain's records: what its store returns and the other domains may import (never its store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.runbooks.ids import StepStatus


@dataclass(frozen=True)
class Run:
    id: int
    runbook: str
    name: str
    steps: list[dict[str, Any]]
    channel: str
    messages: list[dict[str, Any]]
    incident_id: int | None
    started_by: str
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class Step:
    step: int
    status: StepStatus
    reason: str | None
    by_user: str
    at: datetime
