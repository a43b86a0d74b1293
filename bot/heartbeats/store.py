"""Every SQL statement of the heartbeats domain."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from bot.db import Conn, columns, from_row
from bot.heartbeats.models import ChecklistCheck, Heartbeat, Run

_RUN = columns(Run)
_HEARTBEAT = columns(Heartbeat)
_CHECK = columns(ChecklistCheck)


async def locked(conn: asyncpg.Connection, name: str, now: datetime) -> Heartbeat:
    """The job's row, created at first sight, locked for the caller's transaction."""
    await conn.execute(
        "INSERT INTO heartbeats (name, updated_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        name,
        now,
    )
    row = await conn.fetchrow(f"SELECT {_HEARTBEAT} FROM heartbeats WHERE name = $1 FOR UPDATE", name)
    return from_row(Heartbeat, row)


async def heartbeats(conn: Conn) -> dict[str, Heartbeat]:
    rows = await conn.fetch(f"SELECT {_HEARTBEAT} FROM heartbeats")
    return {r["name"]: from_row(Heartbeat, r) for r in rows}


async def add_run(
    conn: asyncpg.Connection,
    *,
    name: str,
    at: datetime,
    ok: bool,
    message: str | None,
    size_bytes: int | None,
    source: str,
    received_at: datetime,
) -> Run:
    row = await conn.fetchrow(
        f"""INSERT INTO heartbeat_runs (name, at, ok, message, size_bytes, source, received_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_RUN}""",
        name,
        at,
        ok,
        message,
        size_bytes,
        source,
        received_at,
    )
    return from_row(Run, row)


async def ran(conn: asyncpg.Connection, run: Run, now: datetime) -> None:
    """The job's last run is `run` (its last success too, if it succeeded and is newer)."""
    await conn.execute(
        """UPDATE heartbeats SET last_run_id = $2, updated_at = $4,
                  last_success_at = CASE WHEN $3 THEN greatest(last_success_at, $5) ELSE last_success_at END
           WHERE name = $1""",
        run.name,
        run.id,
        run.ok,
        now,
        run.at,
    )


async def set_alert(conn: asyncpg.Connection, name: str, starts_at: datetime | None, reason: str | None) -> None:
    await conn.execute(
        "UPDATE heartbeats SET alert_starts_at = $2, alert_reason = $3 WHERE name = $1", name, starts_at, reason
    )


async def last_runs(conn: Conn) -> dict[str, Run]:
    """Each job's last run (the latest reported)."""
    rows = await conn.fetch(f"""SELECT {_RUN} FROM heartbeat_runs WHERE id IN (SELECT last_run_id FROM heartbeats)""")
    return {r["name"]: from_row(Run, r) for r in rows}


async def last_successes(conn: Conn) -> dict[str, Run]:
    """Each job's latest successful run."""
    rows = await conn.fetch(
        f"""SELECT DISTINCT ON (name) {_RUN} FROM heartbeat_runs WHERE ok ORDER BY name, at DESC, id DESC"""
    )
    return {r["name"]: from_row(Run, r) for r in rows}


# -- the daily checklist's backup item ---------------------------------------------------------------------------


async def claim_check(
    conn: asyncpg.Connection, post_id: int, deadline_at: datetime, item: int, now: datetime
) -> ChecklistCheck | None:
    """The first check of a checklist's item (None: it was checked before), for the caller's transaction."""
    row = await conn.fetchrow(
        f"""INSERT INTO heartbeat_checklists (post_id, deadline_at, item, checked_at) VALUES ($1, $2, $3, $4)
            ON CONFLICT (post_id) DO NOTHING RETURNING {_CHECK}""",
        post_id,
        deadline_at,
        item,
        now,
    )
    return from_row(ChecklistCheck, row) if row else None


async def check(conn: Conn, post_id: int, *, for_update: bool = False) -> ChecklistCheck | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_CHECK} FROM heartbeat_checklists WHERE post_id = $1{lock}", post_id)
    return from_row(ChecklistCheck, row) if row else None


async def said_late(conn: asyncpg.Connection, post_id: int, what: str, now: datetime) -> None:
    await conn.execute(
        "UPDATE heartbeat_checklists SET said_late = $2, checked_at = $3 WHERE post_id = $1", post_id, what, now
    )


async def ticked(conn: Conn, post_id: int, now: datetime) -> None:
    await conn.execute(
        "UPDATE heartbeat_checklists SET ticked_at = $2, checked_at = $2 WHERE post_id = $1 AND ticked_at IS NULL",
        post_id,
        now,
    )


async def waiting(conn: Conn, now: datetime) -> list[int]:
    """The checklists whose backup item was said late, not ticked since, and still before their deadline."""
    rows = await conn.fetch(
        """SELECT post_id FROM heartbeat_checklists
           WHERE said_late IS NOT NULL AND ticked_at IS NULL AND deadline_at > $1 ORDER BY post_id""",
        now,
    )
    return [r["post_id"] for r in rows]
