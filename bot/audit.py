"""The audit log: who did what, where, when, and how it ended."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any, Required, TypedDict, Unpack

import asyncpg

from bot import log
from bot.db import Database
from bot.errors import DatabaseUnavailable

logger = log.get("zzik.audit")


class Row(TypedDict, total=False):
    """An audit row, as `record()` and `Writer.add()` take it."""

    kind: Required[str]
    action: Required[str]
    outcome: Required[str]
    actor: str | None
    channel: str | None
    detail: dict[str, Any] | None
    request_id: str | None


async def record(db: Database | asyncpg.Connection, **row: Unpack[Row]) -> None:
    """Write one audit row. On a pool (not inside a caller's transaction) an outage is logged, not raised:
    the audit must never turn a done action into a reported failure."""
    query = """INSERT INTO audit_log (kind, action, outcome, actor, channel, detail, request_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7)"""
    args = _values(row)
    if isinstance(db, Database):
        try:
            await db.execute(query, *args)
        except DatabaseUnavailable:
            logger.warning("audit row not written: database unavailable", action=row["action"], outcome=row["outcome"])
        except Exception as exc:  # the audit must never cost the answer or the ack
            logger.error("audit row not written", action=row["action"], outcome=row["outcome"], error=repr(exc))
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


def _values(row: Row) -> tuple[Any, ...]:
    """A row's values as written. PostgreSQL refuses NUL in text and jsonb (`\\u0000`): whatever a request
    carried, the row is written. A keyword that is not a column is a bug, refused rather than dropped."""
    if unknown := row.keys() - _FIELDS:
        raise TypeError(f"not audit_log columns: {sorted(unknown)}")
    encoded = json.dumps(row.get("detail") or {}, default=str).replace("\\u0000", "\\ufffd")
    texts = (row["kind"], row["action"], row["outcome"], row.get("actor"), row.get("channel"))
    return (*(_clean(a) for a in texts), encoded, row.get("request_id"))


_FIELDS = Row.__required_keys__ | Row.__optional_keys__


def _clean(value: str | None) -> str | None:
    return value.replace("\x00", "\ufffd")[:500] if isinstance(value, str) else value


class Writer:
    """The audit rows of Slack requests, written in the background, many to a statement when they come fast.

    `add()` never waits: a row goes to PostgreSQL at once when no write is in flight; rows that arrive while one
    is become the next write, one INSERT and one commit for all of them (group commit). So an idle bot writes
    each row as soon as it has it, and a busy one spends one round trip and one WAL flush per batch, not per
    request. `close()` writes what is left. An outage loses the rows it covers, logged, as `record()` does."""

    MOST = 500  # rows in one statement

    def __init__(self, db: Database) -> None:
        self.db = db
        self._rows: list[tuple[Any, ...]] = []
        self._writing: asyncio.Task[None] | None = None

    def add(self, **row: Unpack[Row]) -> None:
        """One row, with `record()`'s keywords."""
        self._rows.append((datetime.now(UTC), *_values(row)))
        if self._writing is None:
            self._writing = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        try:
            while self._rows:
                rows, self._rows = self._rows[: self.MOST], self._rows[self.MOST :]
                await self._insert(rows)
        finally:
            self._writing = None

    async def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        columns = list(zip(*rows, strict=True))
        try:
            await self.db.execute(
                """INSERT INTO audit_log (at, kind, action, outcome, actor, channel, detail, request_id)
                   SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[],
                                        $6::text[], $7::jsonb[], $8::text[])""",
                *columns,
            )
        except DatabaseUnavailable:
            logger.warning("audit rows not written: database unavailable", rows=len(rows))
        except Exception as exc:  # the audit must never cost an answer; a row PostgreSQL refuses must not cost others
            if len(rows) == 1:
                logger.error("audit row not written", action=rows[0][2], outcome=rows[0][3], error=repr(exc))
                return
            for row in rows:
                await self._insert([row])

    async def close(self) -> None:
        """Write every row added so far."""
        while self._writing is not None:
            await asyncio.shield(self._writing)
