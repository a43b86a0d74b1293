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

    @property
    def is_backup(self) -> bool:
        return isinstance(self.row, Backup)


def due_at(row: Row, beat: Heartbeat | None, now: datetime) -> datetime | None:
    """When the job is late: its last success (else when the bot began watching it) plus interval and grace."""
    allowance = row.allowance
    if allowance is None:
        return None
    since = (beat.last_success_at or beat.watched_since) if beat is not None else now
    return since + allowance


def standing(
    row: Row, beat: Heartbeat | None, last_run: Run | None, last_success: Run | None, now: datetime
) -> Standing:
    due = due_at(row, beat, now)
    if last_run is not None and not last_run.ok:
        state = State.FAILED
    elif due is None:
        state = State.NOT_WATCHED
    elif last_success is None:
        state = State.NEVER
    elif now >= due:
        state = State.LATE
    else:
        state = State.FRESH
    return Standing(row, state, last_run, last_success, due)
