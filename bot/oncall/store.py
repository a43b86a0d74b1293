"""Every SQL statement of the on-call domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from bot.db import Conn, columns, from_row
from bot.oncall.models import CoverPost, CoverRequest
from bot.rota.models import Override

_COLUMNS = columns(Override)
_COVER = columns(CoverRequest)
_POST = columns(CoverPost)


async def lock_role(conn: asyncpg.Connection, role: str) -> None:
    """Serialise override changes for one role until the transaction ends (replicas included)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('zzik.oncall.' || $1))", role)


async def first_overlap(conn: asyncpg.Connection, role: str, starts: datetime, ends: datetime) -> Override | None:
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM oncall_overrides
            WHERE role = $1 AND cancelled_at IS NULL AND status = 'accepted' AND starts_at < $3 AND ends_at > $2
            ORDER BY starts_at LIMIT 1""",
        role,
        starts,
        ends,
    )
    return Override.of(row) if row else None


async def insert(
    conn: asyncpg.Connection,
    role: str,
    user_id: str,
    starts: datetime,
    ends: datetime,
    created_by: str,
    *,
    approver: str | None = None,
) -> Override:
    """An accepted override, or (with an approver) a request that counts for nothing until accepted."""
    row = await conn.fetchrow(
        f"""INSERT INTO oncall_overrides (role, user_id, starts_at, ends_at, created_by, status, approver)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {_COLUMNS}""",
        role,
        user_id,
        starts,
        ends,
        created_by,
        "requested" if approver else "accepted",
        approver,
    )
    return Override.of(row)


async def decide(conn: asyncpg.Connection, override_id: int, status: str, by: str, at: datetime) -> Override | None:
    """Accept or decline a request once; None if it was already answered or cancelled."""
    row = await conn.fetchrow(
        f"""UPDATE oncall_overrides SET status = $2, decided_by = $3, decided_at = $4
            WHERE id = $1 AND status = 'requested' AND cancelled_at IS NULL RETURNING {_COLUMNS}""",
        override_id,
        status,
        by,
        at,
    )
    return Override.of(row) if row else None


async def get(conn: Conn, override_id: int) -> Override | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM oncall_overrides WHERE id = $1", override_id)
    return Override.of(row) if row else None


async def cancel(conn: asyncpg.Connection, override_id: int, by: str, at: datetime) -> bool:
    status = await conn.execute(
        "UPDATE oncall_overrides SET cancelled_at = $3, cancelled_by = $2 WHERE id = $1 AND cancelled_at IS NULL",
        override_id,
        by,
        at,
    )
    return status.endswith(" 1")


# -- Calendar feed links (bot/oncall/calendar.py): only each token's sha256 is stored ------------------------


@dataclass(frozen=True)
class CalendarLink:
    """One live feed link of a person: their own shifts (`person`) or the whole team's (`team`)."""

    user_id: str
    scope: str
    created_at: datetime
    sent_at: datetime | None


async def lock_calendar(conn: asyncpg.Connection, user_id: str) -> None:
    """Serialise one person's link changes until the transaction ends (a double command issues once)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('zzik.oncall.calendar.' || $1))", user_id)


async def live_links(conn: Conn, user_id: str) -> list[CalendarLink]:
    rows = await conn.fetch(
        """SELECT user_id, scope, created_at, sent_at FROM oncall_calendar_tokens
           WHERE user_id = $1 AND revoked_at IS NULL ORDER BY scope""",
        user_id,
    )
    return [from_row(CalendarLink, r) for r in rows]


async def revoke_links(conn: Conn, user_id: str, at: datetime, hashes: list[bytes] | None = None) -> int:
    """Revoke a person's live links (only those with these hashes, when given); how many were live."""
    status = await conn.execute(
        """UPDATE oncall_calendar_tokens SET revoked_at = $2
           WHERE user_id = $1 AND revoked_at IS NULL AND ($3::bytea[] IS NULL OR token_hash = ANY($3::bytea[]))""",
        user_id,
        at,
        hashes,
    )
    return int(status.split()[-1])


async def add_link(conn: asyncpg.Connection, user_id: str, scope: str, token_hash: bytes, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO oncall_calendar_tokens (user_id, scope, token_hash, created_at) VALUES ($1, $2, $3, $4)",
        user_id,
        scope,
        token_hash,
        at,
    )


async def links_sent(conn: Conn, hashes: list[bytes], at: datetime) -> None:
    await conn.execute(
        "UPDATE oncall_calendar_tokens SET sent_at = $2 WHERE token_hash = ANY($1::bytea[]) AND revoked_at IS NULL",
        hashes,
        at,
    )


async def link_owner(conn: Conn, token_hash: bytes) -> tuple[str, str] | None:
    """(user id, scope) of a live link, or None (unknown or revoked)."""
    row = await conn.fetchrow(
        "SELECT user_id, scope FROM oncall_calendar_tokens WHERE token_hash = $1 AND revoked_at IS NULL", token_hash
    )
    return (row["user_id"], row["scope"]) if row else None


# -- urgent cover -----------------------------------------------------------------------------------------------


