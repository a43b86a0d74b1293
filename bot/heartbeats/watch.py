"""How a watched job stands, from its config row and what the bot recorded (pure: values in, values out)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.heartbeats.ids import State
from bot.heartbeats.models import Heartbeat, Run
from bot.opsconfig import Backup
from bot.opsconfig import Heartbeat as Watched

Row = Backup | Watched


@dataclass(frozen=True)
class Standing:
    row: Row
    state: State
    last_run: Run | None
    last_success: Run | None
    due_at: datetime | None  # when it is late without a new success (None: not watched)


def due_at(row: Row, beat: Heartbeat | None) -> datetime | None:
    """When the job is late: its last success plus interval and grace. None when it is not watched, or has never
    succeeded: a job is watched from its first success on (a fresh install, whose backup scripts do not report
    yet, is not paged for them; /backups shows them as "never")."""
    allowance = row.allowance
    if allowance is None or beat is None or beat.last_success_at is None:
        return None
    return beat.last_success_at + allowance


def standing(
    row: Row, beat: Heartbeat | None, last_run: Run | None, last_success: Run | None, now: datetime
) -> Standing:
    due = due_at(row, beat)
    if last_run is not None and not last_run.ok:
        state = State.FAILED
    elif row.allowance is None:
        state = State.NOT_WATCHED
    elif last_success is None or due is None:
        state = State.NEVER
    elif now >= due:
        state = State.LATE
    else:
        state = State.FRESH
    return Standing(row, state, last_run, last_success, due)
