"""Every SQL statement of the maintenance domain."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from bot.db import Conn, columns, from_row, json_value
from bot.maintenance.models import Item, Post

_COLUMNS = columns(Post)


def _post(row: asyncpg.Record) -> Post:
    return from_row(Post, row, items=json_value)


async def create(
    conn: asyncpg.Connection,
    *,
    kind: str,
    due_at: datetime,
    items: list[str],
    at: datetime,
    deadline_at: datetime,
    late: bool,
    posted_by: str | None,
) -> tuple[Post, bool]:
    row = await conn.fetchrow(
        f"""INSERT INTO maintenance_posts (kind, due_at, items, posted_at, deadline_at, late, posted_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (kind, due_at) DO NOTHING RETURNING {_COLUMNS}""",
        kind,
        due_at,
        json.dumps(items),
        at,
        deadline_at,
        late,
        posted_by,
    )
    if row is None:
        existing = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM maintenance_posts WHERE kind = $1 AND due_at = $2", kind, due_at
        )
        return _post(existing), False
    await conn.executemany(
        "INSERT INTO maintenance_items (post_id, item) VALUES ($1, $2)", [(row["id"], i) for i in range(len(items))]
    )
    return _post(row), True


async def get(conn: Conn, post_id: int, *, for_update: bool = False) -> Post | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM maintenance_posts WHERE id = $1{lock}", post_id)
    return _post(row) if row else None


async def set_message(conn: Conn, post_id: int, channel: str, ts: str) -> None:
    await conn.execute("UPDATE maintenance_posts SET channel = $2, ts = $3 WHERE id = $1", post_id, channel, ts)


async def items(conn: Conn, post_id: int) -> list[Item]:
    rows = await conn.fetch(
        "SELECT item, assignee, done_by, done_at, note FROM maintenance_items WHERE post_id = $1 ORDER BY item",
        post_id,
    )
    return [Item(r["item"], r["assignee"], r["done_by"], r["done_at"], r["note"]) for r in rows]


async def mark(
    conn: Conn, post_id: int, item: int, by: str | None, at: datetime | None, note: str | None = None
) -> bool:
    """Tick (by, at, with an optional note) or untick (None, None); True if it changed anything."""
    if by is None:
        result = await conn.execute(
            "UPDATE maintenance_items SET done_by = NULL, done_at = NULL, note = NULL "
            "WHERE post_id = $1 AND item = $2 AND done_by IS NOT NULL",
            post_id,
            item,
        )
    else:
        result = await conn.execute(
            "UPDATE maintenance_items SET done_by = $3, done_at = $4, note = $5 "
            "WHERE post_id = $1 AND item = $2 AND done_by IS NULL",
            post_id,
            item,
            by,
            at,
            note,
        )
    return result.endswith(" 1")


async def assign(conn: Conn, post_id: int, item: int, user: str) -> bool:
    result = await conn.execute(
        "UPDATE maintenance_items SET assignee = $3 WHERE post_id = $1 AND item = $2 AND assignee IS DISTINCT FROM $3",
        post_id,
        item,
        user,
    )
    return result.endswith(" 1")


async def set_completed(conn: Conn, post_id: int, at: datetime | None) -> None:
    await conn.execute("UPDATE maintenance_posts SET completed_at = $2 WHERE id = $1", post_id, at)


async def set_nudged(conn: Conn, post_id: int, at: datetime) -> bool:
    result = await conn.execute(
        "UPDATE maintenance_posts SET nudged_at = $2 WHERE id = $1 AND nudged_at IS NULL", post_id, at
    )
    return result.endswith(" 1")


async def latest(conn: Conn, kind: str) -> Post | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM maintenance_posts WHERE kind = $1 ORDER BY posted_at DESC, id DESC LIMIT 1", kind
    )
    return _post(row) if row else None


async def missed_between(conn: Conn, starts: datetime, ends: datetime, now: datetime) -> list[Post]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM maintenance_posts
            WHERE deadline_at >= $1 AND deadline_at < $2 AND deadline_at <= $3 AND completed_at IS NULL
            ORDER BY deadline_at""",
        starts,
        ends,
        now,
    )
    return [_post(r) for r in rows]
