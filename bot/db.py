"""PostgreSQL: the pool, outage handling, and configuration mistakes told apart from outages."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import asyncpg

from bot import log
from bot.errors import DatabaseMisconfigured, DatabaseUnavailable

R = TypeVar("R")
logger = log.get("zzik.db")

# What asyncpg raises when the server is gone or going: these mean "try again later", not "bug".
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.InterfaceError,
)

# What no retry mends: the URL names a database, role or password the server does not know.
MISCONFIGURED_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.InvalidCatalogNameError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    asyncpg.exceptions.InvalidPasswordError,
)


# Told when a change of the current task (and the tasks it starts) has committed: the Slack request being handled
# (bot/slack/middleware.py) acks only once its change is stored, and after that never says "nothing was done".
on_commit: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar("zzik_on_commit", default=None)

_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


@functools.lru_cache(maxsize=512)
def _writes(query: str) -> bool:
    return _WRITES.search(query) is not None


def _committed() -> None:
    listener = on_commit.get()
    if listener is not None:
        listener()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A released connection needs no reset query: nothing here leaves session state behind (no LISTEN, no
    session-level advisory lock or SET on pooled connections; migrations lock on a dedicated one). asyncpg still
    rolls back an open transaction first. This saves a round trip on every release."""


class Database:
    """An asyncpg pool plus a DSN for dedicated connections (advisory locks, migrations)."""

    def __init__(self, dsn: str, *, schema: str | None = None, min_size: int = 2, max_size: int = 10) -> None:
        self.dsn = dsn
        self.schema = schema
        self.min_size = min_size
        self.max_size = max_size
        self.pool: asyncpg.Pool | None = None

    @property
    def server_settings(self) -> dict[str, str]:
        settings = {"application_name": "zzik-bot", "timezone": "UTC"}
        if self.schema:
            settings["search_path"] = self.schema
        return settings

    async def connect_once(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn, server_settings=self.server_settings, timeout=5)

    async def open(self, *, wait_seconds: float = 30.0) -> None:
        """Open the pool, retrying with backoff for up to wait_seconds; DatabaseUnavailable after."""
        deadline = time.monotonic() + wait_seconds
        delay, attempt = 0.5, 0
        while True:
            attempt += 1
            try:
                self.pool = await asyncpg.create_pool(
                    self.dsn,
                    min_size=self.min_size,
                    max_size=self.max_size,
                    server_settings=self.server_settings,
                    timeout=5,
                    command_timeout=30,
                    max_inactive_connection_lifetime=300,
                    reset=_keep_session,
                )
                return
            except MISCONFIGURED_ERRORS as exc:
                raise DatabaseMisconfigured(f"DATABASE_URL: {exc}") from None
            except OUTAGE_ERRORS as exc:
                left = deadline - time.monotonic()
                logger.warning("database not reachable", attempt=attempt, error=type(exc).__name__)
                if left <= 0:
                    raise DatabaseUnavailable(
                        f"database unreachable after {attempt} tries in {wait_seconds:.0f}s: {exc}"
                    ) from None
                await asyncio.sleep(min(delay, left))
                delay = min(delay * 2, 5.0)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        if self.pool is None:
            raise DatabaseUnavailable("database pool is not open")
        try:
            async with self.pool.acquire(timeout=5) as conn:
                yield conn
        except OUTAGE_ERRORS as exc:
            raise DatabaseUnavailable(str(exc) or type(exc).__name__) from exc

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.connection() as conn:
            async with conn.transaction():
                yield conn
            _committed()

    # A statement on the pool commits on its own: one that writes tells `on_commit` as a transaction does.
    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return await self._statement(query, lambda conn: conn.fetch(query, *args))

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        return await self._statement(query, lambda conn: conn.fetchrow(query, *args))

    async def fetchval(self, query: str, *args: Any) -> Any:
        return await self._statement(query, lambda conn: conn.fetchval(query, *args))

    async def execute(self, query: str, *args: Any) -> str:
        return await self._statement(query, lambda conn: conn.execute(query, *args))

    async def _statement(self, query: str, run: Callable[[asyncpg.Connection], Awaitable[R]]) -> R:
        async with self.connection() as conn:
            result = await run(conn)
        if _writes(query):
            _committed()
        return result

    async def ping(self) -> bool:
        try:
            return await asyncio.wait_for(self.fetchval("SELECT 1"), timeout=2) == 1
        except PING_ERRORS:
            return False


PING_ERRORS: tuple[type[BaseException], ...] = (DatabaseUnavailable, *OUTAGE_ERRORS)

# What a store function takes: a connection (inside the caller's transaction) or the pool.
Conn = asyncpg.Connection | Database

T = TypeVar("T")


def json_value(value: Any) -> Any:
    """A json/jsonb column's value (asyncpg hands them over as text)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def from_row(cls: type[T], row: Mapping[str, Any], **convert: Callable[[Any], Any]) -> T:
    """A dataclass from a record: each field from the column of its name, through `convert[name]` when given
    (`json_value` for json columns, `list` for arrays). A field with a default may be missing from the row."""
    values: dict[str, Any] = {}
    present = set(row.keys())
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in present:
            value = row[f.name]
            values[f.name] = convert[f.name](value) if f.name in convert and value is not None else value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise KeyError(f"{cls.__name__}.{f.name}: no column {f.name!r} in the row")
    return cls(**values)


def assignments(values: Mapping[str, Any], updatable: Iterable[str], *, first: int = 2) -> tuple[str, list[Any]]:
    """The SET list of an UPDATE of `values` (`name = $first, ...`) and its arguments, every name checked first
    against the table's `updatable` columns: one that is not raises ValueError, so no caller's key ever reaches
    the SQL text unchecked."""
    unknown = sorted(set(values) - set(updatable))
    if unknown:
        raise ValueError(f"not updatable columns: {unknown}")
    names = list(values)
    return ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=first)), [values[n] for n in names]


def columns(cls: type, prefix: str = "") -> str:
    """The dataclass's fields as a SELECT list (`prefix` e.g. "i." qualifies each column)."""
    return ", ".join(prefix + f.name for f in dataclasses.fields(cls))
