"""The pagerduty domain's records: what its store returns and the other domains may import (never its store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from bot.db import from_row, json_value


@dataclass(frozen=True)
class Event:
    id: int
    incident_id: int | None
    event_key: str
    action: str
    severity: str
    body: dict[str, Any]
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    rejected_at: datetime | None
    alert_id: int | None = None

    @property
    def settled(self) -> bool:
        return self.sent_at is not None or self.rejected_at is not None

    @classmethod
    def of(cls, row: asyncpg.Record) -> Event:
        return from_row(cls, row, body=json_value)


@dataclass(frozen=True)
class Delivery:
    event_id: str
    event_type: str
    occurred_at: datetime
    body: dict[str, Any]
    incident_id: int | None
    outcome: str | None
    processed_at: datetime | None
    attempts: int = 0
    error: str | None = None

    @classmethod
    def of(cls, row: asyncpg.Record) -> Delivery:
        return from_row(cls, row, body=json_value)


@dataclass(frozen=True)
class Owner:
    """Whose PagerDuty incident it is: one of the bot's incidents or one of its paged alerts."""

    incident_id: int | None = None
    alert_id: int | None = None


@dataclass(frozen=True)
class Mirror:
    """What PagerDuty last told of the incident it holds for one of ours."""

    incident_id: int
    pd_incident_id: str
    html_url: str | None
    status: str
    status_at: datetime
