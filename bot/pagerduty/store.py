"""Every SQL statement of the PagerDuty domain."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from bot.db import Conn


@dataclass(frozen=True)
class Event:
    id: int
    incident_id: int
    event_key: str
    action: str
    severity: str
    body: dict[str, Any]
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    rejected_at: datetime | None

    @property
    def settled(self) -> bool:
        return self.sent_at is not None or self.rejected_at is not None

    @classmethod
    def of(cls, row: asyncpg.Record) -> Event:
        values = dict(row)
        values["body"] = json.loads(values["body"])
        return cls(**{k: values[k] for k in cls.__dataclass_fields__})


_COLUMNS = "id, incident_id, event_key, action, severity, body, attempts, last_error, sent_at, rejected_at"


async def add(
    conn: Conn, incident_id: int, event_key: str, action: str, severity: str, body: dict[str, Any], at: datetime
) -> int | None:
    """The event's id, or None when this change was already recorded."""
    return await conn.fetchval(
        """INSERT INTO pagerduty_events (incident_id, event_key, action, severity, body, created_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_key) DO NOTHING RETURNING id""",
        incident_id,
        event_key,
        action,
        severity,
        json.dumps(body),
        at,
    )


async def events(conn: Conn, incident_id: int) -> list[Event]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM pagerduty_events WHERE incident_id = $1 ORDER BY id",
        incident_id,
    )
    return [Event.of(r) for r in rows]


async def lock_incident(conn: asyncpg.Connection, incident_id: int) -> None:
    """One sender per incident at a time (replicas and retries alike), so events go out once and in order."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('pagerduty'), $1::int)", incident_id)


async def sent(conn: Conn, event_id: int, at: datetime) -> None:
    await conn.execute(
        """UPDATE pagerduty_events SET sent_at = $2, attempts = attempts + 1, last_error = NULL
           WHERE id = $1""",
        event_id,
        at,
    )


async def rejected(conn: Conn, event_id: int, error: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE pagerduty_events SET rejected_at = $2, attempts = attempts + 1, last_error = $3 WHERE id = $1",
        event_id,
        at,
        error,
    )


async def failed(conn: Conn, event_id: int, error: str) -> None:
    await conn.execute(
        "UPDATE pagerduty_events SET attempts = attempts + 1, last_error = $2 WHERE id = $1", event_id, error
    )
