"""Scheduled work that runs exactly once, however many replicas tick.

Every replica runs an APScheduler AsyncIOScheduler whose only job is a short `tick()`. A tick:
1. turns recurring schedules that are due into run rows (`job_schedules` claimed FOR UPDATE SKIP LOCKED;
   a schedule missed while every replica was down yields one run, marked late, not one per missed tick);
2. claims due runs (`job_runs` FOR UPDATE SKIP LOCKED, status pending -> running) and runs their handlers.
`(job, run_key)` is unique, so the same run cannot exist twice; a claimed row cannot be claimed twice.
A replica that dies mid-run leaves its row `running`; after LEASE another replica takes it over, so a
handler must be safe to run again (domains use their own unique keys for what they post).

Domains declare their jobs in their own `jobs.py`: a table of one-call jobs for `runner.declare(services, {...})`
(`call(flows.f, "payload_key", ...)`), and `runner.recurring(...)` / `runner.handler(...)` for the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot import log
from bot.clock import Clock
from bot.db import Database
from bot.errors import DatabaseUnavailable

logger = log.get("zzik.jobs")

LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 5
BATCH = 20
ROUTINE_LATENESS = timedelta(minutes=1)  # a recurring run later than this is logged at info


@dataclass(frozen=True)
class JobRun:
    id: int
    job: str
    run_key: str
    due_at: datetime
    payload: dict[str, Any]
    attempts: int
    now: datetime

    @property
    def lateness(self) -> timedelta:
        return self.now - self.due_at

    def is_late(self, grace: timedelta = timedelta(minutes=5)) -> bool:
        return self.lateness > grace


Handler = Callable[[JobRun], Awaitable[None]]
# What a `Call` passes its flow after `services`: a payload key ("name?" when the payload may lack it: None
# then), or a function of the run (`the_run`, `due_at`).
Arg = str | Callable[[JobRun], Any]


def the_run(run: JobRun) -> JobRun:
    return run


def due_at(run: JobRun) -> datetime:
    return run.due_at


@dataclass(frozen=True)
class Call:
    """A job whose run is one flow call: `await flow(services, *args)`, each arg taken from the run."""

    flow: Callable[..., Awaitable[Any]]
    args: tuple[Arg, ...] = ()
    lease: timedelta | None = None

    def bind(self, services: Any) -> Handler:
        async def handler(run: JobRun) -> None:
            await self.flow(services, *(_arg(run, arg) for arg in self.args))

        handler.__name__ = getattr(self.flow, "__name__", "handler")
        return handler


def call(flow: Callable[..., Awaitable[Any]], *args: Arg, lease: timedelta | None = None) -> Call:
    return Call(flow, args, lease)


def _arg(run: JobRun, arg: Arg) -> Any:
    if callable(arg):
        return arg(run)
    if arg.endswith("?"):
        return run.payload.get(arg[:-1])
    return run.payload[arg]


@dataclass
class Recurring:
    name: str
    spec: str  # a stable description of the schedule; a new spec recomputes next_due_at
    next_due: Callable[[datetime], datetime]  # first due time strictly after the given instant
    handler: Handler


@dataclass
class JobRunner:
    db: Database
    clock: Clock
    replica_id: str
    on_finished: Callable[[str, str], None] = lambda job, outcome: None
    handlers: dict[str, Handler] = field(default_factory=dict)
    leases: dict[str, timedelta] = field(default_factory=dict)  # jobs whose crashed runs resume sooner
    recurring_jobs: dict[str, Recurring] = field(default_factory=dict)
    scheduler: AsyncIOScheduler | None = None
    _ticking: asyncio.Task | None = None

    # -- declaring -------------------------------------------------------------------------------

    def handler(self, name: str, *, lease: timedelta | None = None) -> Callable[[Handler], Handler]:
        """Declare a job. `lease`: how long a run may go without a heartbeat before another replica takes
        it over (a running handler renews it; the default suits work that may wait on slow services)."""

        def decorator(fn: Handler) -> Handler:
            if name in self.handlers:
                raise ValueError(f"job {name} declared twice")
            self.handlers[name] = fn
            if lease is not None:
                self.leases[name] = lease
            return fn

        return decorator

    def declare(self, services: Any, jobs: Mapping[str, Call]) -> None:
        """Declare a domain's one-call jobs from its table: job name -> `call(flow, *args)`."""
        for name, job in jobs.items():
            self.handler(name, lease=job.lease)(job.bind(services))

    def recurring(
        self, name: str, *, spec: str, next_due: Callable[[datetime], datetime]
    ) -> Callable[[Handler], Handler]:
        def decorator(fn: Handler) -> Handler:
            self.handler(name)(fn)
            self.recurring_jobs[name] = Recurring(name, spec, next_due, fn)
            return fn

        return decorator

    # -- one-off runs ----------------------------------------------------------------------------

    async def schedule_once(
        self,
        conn: asyncpg.Connection,
        job: str,
        key: str,
        due_at: datetime,
        payload: dict[str, Any] | None = None,
    ) -> bool:
        """Add a run in the caller's transaction; False if (job, key) already exists."""
        if job not in self.handlers:
            raise ValueError(f"no handler declared for job {job}")
        lease = self.leases.get(job)
        row = await conn.fetchval(
            """INSERT INTO job_runs (job, run_key, due_at, payload, lease_seconds) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (job, run_key) DO NOTHING RETURNING id""",
            job,
            key,
            due_at,
            json.dumps(payload or {}),
            lease.total_seconds() if lease else None,
        )
        return row is not None

    async def run_now(self, job: str, key: str) -> bool:
        """Claim one pending run and run it here, now (after the transaction that scheduled it committed).
        False if a ticker got to it first; it runs there. A crash mid-run leaves it to the lease."""
        row = await self.db.fetchrow(
            """UPDATE job_runs SET status = 'running', claimed_by = $3, claimed_at = $4, attempts = attempts + 1
               WHERE job = $1 AND run_key = $2 AND status = 'pending'
               RETURNING id, job, run_key, due_at, payload, attempts""",
            job,
            key,
            self.replica_id,
            self.clock.now(),
        )
        if row is None:
            return False
        run = JobRun(
            row["id"],
            row["job"],
            row["run_key"],
            row["due_at"],
            json.loads(row["payload"]),
            row["attempts"],
            self.clock.now(),
        )
        await self._run(run)
        return True

    async def active(self, job: str, key_prefix: str) -> bool:
        """A run of `job` with this key prefix is pending, or running under a live lease."""
        return bool(
            await self.db.fetchval(
                """SELECT true FROM job_runs
                   WHERE job = $1 AND starts_with(run_key, $2)
                     AND (status = 'pending' OR (status = 'running' AND claimed_at >= $3::timestamptz
                          - make_interval(secs => coalesce(lease_seconds, $4))))
                   LIMIT 1""",
                job,
                key_prefix,
                self.clock.now(),
                LEASE.total_seconds(),
            )
        )

    async def cancel(self, conn: asyncpg.Connection, job: str, key: str) -> bool:
        status = await conn.execute(
            "UPDATE job_runs SET status = 'cancelled' WHERE job = $1 AND run_key = $2 AND status = 'pending'",
            job,
            key,
        )
        return status.endswith(" 1")

    async def cancel_prefix(self, conn: asyncpg.Connection, job: str, key_prefix: str) -> int:
        """Cancel every pending run of `job` whose key starts with `key_prefix`."""
        status = await conn.execute(
            """UPDATE job_runs SET status = 'cancelled'
               WHERE job = $1 AND starts_with(run_key, $2) AND status = 'pending'""",
            job,
            key_prefix,
        )
        return int(status.split()[-1])

    # -- ticking ---------------------------------------------------------------------------------

    async def tick(self) -> int:
        """One pass: promote due schedules, run due runs. Returns how many runs this replica ran."""
        try:
            await self._promote_schedules()
            runs = await self._claim()
        except DatabaseUnavailable as exc:
            logger.warning("job tick skipped: database unavailable", error=str(exc))
            return 0
        for run in runs:
            await self._run(run)
        return len(runs)

    async def _promote_schedules(self) -> None:
        if not self.recurring_jobs:
            return
        now = self.clock.now()
        async with self.db.transaction() as conn:
            for job in self.recurring_jobs.values():
                # First sight of a schedule (or a changed one): due next time, not retroactively.
                await conn.execute(
                    """INSERT INTO job_schedules (job, spec, next_due_at) VALUES ($1, $2, $3)
                       ON CONFLICT (job) DO UPDATE SET spec = EXCLUDED.spec, next_due_at = EXCLUDED.next_due_at,
                                                      updated_at = now()
                       WHERE job_schedules.spec <> EXCLUDED.spec""",
                    job.name,
                    job.spec,
                    job.next_due(now),
                )
            due = await conn.fetch(
                """SELECT job, next_due_at FROM job_schedules
                   WHERE next_due_at <= $1 AND job = ANY($2::text[])
                   FOR UPDATE SKIP LOCKED""",
                now,
                list(self.recurring_jobs),
            )
            for row in due:
                job = self.recurring_jobs[row["job"]]
                await conn.execute(
                    """INSERT INTO job_runs (job, run_key, due_at) VALUES ($1, $2, $3)
                       ON CONFLICT (job, run_key) DO NOTHING""",
                    job.name,
                    row["next_due_at"].isoformat(),
                    row["next_due_at"],
                )
                await conn.execute(
                    "UPDATE job_schedules SET next_due_at = $2, updated_at = now() WHERE job = $1",
                    job.name,
                    job.next_due(now),
                )

    async def _claim(self) -> list[JobRun]:
        now = self.clock.now()
        rows = await self.db.fetch(
            """UPDATE job_runs SET status = 'running', claimed_by = $2, claimed_at = $1,
                                   attempts = attempts + 1
               WHERE id IN (
                   SELECT id FROM job_runs
                   WHERE (status = 'pending' AND due_at <= $1)
                      OR (status = 'running'
                          AND claimed_at < $1 - make_interval(secs => coalesce(lease_seconds, $3)))
                   ORDER BY due_at
                   LIMIT $4
                   FOR UPDATE SKIP LOCKED)
               RETURNING id, job, run_key, due_at, payload, attempts""",
            now,
            self.replica_id,
            LEASE.total_seconds(),
            BATCH,
        )
        return [
            JobRun(r["id"], r["job"], r["run_key"], r["due_at"], json.loads(r["payload"]), r["attempts"], now)
            for r in sorted(rows, key=lambda r: r["due_at"])
        ]

    async def _run(self, run: JobRun) -> None:
        handler = self.handlers.get(run.job)
        bound = logger.bind(job=run.job, run_key=run.run_key, attempt=run.attempts)
        heartbeat = asyncio.create_task(self._heartbeat(run)) if run.job in self.leases else None
        try:
            if handler is None:
                raise LookupError(f"no handler declared for job {run.job}")
            await handler(run)
        except Exception as exc:
            final = handler is None or run.attempts >= MAX_ATTEMPTS
            bound.error("job failed", final=final, error=repr(exc))
            retry_at = self.clock.now() + timedelta(seconds=30 * 2 ** (run.attempts - 1))
            try:
                await self.db.execute(
                    """UPDATE job_runs SET status = $2, last_error = $3, due_at = $4,
                              finished_at = CASE WHEN $2 = 'failed' THEN $5::timestamptz END
                       WHERE id = $1""",
                    run.id,
                    "failed" if final else "pending",
                    "".join(traceback.format_exception_only(exc)).strip()[:2000],
                    run.due_at if final else retry_at,
                    self.clock.now(),
                )
            except DatabaseUnavailable:
                bound.warning("could not record job failure; the lease will expire and it runs again")
            self.on_finished(run.job, "failed" if final else "retry")
            return
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
        try:
            await self.db.execute(
                "UPDATE job_runs SET status = 'done', finished_at = $2, last_error = NULL WHERE id = $1",
                run.id,
                self.clock.now(),
            )
        except DatabaseUnavailable:
            bound.warning("job ran but could not be marked done")
        # A recurring run on time is routine (the alert sweep runs every 10 s): debug, so an idle bot is quiet at
        # info; a late one, and every one-off run (a page, a set-up, a send), did something worth a line.
        routine = run.job in self.recurring_jobs and not run.is_late(ROUTINE_LATENESS)
        (bound.debug if routine else bound.info)("job ran", late_seconds=int(run.lateness.total_seconds()))
        self.on_finished(run.job, "ok")

    async def _heartbeat(self, run: JobRun) -> None:
        """Renew a short lease while the handler runs, so only a dead replica's run is taken over."""
        every = self.leases[run.job].total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(DatabaseUnavailable):
                await self.db.execute(
                    "UPDATE job_runs SET claimed_at = $2 WHERE id = $1 AND status = 'running' AND claimed_by = $3",
                    run.id,
                    self.clock.now(),
                    self.replica_id,
                )

    # -- the scheduler that drives the ticks -----------------------------------------------------

    def start(self, every_seconds: float) -> None:
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.scheduler.add_job(
            self._scheduled_tick,
            "interval",
            seconds=every_seconds,
            id="zzik-tick",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now().astimezone(),
        )
        self.scheduler.start()

    async def _scheduled_tick(self) -> None:
        self._ticking = asyncio.current_task()
        try:
            await self.tick()
        except asyncio.CancelledError:
            # Shutdown cut the pass short: claimed runs keep their lease and any replica resumes them.
            logger.info("job tick interrupted by shutdown")
        finally:
            self._ticking = None

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop ticking; let a pass in flight finish (up to the grace period) before the pool closes."""
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        ticking = self._ticking
        if ticking is not None and not ticking.done():
            try:
                await asyncio.wait_for(asyncio.shield(ticking), grace_seconds)
            except TimeoutError:
                ticking.cancel()


def cron_next(expr: str, zone: Any) -> Callable[[datetime], datetime]:
    """A next_due function from a crontab expression in a time zone (wall-clock, DST-aware)."""
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(expr, timezone=zone)

    def next_due(after: datetime) -> datetime:
        fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
        if fire is None:  # a crontab expression always fires again; this would be APScheduler's bug
            raise ValueError(f"the schedule {expr!r} never fires after {after.isoformat()}")
        return fire

    return next_due
