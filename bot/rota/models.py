"""The rota domain's records: what its store returns and the other domains may import (never its store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from bot.db import from_row


@dataclass(frozen=True)
class Override:
    id: int
    role: str
    user_id: str
    starts_at: datetime
    ends_at: datetime
    created_by: str
    cancelled_at: datetime | None = None
    status: str = "accepted"  # requested | accepted | declined: only accepted overrides put anyone on call
    approver: str | None = None

    @classmethod
    def of(cls, row: asyncpg.Record) -> Override:
        return from_row(cls, row)

    def active_at(self, at: datetime) -> bool:
        return self.status == "accepted" and self.cancelled_at is None and self.starts_at <= at < self.ends_at
