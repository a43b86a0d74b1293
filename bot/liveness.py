"""Is this process still doing its work? What a liveness probe asks (GET /livez), never the database.

A restart mends a wedged process, never a database outage: so liveness looks only at the process. The event
loop answers the probe itself (a blocked loop answers nothing, and the probe's timeout fails it). The job
runner must be running, must keep starting passes, and no pass may run without end. While PostgreSQL is down
a pass is skipped at once (or gives up at the pool's timeouts), so an outage never makes liveness fail;
readiness (/healthz) is what says the database is down.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.jobs import JobRunner

# Far beyond the longest pass a database outage can cause (a pool acquire gives up after 5 s, a query after
# 30 s): only a runner that is truly stuck is reported, and a liveness failure restarts the process.
STALE_AFTER_SECONDS = 600.0


@dataclass
class Liveness:
    stale_after: float = STALE_AFTER_SECONDS

    def state(self, jobs: JobRunner) -> tuple[dict[str, object], list[str]]:
        """The job runner as the probe reports it, and what is wrong with it (nothing: alive)."""
        now = time.monotonic()
        started, finished = jobs.pass_started, jobs.pass_finished
        body: dict[str, object] = {
            "running": jobs.running,
            "last_pass_finished_seconds_ago": None if finished is None else round(now - finished, 1),
        }
        if not jobs.running:
            return body, ["the job runner is not running"]
        problems = []
        last_start = started if started is not None else jobs.started_at
        if last_start is not None and now - last_start > self.stale_after:
            problems.append(f"the job runner has not started a pass for {now - last_start:.0f} s")
        in_flight = started is not None and (finished is None or finished < started)
        if in_flight and started is not None and now - started > self.stale_after:
            problems.append(f"a job pass has been running for {now - started:.0f} s")
        return body, problems
