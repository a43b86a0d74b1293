"""The deploys domain's records: what its store returns and the other domains may import (never its store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.deploys.ids import ACTIVE, Kind, Status


@dataclass(frozen=True)
class Deploy:
    id: int
    environment: str
    version: str
    kind: Kind
    status: Status
    requested_by: str
    forced_reason: str | None
    rollback_of: int | None
    reason: str | None
    channel: str | None
    message_ts: str | None
    started_by: str | None
    started_at: datetime | None
    finished_at: datetime | None
    finished_by: str | None
    url: str | None
    detail: str | None
    validated_at: datetime | None
    watch_until: datetime | None
    watch_result: str | None
    created_at: datetime
    pipeline_accepted_at: datetime | None = None  # the pipeline answered 2xx to the trigger
    outcome_unknown_at: datetime | None = None  # told: the trigger's outcome is unknown (a crash mid-call)

    @property
    def ref(self) -> str:
        what = "Rollback" if self.kind == Kind.ROLLBACK else "Deploy"
        return f"{what} #{self.id} of {self.version} to {self.environment}"

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass(frozen=True)
class Outcomes:
    """What finished on one environment in a period (a review's figures)."""

    environment: str
    deploys: int  # deploys that succeeded
    rollbacks: int  # rollbacks that succeeded
    failed: int  # deploys and rollbacks that failed
