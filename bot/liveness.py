"""Is this process still doing its work? What a liveness probe asks (GET /livez), never the database.

A restart mends a wedged process, never a database outage: so liveness looks only at the process. The event
loop answers the probe itself (a blocked loop answers nothing, and the probe's timeout fails it). The job runner
is watched through its scheduler's own events: the scheduler must be running, must keep waking up to tick,
and no tick may run without end. While PostgreSQL is down a tick is skipped at once (or gives up at the pool's
timeouts), so an outage never makes liveness fail; readiness (/healthz) is what says the database is down.
"""

from __future__ import annotations

import time
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)

# Far beyond the longest tick a database outage can cause (a pool acquire gives up after 5 s, a query after
# 30 s): only a runner that is truly stuck is reported, and a liveness failure restarts the process.
STALE_AFTER_SECONDS = 600.0


class Liveness:
    def __init__(self, stale_after: float = STALE_AFTER_SECONDS) -> None:
        self.stale_after = stale_after
        self._scheduler: Any = None
        self._woke = 0.0  # the scheduler last fired the tick (or skipped it: one still running)
        self._started: float | None = None  # the tick in flight started (None: none since the last finished)
        self._finished: float | None = None

    def watch(self, scheduler: Any) -> None:
        """Follow the job runner's scheduler (JobRunner.start made it; its only job is the tick)."""
        self._scheduler = scheduler
        self._woke = time.monotonic()
        self._started = self._finished = None
        scheduler.add_listener(
            self._event, EVENT_JOB_SUBMITTED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
        )

    def _event(self, event: JobEvent) -> None:
        now = time.monotonic()
        if event.code in (EVENT_JOB_SUBMITTED, EVENT_JOB_MAX_INSTANCES):
            self._woke = now
            if event.code == EVENT_JOB_SUBMITTED:
                self._started = now
        else:
            self._started, self._finished = None, now

    def state(self) -> tuple[dict[str, object], list[str]]:
        """The job runner as the probe reports it, and what is wrong (nothing: alive)."""
        now = time.monotonic()
        running = self._scheduler is not None and bool(self._scheduler.running)
        body: dict[str, object] = {
            "running": running,
            "last_tick_finished_seconds_ago": None if self._finished is None else round(now - self._finished, 1),
        }
        if not running:
            return body, ["the job runner is not running"]
        problems = []
        if now - self._woke > self.stale_after:
            problems.append(f"the job runner has not ticked for {now - self._woke:.0f} s")
        if self._started is not None and now - self._started > self.stale_after:
            problems.append(f"a job tick has been running for {now - self._started:.0f} s")
        return body, problems
