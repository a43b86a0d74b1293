"""The rota's one read: the accepted overrides that put someone on call. The on-call domain writes them
(bot/oncall/store.py); everything that asks who is on call reads them here."""

from __future__ import annotations

from datetime import datetime

from bot.db import Conn, columns
from bot.rota.models import Override

_COLUMNS = columns(Override)


async def overlapping(db: Conn, starts: datetime, ends: datetime) -> list[Override]:
    """Live accepted overrides that touch [starts, ends), any role, in start order."""
    rows = await db.fetch(
        f"""SELECT {_COLUMNS} FROM oncall_overrides
            WHERE cancelled_at IS NULL AND status = 'accepted' AND starts_at < $2 AND ends_at > $1
            ORDER BY starts_at, id""",
        starts,
        ends,
    )
    return [Override.of(r) for r in rows]
