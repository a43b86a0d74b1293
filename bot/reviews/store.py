"""Every SQL statement of the reviews domain."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def claim_post(conn: asyncpg.Connection, key: str, at: datetime) -> bool:
    """True the first time `key` is claimed (the caller posts in the same transaction)."""
    row = await conn.fetchval(
        "INSERT INTO review_posts (key, posted_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING true",
        key,
        at,
    )
    return row is not None
