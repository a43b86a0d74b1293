"""Every SQL statement of the deploys domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from bot.db import Conn, assignments, columns, from_row
from bot.deploys.ids import Kind, Status
from bot.deploys.models import Deploy, Outcomes, Pin

_COLUMNS = columns(Deploy)
_PIN_COLUMNS = columns(Pin)
_UPDATABLE = set(_COLUMNS.split(", ")) - {"id"}


def _deploy(row: asyncpg.Record) -> Deploy:
    return from_row(Deploy, row, kind=Kind, status=Status)


class Locked(Exception):
    def __init__(self, holder: Deploy) -> None:
        super().__init__(holder.ref)
        self.holder = holder


async def create(
    conn: asyncpg.Connection,
    *,
    environment: str,
    version: str,
    requested_by: str,
    request_key: str,
    at: datetime,
    kind: Kind = Kind.DEPLOY,
    status: Status = Status.PENDING,
    forced_reason: str | None = None,
    rollback_of: int | None = None,
    reason: str | None = None,
) -> tuple[Deploy, bool]:
    """(deploy, created). Raises Locked naming the holder when the environment has an active one."""
    existing = await conn.fetchrow(f"SELECT {_COLUMNS} FROM deploys WHERE request_key = $1", request_key)
    if existing is not None:
        return _deploy(existing), False
    holder = await active(conn, environment)
    if holder is not None:
        # The holder may be this very request, committed by its twin (a double click) since the first look.
        again = await conn.fetchrow(f"SELECT {_COLUMNS} FROM deploys WHERE request_key = $1", request_key)
        if again is not None:
            return _deploy(again), False
        raise Locked(holder)
    try:
        async with conn.transaction():
            row = await conn.fetchrow(
                f"""INSERT INTO deploys (environment, version, kind, status, request_key, requested_by, forced_reason,
                                         rollback_of, reason, created_at, started_by, started_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                            CASE WHEN $4 = 'running' THEN $6 END, CASE WHEN $4 = 'running' THEN $10::timestamptz END)
                    RETURNING {_COLUMNS}""",
                environment,
                version,
                kind,
                status,
                request_key,
                requested_by,
                forced_reason,
                rollback_of,
                reason,
                at,
            )
    except asyncpg.UniqueViolationError:
        # A racing request got there first: either the same key, or another deploy took the lock.
        existing = await conn.fetchrow(f"SELECT {_COLUMNS} FROM deploys WHERE request_key = $1", request_key)
        if existing is not None:
            return _deploy(existing), False
        holder = await active(conn, environment)
        if holder is None:  # the winner already finished: no holder to name, the violation stands
            raise
        raise Locked(holder) from None
    return _deploy(row), True


async def get(conn: Conn, deploy_id: int, *, for_update: bool = False) -> Deploy | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM deploys WHERE id = $1{lock}", deploy_id)
    return _deploy(row) if row else None


async def active(conn: Conn, environment: str) -> Deploy | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM deploys WHERE environment = $1 AND status IN ('pending', 'running')", environment
    )
    return _deploy(row) if row else None


async def transition(conn: Conn, deploy_id: int, from_status: tuple[str, ...], **values: Any) -> Deploy | None:
    """Change a deploy only if it is still in one of `from_status`: a double click changes it once."""
    sets, args = assignments(values, _UPDATABLE, first=3)
    row = await conn.fetchrow(
        f"""UPDATE deploys SET {sets} WHERE id = $1 AND status = ANY($2::text[]) RETURNING {_COLUMNS}""",
        deploy_id,
        list(from_status),
        *args,
    )
    return _deploy(row) if row else None


async def set_values(conn: Conn, deploy_id: int, **values: Any) -> Deploy:
    sets, args = assignments(values, _UPDATABLE)
    row = await conn.fetchrow(f"UPDATE deploys SET {sets} WHERE id = $1 RETURNING {_COLUMNS}", deploy_id, *args)
    return _deploy(row)


async def validated_on_staging(conn: Conn, version: str) -> Deploy | None:
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM deploys WHERE environment = 'staging' AND version = $1 AND status = 'succeeded'
            AND validated_at IS NOT NULL ORDER BY validated_at DESC LIMIT 1""",
        version,
    )
    return _deploy(row) if row else None


async def succeeded(conn: Conn, environment: str, limit: int = 50) -> list[Deploy]:
    """What ran on an environment, newest first (deploys and rollbacks that succeeded)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM deploys WHERE environment = $1 AND status = 'succeeded'
            ORDER BY finished_at DESC, id DESC LIMIT $2""",
        environment,
        limit,
    )
    return [_deploy(r) for r in rows]


async def finished_between(conn: Conn, environment: str, since: datetime, until: datetime) -> list[Deploy]:
    """Deploys and rollbacks that finished on an environment in a window, newest first (at most 10)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM deploys WHERE environment = $1 AND status = 'succeeded'
            AND finished_at >= $2 AND finished_at <= $3 ORDER BY finished_at DESC, id DESC LIMIT 10""",
        environment,
        since,
        until,
    )
    return [_deploy(r) for r in rows]


async def history(conn: Conn, environment: str | None, limit: int) -> list[Deploy]:
    # Two statements, not `$1 IS NULL OR environment = $1`: each walks its own index and stops at `limit`.
    if environment is None:
        rows = await conn.fetch(f"SELECT {_COLUMNS} FROM deploys ORDER BY created_at DESC, id DESC LIMIT $1", limit)
    else:
        rows = await conn.fetch(
            f"""SELECT {_COLUMNS} FROM deploys WHERE environment = $1
                ORDER BY created_at DESC, id DESC LIMIT $2""",
            environment,
            limit,
        )
    return [_deploy(r) for r in rows]


