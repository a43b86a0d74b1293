"""The on-call domain's own records (overrides are the rota's: bot/rota/models.py): requests for urgent cover."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from bot.db import from_row

COVER_ROLES = ("primary", "secondary")


@dataclass(frozen=True)
class CoverRequest:
    """`/oncall cover`: someone needs their role covered now; the first volunteer takes it."""

    id: int
    role: str
    replaced: str | None
    requested_by: str
    requested_at: datetime
    ends_at: datetime
    status: str  # open | taken | cancelled | expired
    taken_by: str | None = None
    taken_at: datetime | None = None
    override_id: int | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None

    @classmethod
    def of(cls, row: asyncpg.Record) -> CoverRequest:
        return from_row(cls, row)

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True)
class CoverPost:
    """One message carrying a request's *I'll cover* button."""

    id: int
    request_id: int
    target: str  # a user id (the DM) or the channel's configured name
    why: str  # rotation | incidents | manager
    channel_id: str | None = None
    ts: str | None = None

    @classmethod
    def of(cls, row: asyncpg.Record) -> CoverPost:
        return from_row(cls, row)
