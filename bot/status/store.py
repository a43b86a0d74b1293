"""Every SQL statement of the status domain."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from bot.db import Conn, from_row
from bot.status.models import Draft, Published, Update

_PUBLISHED = """SELECT s.incident_id, i.number, i.severity, s.public_id, s.public_title, s.status, s.components,
                       s.published_at, s.updated_at, COALESCE(s.resolved_at, i.resolved_at) AS resolved_at,
                       i.declared_at
                FROM status_incidents s JOIN incidents i ON i.id = s.incident_id"""


def _published(row: asyncpg.Record) -> Published:
    return from_row(Published, row, components=list)


async def published(conn: Conn, incident_id: int, *, for_update: bool = False) -> Published | None:
    lock = " FOR UPDATE OF s" if for_update else ""
    row = await conn.fetchrow(f"{_PUBLISHED} WHERE s.incident_id = $1{lock}", incident_id)
    return _published(row) if row else None


async def publish(conn: asyncpg.Connection, incident_id: int, at: datetime, author: str, draft: Draft) -> Update | None:
    """One public update (and the incident's public record, created by the first). None if the key was used."""
    await conn.execute(
        """INSERT INTO status_incidents (incident_id, public_title, status, components, published_at, updated_at,
                                         resolved_at)
           SELECT i.id, COALESCE($2, i.title), $3, COALESCE($4, '{}'::text[]), $5, $5,
                  CASE WHEN $3 = 'resolved' THEN $5::timestamptz END
           FROM incidents i WHERE i.id = $1
           ON CONFLICT (incident_id) DO NOTHING""",
        incident_id,
        draft.title,
        draft.status,
        draft.components,
        at,
    )
    row = await conn.fetchrow(
        """INSERT INTO status_updates (incident_id, publish_key, at, status, body, author)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (publish_key) DO NOTHING
           RETURNING id, incident_id, at, status, body, author""",
        incident_id,
        draft.key,
        at,
        draft.status,
        draft.body,
        author,
    )
    if row is None:
        return None
    await conn.execute(
        """UPDATE status_incidents
           SET status = $2, updated_at = $3, public_title = COALESCE($4, public_title),
               components = COALESCE($5, components),
               resolved_at = CASE WHEN $2 = 'resolved' THEN COALESCE(resolved_at, $3) END
           WHERE incident_id = $1""",
        incident_id,
        draft.status,
        at,
        draft.title,
        draft.components,
    )
    return from_row(Update, row)


async def updates(conn: Conn, incident_ids: list[int]) -> list[Update]:
    rows = await conn.fetch(
        """SELECT id, incident_id, at, status, body, author FROM status_updates
           WHERE incident_id = ANY($1::bigint[]) ORDER BY at DESC, id DESC""",
        incident_ids,
    )
    return [from_row(Update, r) for r in rows]


async def update(conn: Conn, update_id: int) -> Update | None:
    row = await conn.fetchrow(
        "SELECT id, incident_id, at, status, body, author FROM status_updates WHERE id = $1", update_id
    )
    return from_row(Update, row) if row else None


async def recent_updates(conn: Conn, limit: int) -> list[Update]:
    rows = await conn.fetch(
        """SELECT id, incident_id, at, status, body, author FROM status_updates ORDER BY at DESC, id DESC LIMIT $1""",
        limit,
    )
    return [from_row(Update, r) for r in rows]


async def for_page(conn: Conn, since: datetime) -> list[Published]:
    """Every published incident still going or that was going at any time since `since`, newest first."""
    rows = await conn.fetch(
        f"""{_PUBLISHED}
            WHERE s.status <> 'resolved' OR COALESCE(s.resolved_at, i.resolved_at, s.updated_at) >= $1
            ORDER BY i.declared_at DESC""",
        since,
    )
    return [_published(r) for r in rows]


async def last_update_at(conn: Conn, incident_id: int) -> datetime | None:
    return await conn.fetchval("SELECT max(at) FROM status_updates WHERE incident_id = $1", incident_id)


async def stakeholder_post(conn: Conn, key: str) -> str | None:
    return await conn.fetchval("SELECT ts FROM stakeholder_posts WHERE post_key = $1", key)


async def record_stakeholder_post(conn: Conn, key: str, incident_id: int, channel: str, ts: str, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO stakeholder_posts (post_key, incident_id, channel, ts, posted_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (post_key) DO NOTHING""",
        key,
        incident_id,
        channel,
        ts,
        at,
    )
