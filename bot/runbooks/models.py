"""The runbooks domain's records: what its store returns and the other domains may import (never its store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
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
    drill: bool = False  # `/runbook drill <slug>`: timed, held against recovery.rto and .rpo (a Drill row)


@dataclass(frozen=True)
class Step:
    step: int
    status: StepStatus
    reason: str | None
    by_user: str
    at: datetime


@dataclass(frozen=True)
class Drill:
    """A recovery drill: its run's restore time and the restored data's age against the targets of the time."""

    run_id: int
    runbook: str
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    rto: timedelta
    rpo: timedelta
    data_age: timedelta | None
    data_age_by: str | None
    recorded_at: datetime | None
    posted_here: bool
    monthly_post_id: int | None
    posted_monthly: bool

    @property
    def restore_time(self) -> timedelta | None:
        """Start to last step."""
        return self.finished_at - self.started_at if self.finished_at else None

    @property
    def rto_met(self) -> bool | None:
        restore = self.restore_time
        return None if restore is None else restore <= self.rto

    @property
    def rpo_met(self) -> bool | None:
        return None if self.data_age is None else self.data_age <= self.rpo