async def next_override_start(
    conn: asyncpg.Connection, role: str, after: datetime, before: datetime
) -> datetime | None:
    """When the next accepted override of `role` starts within (after, before), if one does."""
    return await conn.fetchval(
        """SELECT min(starts_at) FROM oncall_overrides
           WHERE role = $1 AND cancelled_at IS NULL AND status = 'accepted' AND starts_at > $2 AND starts_at < $3""",
        role,
        after,
        before,
    )


async def expire_ended_covers(conn: asyncpg.Connection, role: str, at: datetime) -> None:
    """Open requests of `role` whose time is over count as expired (their expiry job may not have run yet)."""
    await conn.execute(
        """UPDATE oncall_cover_requests SET status = 'expired', closed_at = $2
           WHERE role = $1 AND status = 'open' AND ends_at <= $2""",
        role,
        at,
    )


async def open_cover(conn: Conn, role: str) -> CoverRequest | None:
    row = await conn.fetchrow(f"SELECT {_COVER} FROM oncall_cover_requests WHERE role = $1 AND status = 'open'", role)
    return CoverRequest.of(row) if row else None


async def open_covers_asked_by(conn: Conn, user: str) -> list[CoverRequest]:
    rows = await conn.fetch(
        f"SELECT {_COVER} FROM oncall_cover_requests WHERE requested_by = $1 AND status = 'open' ORDER BY id", user
    )
    return [CoverRequest.of(r) for r in rows]


async def insert_cover(
    conn: asyncpg.Connection, role: str, replaced: str | None, by: str, at: datetime, ends: datetime
) -> CoverRequest:
    row = await conn.fetchrow(
        f"""INSERT INTO oncall_cover_requests (role, replaced, requested_by, requested_at, ends_at)
            VALUES ($1, $2, $3, $4, $5) RETURNING {_COVER}""",
        role,
        replaced,
        by,
        at,
        ends,
    )
    return CoverRequest.of(row)


async def cover(conn: Conn, cover_id: int) -> CoverRequest | None:
    row = await conn.fetchrow(f"SELECT {_COVER} FROM oncall_cover_requests WHERE id = $1", cover_id)
    return CoverRequest.of(row) if row else None


async def cover_status_locked(conn: asyncpg.Connection, cover_id: int) -> str | None:
    """The request's status, its row share-locked until the transaction ends (a take or a cancel waits)."""
    return await conn.fetchval("SELECT status FROM oncall_cover_requests WHERE id = $1 FOR SHARE", cover_id)


async def take_cover(conn: asyncpg.Connection, cover_id: int, by: str, at: datetime) -> CoverRequest | None:
    """The first press wins: open -> taken in one conditional UPDATE (a second one at the same time waits for the
    row and then finds it taken). None when it is no longer open or its time is over."""
    row = await conn.fetchrow(
        f"""UPDATE oncall_cover_requests SET status = 'taken', taken_by = $2, taken_at = $3
            WHERE id = $1 AND status = 'open' AND ends_at > $3 RETURNING {_COVER}""",
        cover_id,
        by,
        at,
    )
    return CoverRequest.of(row) if row else None


async def set_cover_override(conn: asyncpg.Connection, cover_id: int, override_id: int) -> None:
    await conn.execute("UPDATE oncall_cover_requests SET override_id = $2 WHERE id = $1", cover_id, override_id)


async def close_cover(
    conn: asyncpg.Connection, cover_id: int, status: str, by: str | None, at: datetime
) -> CoverRequest | None:
    """Cancel or expire an open request; None when it was no longer open."""
    row = await conn.fetchrow(
        f"""UPDATE oncall_cover_requests SET status = $2, closed_by = $3, closed_at = $4
            WHERE id = $1 AND status = 'open' RETURNING {_COVER}""",
        cover_id,
        status,
        by,
        at,
    )
    return CoverRequest.of(row) if row else None


async def add_cover_post(conn: asyncpg.Connection, cover_id: int, target: str, why: str) -> CoverPost | None:
    """A message to post for the request; None when that target already has one."""
    row = await conn.fetchrow(
        f"""INSERT INTO oncall_cover_posts (request_id, target, why) VALUES ($1, $2, $3)
            ON CONFLICT (request_id, target) DO NOTHING RETURNING {_POST}""",
        cover_id,
        target,
        why,
    )
    return CoverPost.of(row) if row else None


async def cover_post(conn: Conn, post_id: int) -> CoverPost | None:
    row = await conn.fetchrow(f"SELECT {_POST} FROM oncall_cover_posts WHERE id = $1", post_id)
    return CoverPost.of(row) if row else None


async def cover_posts(conn: Conn, cover_id: int) -> list[CoverPost]:
    rows = await conn.fetch(f"SELECT {_POST} FROM oncall_cover_posts WHERE request_id = $1 ORDER BY id", cover_id)
    return [CoverPost.of(r) for r in rows]


async def cover_posted(conn: asyncpg.Connection, post_id: int, channel_id: str, ts: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE oncall_cover_posts SET channel_id = $2, ts = $3, posted_at = $4 WHERE id = $1",
        post_id,
        channel_id,
        ts,
        at,
    )
