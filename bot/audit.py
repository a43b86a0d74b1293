"""The audit log: who did what, where, when, and how it ended."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from datetime import UTC, datetime
from typing import Any, Required, TypedDict, Unpack

import asyncpg

from bot import log
from bot.db import Database
from bot.errors import DatabaseUnavailable
from bot.metrics import Metrics

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
    request.

    A batch that cannot be written now (the pool busy past its acquire timeout, the database restarting or cut
    off) stays at the head of the queue and is tried again with backoff, so a blip or a loaded machine costs
    delay, not rows. What waits is bounded: past `LIMIT` rows the oldest are dropped (the newest say most about
    what is happening now, when someone reads the log after an outage). A row is lost only then, when PostgreSQL
    refuses that one row, or when `close()` runs out of time; each loss is counted in `zzik_audit_rows_lost`
    (by reason) and logged."""

    MOST = 500  # rows in one statement
    LIMIT = 20_000  # rows held in memory while the database cannot take them (a few MiB)
    BACKOFF = (0.1, 5.0)  # first and longest wait between tries of a batch that could not be written
    CLOSE_WITHIN = 5.0  # seconds close() spends writing what is left before counting it lost (a shutdown waits)

    def __init__(self, db: Database, metrics: Metrics | None = None) -> None:
        self.db = db
        self.metrics = metrics
        self._rows: deque[tuple[Any, ...]] = deque()  # waiting for the next write
        self._batch: list[tuple[Any, ...]] = []  # being written, or waiting to be tried again
        self._writing: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # set by close(): stop waiting out the backoff, try now
        self._closing = False
        self.failed_tries = 0  # writes the database could not take (each retried), for logs and tests

    @property
    def queued(self) -> int:
        """Rows added and not yet written."""
        return len(self._batch) + len(self._rows)

    def add(self, **row: Unpack[Row]) -> None:
        """One row, with `record()`'s keywords."""
        self._rows.append((datetime.now(UTC), *_values(row)))
        if len(self._rows) > self.LIMIT:  # the batch in hand (at most MOST rows) comes on top of the limit
            self._lost("overflow", [self._rows.popleft() for _ in range(len(self._rows) - self.LIMIT)])
        if self._writing is None:
            self._writing = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        delay = self.BACKOFF[0]
        try:
            while self._batch or self._rows:
                if not self._batch:
                    self._batch = [self._rows.popleft() for _ in range(min(self.MOST, len(self._rows)))]
                del self._batch[: await self._insert(self._batch)]
                if not self._batch:
                    delay = self.BACKOFF[0]
                    continue
                self.failed_tries += 1
                if self._closing:
                    return  # close() decides whether to try again
                logger.warning(
                    "audit rows not written yet: retrying", rows=len(self._batch), queued=self.queued, wait=delay
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                delay = min(delay * 2, self.BACKOFF[1])
        finally:
            self._writing = None

    async def _insert(self, rows: list[tuple[Any, ...]]) -> int:
        """How many rows from the head of `rows` are done with: written, or refused one by one (counted). Fewer
        than all when the database could not be reached: the rest are to be tried again."""
        try:
            await self._statement(rows)
        except DatabaseUnavailable:
            return 0
        except Exception:  # a row PostgreSQL refuses must not cost the others: each on its own
            for done, row in enumerate(rows):
                try:
                    await self._statement([row])
                except DatabaseUnavailable:
                    return done
                except Exception as exc:
                    logger.error("audit row not written", action=row[2], outcome=row[3], error=repr(exc))
                    self._count("refused", 1)
        return len(rows)

    async def _statement(self, rows: list[tuple[Any, ...]]) -> None:
        await self.db.execute(
            """INSERT INTO audit_log (at, kind, action, outcome, actor, channel, detail, request_id)
               SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[], $7::jsonb[], $8::text[])""",
            *zip(*rows, strict=True),
        )

    def _lost(self, reason: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        logger.error(
            "audit rows lost",
            reason=reason,
            rows=len(rows),
            first=rows[0][0].isoformat(),
            last=rows[-1][0].isoformat(),
        )
        self._count(reason, len(rows))

    def _count(self, reason: str, n: int) -> None:
        if self.metrics is not None:
            self.metrics.audit_rows_lost.labels(reason).inc(n)

    async def close(self, within: float | None = None) -> None:
        """Write every row added so far, trying for `within` seconds (CLOSE_WITHIN) at most: a shutdown must not
        hang on an unreachable database. What is still unwritten then is counted lost and logged."""
        self._closing = True
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.CLOSE_WITHIN if within is None else within)
        while self.queued and loop.time() < deadline:
            if self._writing is None:
                self._writing = loop.create_task(self._write())
            done, _ = await asyncio.wait({self._writing}, timeout=deadline - loop.time())
            if done and self.queued:  # that try failed: a short pause before the next, within the deadline
                await asyncio.sleep(max(0.0, min(self.BACKOFF[0], deadline - loop.time())))
        if self.queued:
            self._lost("shutdown", [*self._batch, *self._rows])
            self._batch = []
            self._rows.clear()
