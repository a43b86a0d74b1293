"""Every SQL statement of the runbooks domain."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from bot.db import Conn, columns, from_row, json_value
from bot.runbooks.ids import StepStatus
from bot.runbooks.models import Drill, Run, Step

_COLUMNS = columns(Run)
_DRILL = columns(Drill)


def _run(row: asyncpg.Record) -> Run:
    return from_row(Run, row, steps=json_value, messages=json_value)


async def start(
    conn: Conn,
    *,
    key: str,
    runbook: str,
    name: str,
    steps: list[dict[str, Any]],
    channel: str,
    incident_id: int | None,
    by: str,
    at: datetime,
    drill: bool = False,
) -> tuple[Run, bool]:
    row = await conn.fetchrow(
        f"""INSERT INTO runbook_runs
                (request_key, runbook, name, steps, channel, incident_id, started_by, started_at, drill)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (request_key) DO NOTHING RETURNING {_COLUMNS}""",
        key,
        runbook,
        name,
        json.dumps(steps),
        channel,
        incident_id,
        by,
        at,
        drill,
    )
    if row is not None:
        return _run(row), True
    return _run(await conn.fetchrow(f"SELECT {_COLUMNS} FROM runbook_runs WHERE request_key = $1", key)), False


async def get(conn: Conn, run_id: int) -> Run | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM runbook_runs WHERE id = $1", run_id)
    return _run(row) if row else None


async def set_messages(conn: Conn, run_id: int, messages: list[dict[str, Any]]) -> None:
    await conn.execute("UPDATE runbook_runs SET messages = $2 WHERE id = $1", run_id, json.dumps(messages))


async def lock(conn: Conn, run_id: int) -> None:
    """Hold the run's row until the transaction ends: steps recorded at once take turns."""
    await conn.execute("SELECT 1 FROM runbook_runs WHERE id = $1 FOR UPDATE", run_id)


async def record(conn: Conn, run_id: int, step: int, status: str, reason: str | None, by: str, at: datetime) -> bool:
    result = await conn.execute(
        """INSERT INTO runbook_steps (run_id, step, status, reason, by_user, at) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (run_id, step) DO NOTHING""",
        run_id,
        step,
        status,
        reason,
        by,
        at,
    )
    return result.endswith(" 1")


async def steps(conn: Conn, run_id: int) -> dict[int, Step]:
    rows = await conn.fetch("SELECT step, status, reason, by_user, at FROM runbook_steps WHERE run_id = $1", run_id)
    return {r["step"]: from_row(Step, r, status=StepStatus) for r in rows}


async def finish(conn: Conn, run_id: int, at: datetime) -> bool:
    """Mark the run finished once all its steps are recorded; True only for the call that did it."""
    result = await conn.execute(
        """UPDATE runbook_runs r SET finished_at = $2
           WHERE r.id = $1 AND r.finished_at IS NULL
             AND (SELECT count(*) FROM runbook_steps s WHERE s.run_id = r.id) = jsonb_array_length(r.steps)""",
        run_id,
        at,
    )
    return result.endswith(" 1")


async def in_progress(conn: Conn) -> list[tuple[Run, int]]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS}, (SELECT count(*) FROM runbook_steps s WHERE s.run_id = r.id) AS recorded
            FROM runbook_runs r WHERE finished_at IS NULL ORDER BY started_at"""
    )
    return [(_run(r), r["recorded"]) for r in rows]


# -- drills ----------------------------------------------------------------------------------------------------


async def start_drill(conn: Conn, run: Run, rto: timedelta, rpo: timedelta) -> None:
    await conn.execute(
        """INSERT INTO recovery_drills (run_id, runbook, started_by, started_at, rto, rpo)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (run_id) DO NOTHING""",
        run.id,
        run.runbook,
        run.started_by,
        run.started_at,
        rto,
        rpo,
    )


async def drill(conn: Conn, run_id: int, *, for_update: bool = False) -> Drill | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_DRILL} FROM recovery_drills WHERE run_id = $1{lock}", run_id)
    return from_row(Drill, row) if row else None


async def finish_drill(conn: Conn, run_id: int, at: datetime) -> None:
    await conn.execute(
        "UPDATE recovery_drills SET finished_at = $2 WHERE run_id = $1 AND finished_at IS NULL", run_id, at
    )


async def record_data_age(
    conn: Conn, run_id: int, age: timedelta, by: str, at: datetime, monthly_post_id: int | None
) -> bool:
    """The restored data's age, once per drill (a finished one); True only for the call that recorded it."""
    result = await conn.execute(
        """UPDATE recovery_drills SET data_age = $2, data_age_by = $3, recorded_at = $4, monthly_post_id = $5
           WHERE run_id = $1 AND finished_at IS NOT NULL AND recorded_at IS NULL""",
        run_id,
        age,
        by,
        at,
        monthly_post_id,
    )
    return result.endswith(" 1")


async def set_drill_posted(conn: Conn, run_id: int, *, here: bool = False, monthly: bool = False) -> None:
    await conn.execute(
        """UPDATE recovery_drills SET posted_here = posted_here OR $2, posted_monthly = posted_monthly OR $3
           WHERE run_id = $1""",
        run_id,
        here,
        monthly,
    )


async def drills(conn: Conn, limit: int) -> list[Drill]:
    rows = await conn.fetch(f"SELECT {_DRILL} FROM recovery_drills ORDER BY started_at DESC LIMIT $1", limit)
    return [from_row(Drill, r) for r in rows]