async def open_watches(conn: Conn, now: datetime) -> list[Deploy]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM deploys WHERE watch_until > $1 AND watch_result IS NULL ORDER BY watch_until""",
        now,
    )
    return [_deploy(r) for r in rows]


async def watching(conn: Conn, at: datetime) -> Deploy | None:
    """The deploy whose post-deployment watch window contains `at` (it had finished by then); the latest."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM deploys
            WHERE kind = 'deploy' AND status = 'succeeded' AND watch_until IS NOT NULL
              AND finished_at <= $1 AND watch_until >= $1
            ORDER BY finished_at DESC LIMIT 1""",
        at,
    )
    return _deploy(row) if row else None


async def checks(conn: Conn, deploy_id: int) -> dict[tuple[str, str], tuple[str, datetime]]:
    rows = await conn.fetch(
        "SELECT list, item, ticked_by, ticked_at FROM deploy_checks WHERE deploy_id = $1", deploy_id
    )
    return {(r["list"], r["item"]): (r["ticked_by"], r["ticked_at"]) for r in rows}


async def tick(conn: Conn, deploy_id: int, list_name: str, item: str, by: str, at: datetime) -> bool:
    tick = (deploy_id, list_name, item, by, at)
    status = await conn.execute(
        """INSERT INTO deploy_checks (deploy_id, list, item, ticked_by, ticked_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT DO NOTHING""",
        *tick,
    )
    return status.endswith(" 1")


async def untick(conn: Conn, deploy_id: int, list_name: str, item: str) -> bool:
    status = await conn.execute(
        "DELETE FROM deploy_checks WHERE deploy_id = $1 AND list = $2 AND item = $3", deploy_id, list_name, item
    )
    return status.endswith(" 1")


# -- pins: an environment a rollback put back to an older version ------------------------------------------------


async def add_pin(
    conn: Conn, rollback: Deploy, replaced: Deploy, owner: str, incident: tuple[int, str] | None, at: datetime
) -> Pin:
    """The rollback's pin, written with the rollback (held only once it succeeds)."""
    incident_id, incident_ref = incident if incident else (None, None)
    row = await conn.fetchrow(
        f"""INSERT INTO deploy_pins (rollback_id, environment, version, from_id, from_version, owner, incident_id,
                                     incident_ref, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (rollback_id) DO UPDATE SET rollback_id = EXCLUDED.rollback_id RETURNING {_PIN_COLUMNS}""",
        rollback.id,
        rollback.environment,
        rollback.version,
        replaced.id,
        replaced.version,
        owner,
        incident_id,
        incident_ref,
        at,
    )
    return from_row(Pin, row)


async def pin(conn: Conn, rollback_id: int) -> Pin | None:
    row = await conn.fetchrow(f"SELECT {_PIN_COLUMNS} FROM deploy_pins WHERE rollback_id = $1", rollback_id)
    return from_row(Pin, row) if row else None


async def pinned(conn: Conn) -> list[Pin]:
    """The pins held now, one per environment at most, by environment."""
    rows = await conn.fetch(
        f"""SELECT {_PIN_COLUMNS} FROM deploy_pins WHERE pinned_at IS NOT NULL AND cleared_at IS NULL
            ORDER BY environment, pinned_at DESC"""
    )
    return [from_row(Pin, r) for r in rows]


async def hold_pin(conn: Conn, rollback_id: int, at: datetime) -> Pin | None:
    """The rollback succeeded: its pin holds from now."""
    row = await conn.fetchrow(
        f"""UPDATE deploy_pins SET pinned_at = $2 WHERE rollback_id = $1 AND pinned_at IS NULL
            RETURNING {_PIN_COLUMNS}""",
        rollback_id,
        at,
    )
    return from_row(Pin, row) if row else None


async def clear_pins(conn: Conn, environment: str, version: str, deploy_id: int, at: datetime) -> list[Pin]:
    """A deploy of `version` succeeded on `environment`: the pins held there to another version are cleared."""
    rows = await conn.fetch(
        f"""UPDATE deploy_pins SET cleared_at = $4, cleared_by = $3
            WHERE environment = $1 AND version <> $2 AND pinned_at IS NOT NULL AND cleared_at IS NULL
            RETURNING {_PIN_COLUMNS}""",
        environment,
        version,
        deploy_id,
        at,
    )
    return [from_row(Pin, r) for r in rows]


async def set_pin_note(conn: Conn, rollback_id: int, note_ts: str) -> None:
    await conn.execute("UPDATE deploy_pins SET note_ts = $2 WHERE rollback_id = $1", rollback_id, note_ts)


async def outcomes_between(conn: Conn, starts: datetime, ends: datetime) -> list[Outcomes]:
    """Per environment: the deploys, rollbacks and failures that finished in [starts, ends)."""
    rows = await conn.fetch(
        """SELECT environment,
                count(*) FILTER (WHERE kind = 'deploy' AND status = 'succeeded') AS deploys,
                count(*) FILTER (WHERE kind = 'rollback' AND status = 'succeeded') AS rollbacks,
                count(*) FILTER (WHERE status = 'failed') AS failed
            FROM deploys WHERE finished_at >= $1 AND finished_at < $2 GROUP BY environment ORDER BY environment""",
        starts,
        ends,
    )
    return [Outcomes(r["environment"], r["deploys"], r["rollbacks"], r["failed"]) for r in rows]
