"""The audit log: who did what, where, when, and how it ended."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from bot import log
from bot.db import Database
from bot.errors import DatabaseUnavailable

logger = log.get("zzik.audit")


async def record(
    db: Database | asyncpg.Connection,
    *,
    kind: str,
    action: str,
    outcome: str,
    actor: str | None = None,
    channel: str | None = None,
    detail: dict[str, Any] | None = None,
    request_id: str | None = None,
) -> None:
    """Write one audit row. On a pool (not inside a caller's transaction) an outage is logged, not raised:
    the audit must never turn a done action into a reported failure."""
    query = """INSERT INTO audit_log (kind, action, outcome, actor, channel, detail, request_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7)"""
    # PostgreSQL refuses NUL in text and jsonb (`\u0000`): whatever a request carried, the row is written.
    encoded = json.dumps(detail or {}, default=str).replace("\\u0000", "\\ufffd")
    args = (*(_clean(a) for a in (kind, action, outcome, actor, channel)), encoded, request_id)
    if isinstance(db, Database):
        try:
            await db.execute(query, *args)
        except DatabaseUnavailable:
            logger.warning("audit row not written: database unavailable", action=action, outcome=outcome)
        except Exception as exc:  # the audit must never cost the answer or the ack
            logger.error("audit row not written", action=action, outcome=outcome, error=repr(exc))
    else:
        await db.execute(query, *args)


async def ok(
    db: Database | asyncpg.Connection,
    kind: str,
    action: str,
    actor: str | None,
    channel: str | None = None,
    detail: dict[str, Any] | None = None,
    *,
    request_id: str | None = None,
) -> None:
    """The audit row of an action done (outcome ok), in one line at the call site."""
    await record(
        db, kind=kind, action=action, outcome="ok", actor=actor, channel=channel, detail=detail, request_id=request_id
    )


def _clean(value: str | None) -> str | None:
    return value.replace("\x00", "\ufffd")[:500] if isinstance(value, str) else value
