"""Every SQL statement of the PagerDuty domain."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from bot.db import Conn, columns, from_row
from bot.pagerduty.models import Delivery, Event, Mirror, Owner

_COLUMNS = columns(Event)


async def add(
    conn: Conn, about: dict[str, int], key: str, action: str, severity: str, body: dict[str, Any], at: datetime
) -> int | None:
    """The event's id, or None when this change was already recorded. `about` is {"incident_id": n} or
    {"alert_id": n}: whose event it is."""
    return await conn.fetchval(
        """INSERT INTO pagerduty_events (incident_id, alert_id, event_key, action, severity, body, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_key) DO NOTHING RETURNING id""",
        about.get("incident_id"),
        about.get("alert_id"),
        key,
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


async def alert_events(conn: Conn, alert_id: int) -> list[Event]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM pagerduty_events WHERE alert_id = $1 ORDER BY id", alert_id)
    return [Event.of(r) for r in rows]


async def lock_incident(conn: asyncpg.Connection, incident_id: int) -> None:
    """One sender per incident at a time (replicas and retries alike), so events go out once and in order."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('pagerduty'), $1::int)", incident_id)


async def lock_alert(conn: asyncpg.Connection, alert_id: int) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('pagerduty.alert'), $1::int)", alert_id)


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


# -- webhooks in ------------------------------------------------------------------------------------------------------


async def add_delivery(
    conn: Conn,
    event_id: str,
    event_type: str,
    occurred_at: datetime,
    body: dict[str, Any],
    at: datetime,
    *,
    outcome: str | None = None,
) -> bool:
    """False when this event was already received (a redelivery). With an `outcome` it is stored as processed
    already (an event the bot records but does not apply)."""
    row = await conn.fetchval(
        """INSERT INTO pagerduty_webhooks (event_id, event_type, occurred_at, body, received_at, outcome, processed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING RETURNING event_id""",
        event_id,
        event_type,
        occurred_at,
        json.dumps(body),
        at,
        outcome,
        at if outcome is not None else None,
    )
    return row is not None


async def claim_delivery(conn: asyncpg.Connection, event_id: str) -> Delivery | None:
    """The delivery, locked, unless it was processed already."""
    row = await conn.fetchrow(
        f"SELECT {columns(Delivery)} FROM pagerduty_webhooks WHERE event_id = $1 AND processed_at IS NULL FOR UPDATE",
        event_id,
    )
    return Delivery.of(row) if row else None


async def delivery_done(conn: Conn, event_id: str, incident_id: int | None, outcome: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE pagerduty_webhooks SET incident_id = $2, outcome = $3, processed_at = $4 WHERE event_id = $1",
        event_id,
        incident_id,
        outcome,
        at,
    )


async def delivery_failed(conn: Conn, event_id: str, error: str) -> tuple[int, str] | None:
    """Record a failed try to apply the delivery: (how many have failed so far, its event type); None when the
    delivery is not there."""
    row = await conn.fetchrow(
        """UPDATE pagerduty_webhooks SET attempts = attempts + 1, error = $2 WHERE event_id = $1
           RETURNING attempts, event_type""",
        event_id,
        error,
    )
    return (row["attempts"], row["event_type"]) if row else None


async def deliveries(conn: Conn) -> list[Delivery]:
    rows = await conn.fetch(f"SELECT {columns(Delivery)} FROM pagerduty_webhooks ORDER BY received_at, event_id")
    return [Delivery.of(r) for r in rows]


async def matched(conn: Conn, pd_incident_id: str) -> Owner | None:
    """Whose the PagerDuty incident is, as recorded when an earlier event of it carried the bot's dedup key."""
    row = await conn.fetchrow(
        "SELECT incident_id, alert_id FROM pagerduty_matches WHERE pd_incident_id = $1", pd_incident_id
    )
    return Owner(row["incident_id"], row["alert_id"]) if row else None


async def triggered_with(conn: Conn, dedup_key: str) -> Owner | None:
    """Whose trigger the bot sent with exactly this dedup key, if it sent one."""
    row = await conn.fetchrow(
        """SELECT incident_id, alert_id FROM pagerduty_events
           WHERE action = 'trigger' AND body ->> 'dedup_key' = $1 ORDER BY id LIMIT 1""",
        dedup_key,
    )
    return Owner(row["incident_id"], row["alert_id"]) if row else None


async def record_match(conn: Conn, pd_incident_id: str, dedup_key: str, owner: Owner, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO pagerduty_matches (pd_incident_id, dedup_key, incident_id, alert_id, matched_at)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (pd_incident_id) DO NOTHING""",
        pd_incident_id,
        dedup_key,
        owner.incident_id,
        owner.alert_id,
        at,
    )


async def mirror(conn: Conn, incident_id: int, *, for_update: bool = False) -> Mirror | None:
    row = await conn.fetchrow(
        f"SELECT {columns(Mirror)} FROM pagerduty_incidents WHERE incident_id = $1"
        + (" FOR UPDATE" if for_update else ""),
        incident_id,
    )
    return from_row(Mirror, row) if row else None


async def set_mirror(
    conn: Conn, incident_id: int, pd_incident_id: str, html_url: str | None, status: str, at: datetime
) -> None:
    await conn.execute(
        """INSERT INTO pagerduty_incidents (incident_id, pd_incident_id, html_url, status, status_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (incident_id) DO UPDATE SET pd_incident_id = $2,
               html_url = COALESCE($3, pagerduty_incidents.html_url), status = $4, status_at = $5""",
        incident_id,
        pd_incident_id,
        html_url,
        status,
        at,
    )


async def prune_deliveries(conn: Conn, before: datetime) -> None:
    """Forget processed deliveries received before `before` (their event ids: redeliveries stop within 48 h)."""
    await conn.execute("DELETE FROM pagerduty_webhooks WHERE processed_at IS NOT NULL AND received_at < $1", before)
