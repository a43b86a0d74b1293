"""The SQL of Slack deliveries: the idempotency keys that make each delivery of one user intent handled once."""

from __future__ import annotations

from datetime import datetime

from bot.db import Database


async def claim(db: Database, key: str) -> bool:
    """True the first time a key is seen, False ever after."""
    claimed = await db.fetchval(
        "INSERT INTO idempotency_keys (key) VALUES ($1) ON CONFLICT (key) DO NOTHING RETURNING true", key
    )
    return claimed is not None


async def prune(db: Database, before: datetime) -> None:
    """Forget the keys claimed before `before`."""
    await db.execute("DELETE FROM idempotency_keys WHERE created_at < $1", before)
