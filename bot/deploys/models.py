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

    @property
    def deployed_by(self) -> str:
        """Who deployed it: who pressed *Start deploy*, else who asked for it."""
        return self.started_by or self.requested_by


@dataclass(frozen=True)
class Pin:
    """An environment a rollback put back to `version` (vX) from `from_version` (vY): held from the rollback's
    success (`pinned_at`) until a deploy of another version there succeeds (`cleared_at`, `cleared_by`)."""

    rollback_id: int
    environment: str
    version: str
    from_id: int
    from_version: str
    owner: str  # who deployed vY: fix forward or revert it
    incident_id: int | None
    incident_ref: str | None
    note_ts: str | None  # no incident: the fix-forward note in vY's deploy thread
    created_at: datetime
    pinned_at: datetime | None
    cleared_at: datetime | None
    cleared_by: int | None

    @property
    def held(self) -> bool:
        return self.pinned_at is not None and self.cleared_at is None


@dataclass(frozen=True)
class Outcomes:
    """What finished on one environment in a period (a review's figures)."""

    environment: str
    deploys: int  # deploys that succeeded
    rollbacks: int  # rollbacks that succeeded
    failed: int  # deploys and rollbacks that failed
