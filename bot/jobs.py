"""Durable work that runs exactly once, however many replicas run it; concurrently, with short leases.

Every run is a row of `job_runs`; `(job, run_key)` is unique, so the same run cannot exist twice. Recurring
schedules are rows of `job_schedules`.

A pass (`tick()`, or the background loop `start()` runs):
1. promotes recurring schedules that are due into run rows. A process writes a schedule row only when it is
   missing or its spec changed (checked once per process and spec), then locks only the *due* rows
   FOR UPDATE SKIP LOCKED, so replicas skip each other's schedules instead of queueing behind them. A schedule
   missed while every replica was down yields one run, marked late, not one per missed due time.
2. claims due runs of the jobs this process declares (pending and due, or `running` under an expired lease),
   FOR UPDATE SKIP LOCKED, never more than the runner has free slots (`concurrency`), and starts each at once in
   its own task: a claimed run is never held unstarted, and a slow run (a Slack call) never holds the others.
   A job declared `in_order=<payload key>` (one incident's stakeholder posts) is the exception: a run of it is
   claimed only when no earlier-due run with the same value of that key is pending or running.

The contracts callers rely on:
- `tick()` claims up to the free slots, runs those runs concurrently and returns once they have all finished
  (tests and the alert webhook rely on it: what was due has run when tick returns); it returns how many ran.
  While a pass fills every slot, or runs a job declared `in_order`, it passes again (at most TICK_PASSES times);
  when every slot is taken (another tick, run_now) it waits for one rather than leave due runs to the next tick.
- The concurrency follows the database pool (`concurrency_for`): a run may hold a connection while it waits on
  Slack, and requests commit before their ack, so POOL_RESERVE connections stay theirs.
- `start(every_seconds)` runs passes in the background: every `every_seconds`, and again as soon as a slot frees
  after a pass that filled them all. It does not wait for the runs it started, so due runs keep being claimed
  (here or on another replica) while slow ones are in flight.
- `run_now(job, key)` (after the commit that scheduled the run) claims that run and awaits it here. It takes a
  slot even when all are busy (a fresh page never waits for one); ticks then claim fewer.
- `stop(grace_seconds)` stops claiming, lets runs in flight finish for up to the grace period, then cancels the
  rest: their rows stay `running`, heartbeat no more, and another replica takes them over after their lease.

Leases: every running run renews its lease by a heartbeat (every third of it). A job's lease is what it declares
(`lease=`; ~10 s for what pages, escalates or announces), DEFAULT_LEASE otherwise, so a replica killed with -9
leaves its runs `running` and another replica takes them over within seconds. A handler must therefore be safe
to run again (domains use their own unique keys for what they post). The claim `(claimed_by, attempts)` owns the
run: the heartbeat and the outcome of a run that was taken over change nothing, and say so in the log.

Retries: a run that raises is recorded (`last_error`, `attempts`) and due again after its job's `Retry` policy
(DEFAULT_RETRY: 30 s × 2^(attempt-1), MAX_ATTEMPTS attempts; PAGING_RETRY: 1, 2, 4, 8, 16 s then every 30 s, 12
attempts), or after the exception's `retry_after` seconds when it has one (Slack's or PagerDuty's `Retry-After`;
`RetryLater` asks for it explicitly), capped at MAX_RETRY_AFTER. The last failure marks the run `failed` and first
awaits the job's `on_gave_up(run, error)` (so people can be told what was not delivered). A failure is never
counted done.

Finished runs of recurring jobs are pruned daily (PRUNE): done or cancelled after KEEP_DONE, failed after
KEEP_FAILED. One-off runs are kept: domains count them (`count()`, e.g. an incident's set-up retries).

Domains declare their jobs in their own `jobs.py`: a table of one-call jobs for `runner.declare(services, {...})`
(`call(flows.f, "payload_key", ..., lease=..., retry=..., on_gave_up=...)`), and `runner.recurring(...)` /
`runner.handler(...)` for the rest. Nothing outside this module reads or writes `job_runs`: `active()`,
`pending()`, `count()`, `cancel()` and `cancel_prefix()` answer for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from bot import log
from bot.clock import Clock
from bot.db import Database
from bot.errors import DatabaseUnavailable

logger = log.get("zzik.jobs")

DEFAULT_LEASE = timedelta(seconds=60)  # without a heartbeat for this long, a run's replica is taken for dead
PAGING_LEASE = timedelta(seconds=10)  # for jobs that page, escalate or announce: resumed within seconds
MAX_ATTEMPTS = 5
MAX_RETRY_AFTER = timedelta(minutes=5)  # a Retry-After longer than this is taken as this
CONCURRENCY = 16
# Runs of urgent jobs (the ones that page) one replica runs beyond `concurrency`: a page never waits for a slot
# behind slower work. They take pool connections only for their short statements.
URGENT_SLOTS = 16
TICK_PASSES = 10  # passes one tick() makes at most while more runs may be due
# Connections of the pool a runner leaves to requests: a run may hold one while it waits on Slack, and a request
# commits before Slack gets its ack, within the ack budget.
POOL_RESERVE = 4

PRUNE = "jobs.prune_runs"
KEEP_DONE = timedelta(days=7)  # done or cancelled runs of recurring jobs
KEEP_FAILED = timedelta(days=30)  # failed ones stay longer: someone may look into them
PRUNE_BATCH = 5000
# A pass for a run due soon comes this long after it is due: after the transaction that stored it has committed.
WAKE_AFTER = 0.05
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
    max_attempts: int = MAX_ATTEMPTS  # of the job's retry policy for this run

    @property
    def scheduled_at(self) -> datetime:
        """When the run was scheduled for. A recurring run's key is that time (ISO), and it stays so when the run
        is retried, whereas `due_at` moves to the retry's time; a one-off run: its `due_at`."""
        try:
            at = datetime.fromisoformat(self.run_key)
        except ValueError:
            return self.due_at
        return at if at.tzinfo is not None else self.due_at

    @property
    def lateness(self) -> timedelta:
        return self.now - self.due_at

    def is_late(self, grace: timedelta = timedelta(minutes=5)) -> bool:
        return self.lateness > grace

    @property
    def final_attempt(self) -> bool:
        """If this attempt fails, the run is given up on."""
        return self.attempts >= self.max_attempts


@dataclass(frozen=True)
class Retry:
    """When a failed run is tried again: `first` × 2^(attempt-1), at most `cap`, for `max_attempts` attempts in
    all (the first try included)."""

    first: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int = MAX_ATTEMPTS

    def delay(self, attempt: int) -> timedelta:
        """The wait after failed attempt number `attempt` (1 for the first try)."""
        return min(self.first * 2 ** min(max(attempt - 1, 0), 30), self.cap)


DEFAULT_RETRY = Retry()
# A page is retried at once, then less often: 1, 2, 4, 8, 16 s, then every 30 s (about 4 minutes in all).
PAGING_RETRY = Retry(first=timedelta(seconds=1), cap=timedelta(seconds=30), max_attempts=12)
# A job's policy, or a function choosing it per run (e.g. by the payload's severity).
RetryPolicy = Retry | Callable[["JobRun"], Retry]


class RetryLater(Exception):
    """Raised by a handler to be tried again after `retry_after` seconds (None: the job's backoff). It counts as
    a failed attempt. Any exception with a numeric `retry_after` attribute is honoured the same way."""

    def __init__(self, message: str = "asked to retry later", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


Handler = Callable[[JobRun], Awaitable[None]]
# Awaited once a run is given up on (its last attempt failed), before the run is marked failed, with the run and
# what its last attempt raised. Like a handler it must be safe to run again (a crash in between repeats it).
GaveUp = Callable[[JobRun, Exception], Awaitable[Any]]
# What a `Call` passes its flow after `services`: a payload key ("name?" when the payload may lack it: None
# then), or a function of the run (`the_run`, `due_at`).
Arg = str | Callable[[JobRun], Any]


def the_run(run: JobRun) -> JobRun:
    return run


def due_at(run: JobRun) -> datetime:
    return run.due_at


@dataclass(frozen=True)
class Call:
    """A job whose run is one flow call: `await flow(services, *args)`, each arg taken from the run.
    `on_gave_up`, if given, is awaited as `on_gave_up(services, run, error)` when the run is given up on."""

    flow: Callable[..., Awaitable[Any]]
    args: tuple[Arg, ...] = ()
    lease: timedelta | None = None
    retry: RetryPolicy | None = None
    on_gave_up: Callable[[Any, JobRun, Exception], Awaitable[Any]] | None = None
    in_order: str | None = None
    urgent: bool = False

    def bind(self, services: Any) -> Handler:
        async def handler(run: JobRun) -> None:
            await self.flow(services, *(_arg(run, arg) for arg in self.args))

        handler.__name__ = getattr(self.flow, "__name__", "handler")
        return handler

    def gave_up(self, services: Any) -> GaveUp | None:
        hook = self.on_gave_up
        if hook is None:
            return None

        async def gave_up(run: JobRun, error: Exception) -> None:
            await hook(services, run, error)

        return gave_up


def call(
    flow: Callable[..., Awaitable[Any]],
    *args: Arg,
    lease: timedelta | None = None,
    retry: RetryPolicy | None = None,
    on_gave_up: Callable[[Any, JobRun, Exception], Awaitable[Any]] | None = None,
    in_order: str | None = None,
    urgent: bool = False,
) -> Call:
    return Call(flow, args, lease, retry, on_gave_up, in_order, urgent)


def _arg(run: JobRun, arg: Arg) -> Any:
    if callable(arg):
        return arg(run)
    if arg.endswith("?"):
        return run.payload.get(arg[:-1])
    return run.payload[arg]


@dataclass(frozen=True)
class Job:
    """A declared job: what runs, how long it may go without a heartbeat, and how it is retried."""

    handler: Handler
    lease: timedelta = DEFAULT_LEASE
    retry: RetryPolicy = DEFAULT_RETRY
    on_gave_up: GaveUp | None = None
    in_order: str | None = None  # a payload key: runs with the same value run one after another, in due order
    urgent: bool = False  # it pages: claimed first, in slots of its own (JobRunner.urgent)

    def policy(self, run: JobRun) -> Retry:
        if isinstance(self.retry, Retry):
            return self.retry
        try:
            return self.retry(run)
        except Exception as exc:  # a broken policy must not lose the run: it gets the default
            logger.error("job retry policy failed", job=run.job, error=repr(exc))
            return DEFAULT_RETRY


@dataclass
class Recurring:
    name: str
    spec: str  # a stable description of the schedule; a new spec recomputes next_due_at
    next_due: Callable[[datetime], datetime]  # first due time strictly after the given instant
    handler: Handler


def concurrency_for(pool_size: int) -> int:
    """How many runs a runner on a pool of this size has in flight at once: CONCURRENCY at most, POOL_RESERVE
    connections left to requests, 2 at least (a slow run must never hold all the others)."""
    return max(2, min(CONCURRENCY, pool_size - POOL_RESERVE))


def retry_after(exc: BaseException) -> timedelta | None:
    """The wait an exception asks for (its numeric `retry_after`, in seconds), within 0 .. MAX_RETRY_AFTER."""
    value = getattr(exc, "retry_after", None)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return timedelta(seconds=min(max(float(value), 0.0), MAX_RETRY_AFTER.total_seconds()))


_RUN_COLUMNS = "id, job, run_key, due_at, payload, attempts"


@dataclass
class JobRunner:
    db: Database
    clock: Clock
    replica_id: str
    on_finished: Callable[[str, str], None] = lambda job, outcome: None
    # Called as each run starts, with its job and how late it starts (seconds since it was due; a metric).
    on_started: Callable[[str, float], None] = lambda job, lag_seconds: None
    concurrency: int = CONCURRENCY  # runs in flight at once in this process
    jobs: dict[str, Job] = field(default_factory=dict)
    recurring_jobs: dict[str, Recurring] = field(default_factory=dict)
    _busy: int = field(default=0, init=False)  # slots taken: runs started, or reserved while claiming
    _urgent_busy: int = field(default=0, init=False)  # the urgent jobs' own slots taken (see urgent())
    _tasks: set[asyncio.Task] = field(default_factory=set, init=False)
    # Schedules known to be in the database with this spec: each is written at most once per process and spec.
    _synced: dict[str, str] = field(default_factory=dict, init=False)
    _loop: asyncio.Task | None = field(default=None, init=False)
    _stopping: bool = field(default=False, init=False)
    # Wakes the background loop before its interval: a slot freed after a pass that filled them all, a run of an
    # `in_order` job ended (its successor may be due), or stop().
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _every: float = field(default=5.0, init=False)  # the background loop's interval between passes
    _saturated: bool = field(default=False, init=False)
    _slot_freed: asyncio.Event = field(default_factory=asyncio.Event, init=False)  # for a tick() waiting for one

    def __post_init__(self) -> None:
        self.recurring(PRUNE, spec="daily 03:29 UTC", next_due=cron_next("29 3 * * *", "UTC"))(self._prune)

    @property
    def handlers(self) -> dict[str, Handler]:
        return {name: job.handler for name, job in self.jobs.items()}

    # For the liveness probe (bot/liveness.py), in time.monotonic(): when start() was called, and when the last
    # pass of the background loop began and ended (None: none yet).
    started_at: float | None = field(default=None, init=False)
    pass_started: float | None = field(default=None, init=False)
    pass_finished: float | None = field(default=None, init=False)

    @property
    def running(self) -> bool:
        """The background loop is on (start() was called, stop() not yet)."""
        return self._loop is not None and not self._loop.done()

    # -- declaring -------------------------------------------------------------------------------

    def handler(
        self,
        name: str,
        *,
        lease: timedelta | None = None,
        retry: RetryPolicy | None = None,
        on_gave_up: GaveUp | None = None,
        in_order: str | None = None,
        urgent: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Declare a job. `lease`: how long a run may go without a heartbeat before another replica takes it
        over (a running handler renews it every third of it; DEFAULT_LEASE when not given). `retry`: how a failed
        run is tried again (DEFAULT_RETRY when not given). `on_gave_up`: awaited when a run is given up on.
        `in_order`: a payload key; runs whose payloads hold the same value there (e.g. one incident's posts) run
        one after another in due order, on any replica: a run waits while an earlier one is pending or running
        (a failed one waiting to be retried no longer counts as earlier once its new due time is later).
        `urgent`: the job pages (a DM to someone on call, a declaration that leads to one): its runs are claimed
        ahead of the others, in URGENT_SLOTS of their own, so a page never waits for a slot behind slower work. An
        urgent job must not hold a database connection while it waits on the network."""

        def decorator(fn: Handler) -> Handler:
            if name in self.jobs:
                raise ValueError(f"job {name} declared twice")
            self.jobs[name] = Job(fn, lease or DEFAULT_LEASE, retry or DEFAULT_RETRY, on_gave_up, in_order, urgent)
            return fn

        return decorator

    def declare(self, services: Any, jobs: Mapping[str, Call]) -> None:
        """Declare a domain's one-call jobs from its table: job name -> `call(flow, *args, ...)`."""
        for name, job in jobs.items():
            self.handler(
                name,
                lease=job.lease,
                retry=job.retry,
                on_gave_up=job.gave_up(services),
                in_order=job.in_order,
                urgent=job.urgent,
            )(job.bind(services))

    def recurring(
        self, name: str, *, spec: str, next_due: Callable[[datetime], datetime], lease: timedelta | None = None
    ) -> Callable[[Handler], Handler]:
        def decorator(fn: Handler) -> Handler:
            self.handler(name, lease=lease)(fn)
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
        declared = self.jobs.get(job)
        if declared is None:
            raise ValueError(f"no handler declared for job {job}")
        row = await conn.fetchval(
            """INSERT INTO job_runs (job, run_key, due_at, payload, lease_seconds) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (job, run_key) DO NOTHING RETURNING id""",
            job,
            key,
            due_at,
            json.dumps(payload or {}),
            declared.lease.total_seconds(),
        )
        if row is not None:
            self._wake_at(due_at)
        return row is not None

    def wake(self) -> bool:
        """Ask the background loop for a pass now (work was just stored). False when no loop runs here."""
        if not self.running:
            return False
        self._wake.set()
        return True

    def _wake_at(self, due_at: datetime) -> None:
        """A run due before the loop's next pass (a retry within seconds, a page due now): pass when it is due, a
        moment after, so the transaction that stored it has committed. Any replica's pass may take it; this only
        saves this one the wait for its interval."""
        if not self.running:
            return
        delay = max((due_at - self.clock.now()).total_seconds(), 0.0) + WAKE_AFTER
        if delay < self._every:
            asyncio.get_running_loop().call_later(delay, self._wake.set)

    async def run_now(self, job: str, key: str) -> bool:
        """Claim one pending run and run it here, now (after the transaction that scheduled it committed).
        False if a pass got to it first (it runs there), or, for a job run `in_order`, while an earlier run waits (a
        pass runs it after that one). A crash mid-run leaves it to the lease. The run takes a
        slot even when all are busy; a caller cancelled while it runs does not cancel the run."""
        declared = self.jobs.get(job)
        if declared is None or self._stopping:
            return False
        self._busy += 1
        try:
            row = await self.db.fetchrow(
                f"""UPDATE job_runs r SET status = 'running', claimed_by = $3, claimed_at = $4,
                                          attempts = r.attempts + 1, lease_seconds = $5
                    WHERE r.job = $1 AND r.run_key = $2 AND r.status = 'pending'
                      AND ($6::text IS NULL OR NOT EXISTS (
                          SELECT 1 FROM job_runs e
                          WHERE e.status IN ('pending', 'running') AND e.due_at <= r.due_at
                            AND e.job = r.job AND (e.due_at, e.id) < (r.due_at, r.id)
                            AND e.payload -> $6 = r.payload -> $6))
                    RETURNING {_RUN_COLUMNS}""",
                job,
                key,
                self.replica_id,
                self.clock.now(),
                declared.lease.total_seconds(),
                declared.in_order,
            )
        except BaseException:
            self._release()
            raise
        if row is None:
            self._release()
            return False
        task = self._start(_run_of(row, self.clock.now()))
        await asyncio.shield(task)
        return True

    async def active(self, job: str, key_prefix: str, *, exact: bool = False) -> bool:
        """A run of `job` with this key prefix (with `exact`, this very key) is pending, or running under a live
        lease."""
        return bool(
            await self.db.fetchval(
                """SELECT true FROM job_runs
                   WHERE job = $1 AND (run_key = $2 OR (NOT $5 AND starts_with(run_key, $2)))
                     AND (status = 'pending' OR (status = 'running' AND claimed_at >= $3::timestamptz
                          - make_interval(secs => coalesce(lease_seconds, $4))))
                   LIMIT 1""",
                job,
                key_prefix,
                self.clock.now(),
                DEFAULT_LEASE.total_seconds(),
                exact,
            )
        )

    async def pending(self, conn: asyncpg.Connection | None, job: str, key_prefix: str) -> bool:
        """A run of `job` with this key prefix waits to run (`conn`: the caller's transaction, or None)."""
        query = "SELECT true FROM job_runs WHERE job = $1 AND starts_with(run_key, $2) AND status = 'pending' LIMIT 1"
        if conn is None:
            return bool(await self.db.fetchval(query, job, key_prefix))
        return bool(await conn.fetchval(query, job, key_prefix))

    async def count(self, conn: asyncpg.Connection | None, job: str, key_prefix: str) -> int:
        """How many runs of `job` with this key prefix exist, whatever their state (one-off runs are never
        pruned, so a domain may number its retries by it). `conn`: the caller's transaction, or None."""
        query = "SELECT count(*) FROM job_runs WHERE job = $1 AND starts_with(run_key, $2)"
        if conn is None:
            return int(await self.db.fetchval(query, job, key_prefix))
        return int(await conn.fetchval(query, job, key_prefix))

    async def cancel(self, conn: asyncpg.Connection, job: str, key: str) -> bool:
        status = await conn.execute(
            """UPDATE job_runs SET status = 'cancelled', finished_at = $3
               WHERE job = $1 AND run_key = $2 AND status = 'pending'""",
            job,
            key,
            self.clock.now(),
        )
        return status.endswith(" 1")

    async def cancel_prefix(self, conn: asyncpg.Connection, job: str, key_prefix: str) -> int:
        """Cancel every pending run of `job` whose key starts with `key_prefix`."""
        status = await conn.execute(
            """UPDATE job_runs SET status = 'cancelled', finished_at = $3
               WHERE job = $1 AND starts_with(run_key, $2) AND status = 'pending'""",
            job,
            key_prefix,
            self.clock.now(),
        )
        return int(status.split()[-1])

    # -- passes ----------------------------------------------------------------------------------

    async def tick(self) -> int:
        """One pass: promote due schedules, claim due runs up to the free slots, run them concurrently and wait
        for them; again (up to TICK_PASSES passes) while a pass filled every slot or ran an `in_order` job (more
        may be due now). Returns how many runs ran."""
        ran = 0
        for _ in range(TICK_PASSES):
            try:
                await self._promote_schedules()
                while (free := self.concurrency - self._busy) <= 0 and not self._stopping:
                    # Every slot is taken (another pass, run_now): wait for one, so that what is due now (this
                    # tick's promotion included) is not left to the next tick.
                    self._slot_freed.clear()
                    await self._slot_freed.wait()
                started = await self._claim_and_start()
            except DatabaseUnavailable as exc:
                logger.warning("job tick skipped: database unavailable", error=str(exc))
                return ran
            if not started:
                break
            # asyncio.wait, not gather: a caller cancelled here leaves the runs running (stop() bounds them).
            await asyncio.wait([task for _, task in started])
            ran += len(started)
            # Every slot was filled (more may be due), or an in_order run let the next one go: pass again.
            if len(started) < free and not any(self.jobs[run.job].in_order for run, _ in started):
                break
        return ran

    async def _promote_schedules(self) -> None:
        if not self.recurring_jobs or self._stopping:
            return
        now = self.clock.now()
        await self._sync_schedules(now)
        async with self.db.transaction() as conn:
            # Only due rows are locked, and only for this short transaction: the other replicas skip them.
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
                    """INSERT INTO job_runs (job, run_key, due_at, lease_seconds) VALUES ($1, $2, $3, $4)
                       ON CONFLICT (job, run_key) DO NOTHING""",
                    job.name,
                    row["next_due_at"].isoformat(),
                    row["next_due_at"],
                    self.jobs[job.name].lease.total_seconds(),
                )
                await conn.execute(
                    "UPDATE job_schedules SET next_due_at = $2, updated_at = $3 WHERE job = $1",
                    job.name,
                    job.next_due(now),
                    now,
                )

    async def _sync_schedules(self, now: datetime) -> None:
        """Write the schedules the database lacks, or holds with another spec; once per process and spec."""
        unsynced = [job for job in self.recurring_jobs.values() if self._synced.get(job.name) != job.spec]
        if not unsynced:
            return
        stored = {
            r["job"]: r["spec"]
            for r in await self.db.fetch(
                "SELECT job, spec FROM job_schedules WHERE job = ANY($1::text[])", [j.name for j in unsynced]
            )
        }
        for job in unsynced:
            if job.name not in stored:
                # First sight of a schedule: due next time, not retroactively.
                await self.db.execute(
                    """INSERT INTO job_schedules (job, spec, next_due_at, updated_at) VALUES ($1, $2, $3, $4)
                       ON CONFLICT (job) DO NOTHING""",
                    job.name,
                    job.spec,
                    job.next_due(now),
                    now,
                )
            elif stored[job.name] != job.spec:
                # A changed schedule is computed afresh from now.
                await self.db.execute(
                    """UPDATE job_schedules SET spec = $2, next_due_at = $3, updated_at = $4
                       WHERE job = $1 AND spec <> $2""",
                    job.name,
                    job.spec,
                    job.next_due(now),
                    now,
                )
            self._synced[job.name] = job.spec

    def urgent(self, job: str) -> bool:
        """A job declared urgent (it pages): claimed ahead of the others, in slots of its own, so a page never
        waits for a slot behind slow work."""
        return self.jobs[job].urgent

    async def _claim_and_start(self) -> list[tuple[JobRun, asyncio.Task]]:
        """Claim due runs, the urgent ones first in their own slots, then the others up to the free slots, and
        start each in its own task."""
        if self._stopping or not self.jobs:
            return []
        started = []
        urgent = [name for name in self.jobs if self.urgent(name)]
        others = [name for name in self.jobs if not self.urgent(name)]
        for names, is_urgent in ((urgent, True), (others, False)):
            free = (URGENT_SLOTS - self._urgent_busy) if is_urgent else (self.concurrency - self._busy)
            if free <= 0 or not names:
                continue
            self._reserve(is_urgent, free)  # reserved while claiming, so run_now and other passes count them
            try:
                runs = await self._claim(free, names)
            finally:
                self._reserve(is_urgent, -free)
                self._slot_freed.set()
            for run in runs:
                self._reserve(is_urgent, 1)
                started.append((run, self._start(run, urgent=is_urgent)))
        return started

    def _reserve(self, urgent: bool, slots: int) -> None:
        if urgent:
            self._urgent_busy += slots
        else:
            self._busy += slots

    async def _claim(self, limit: int, names: list[str]) -> list[JobRun]:
        now = self.clock.now()
        rows = await self.db.fetch(
            f"""WITH claimed AS (
                    SELECT id, status AS was, claimed_by AS holder FROM job_runs
                    WHERE job = ANY($5::text[])
                      AND ((status = 'pending' AND due_at <= $1
                            AND NOT (job = ANY($7::text[]) AND EXISTS (
                                SELECT 1 FROM job_runs e
                                WHERE e.status IN ('pending', 'running') AND e.due_at <= job_runs.due_at
                                  AND e.job = job_runs.job AND (e.due_at, e.id) < (job_runs.due_at, job_runs.id)
                                  AND e.payload -> ($8::text[])[array_position($7::text[], job_runs.job)]
                                      = job_runs.payload -> ($8::text[])[array_position($7::text[], job_runs.job)])))
                           OR (status = 'running'
                               AND claimed_at < $1 - make_interval(secs => coalesce(lease_seconds, $3))))
                    ORDER BY due_at
                    LIMIT $4
                    FOR UPDATE SKIP LOCKED)
                UPDATE job_runs r SET status = 'running', claimed_by = $2, claimed_at = $1,
                                      attempts = r.attempts + 1,
                                      lease_seconds = coalesce(
                                          (SELECT l.seconds FROM unnest($5::text[], $6::float8[]) AS l(job, seconds)
                                           WHERE l.job = r.job), $3)
                FROM claimed WHERE r.id = claimed.id
                RETURNING {", ".join("r." + c for c in _RUN_COLUMNS.split(", "))}, claimed.was, claimed.holder""",
            now,
            self.replica_id,
            DEFAULT_LEASE.total_seconds(),
            limit,
            names,
            [self.jobs[name].lease.total_seconds() for name in names],
            [name for name in names if self.jobs[name].in_order],
            [self.jobs[name].in_order for name in names if self.jobs[name].in_order],
        )
        for r in rows:
            if r["was"] == "running":
                logger.warning(
                    "job run taken over: its replica stopped renewing the lease",
                    job=r["job"],
                    run_key=r["run_key"],
                    previous=r["holder"],
                    attempt=r["attempts"],
                )
        return [_run_of(r, now) for r in sorted(rows, key=lambda r: r["due_at"])]

    # -- running one run -------------------------------------------------------------------------

    def _start(self, run: JobRun, *, urgent: bool = False) -> asyncio.Task:
        """Run `run` in its own task; its slot (already counted in _busy or _urgent_busy) is released when it ends."""
        task = asyncio.create_task(self._run(run), name=f"job {run.job} {run.run_key}")
        self._tasks.add(task)
        task.add_done_callback(lambda task: self._ended(task, run, urgent))
        return task

    def _ended(self, task: asyncio.Task, run: JobRun, urgent: bool = False) -> None:
        self._tasks.discard(task)
        self._release(successor_due=self.jobs[run.job].in_order is not None, urgent=urgent)

    def _release(self, *, successor_due: bool = False, urgent: bool = False) -> None:
        self._reserve(urgent, -1)
        self._slot_freed.set()
        if self._saturated or successor_due:
            self._wake.set()

    async def _run(self, run: JobRun) -> None:
        job = self.jobs[run.job]
        policy = job.policy(run)
        run = dataclasses.replace(run, max_attempts=policy.max_attempts)
        bound = logger.bind(job=run.job, run_key=run.run_key, attempt=run.attempts)
        self.on_started(run.job, max(run.lateness.total_seconds(), 0.0))
        heartbeat = asyncio.create_task(self._heartbeat(run, job.lease))
        try:
            await job.handler(run)
        except Exception as exc:
            await self._failed(run, job, policy, exc, bound)
            return
        finally:
            heartbeat.cancel()
        done = await self._record(
            run,
            bound,
            "ran",
            """UPDATE job_runs SET status = 'done', finished_at = $4, last_error = NULL
               WHERE id = $1 AND claimed_by = $2 AND attempts = $3""",
            self.clock.now(),
        )
        if not done:
            return
        # A recurring run on time is routine (the alert sweep runs every 10 s): debug, so an idle bot is quiet at
        # info; a late one, and every one-off run (a page, a set-up, a send), did something worth a line.
        routine = run.job in self.recurring_jobs and not run.is_late(ROUTINE_LATENESS)
        (bound.debug if routine else bound.info)("job ran", late_seconds=int(run.lateness.total_seconds()))
        self.on_finished(run.job, "ok")

    async def _failed(self, run: JobRun, job: Job, policy: Retry, exc: Exception, bound: Any) -> None:
        final = run.final_attempt
        asked = retry_after(exc)
        wait = asked if asked is not None else policy.delay(run.attempts)
        bound.error(
            "job failed", final=final, error=repr(exc), retry_in=None if final else round(wait.total_seconds(), 3)
        )
        if final and job.on_gave_up is not None:
            # Before the run is marked failed, so a crash in between tells it again rather than never.
            try:
                await job.on_gave_up(run, exc)
            except Exception as hook_error:
                bound.error("job's give-up hook failed", error=repr(hook_error))
        recorded = await self._record(
            run,
            bound,
            "failed",
            """UPDATE job_runs SET status = $4, last_error = $5, due_at = $6,
                      finished_at = CASE WHEN $4 = 'failed' THEN $7::timestamptz END
               WHERE id = $1 AND claimed_by = $2 AND attempts = $3""",
            "failed" if final else "pending",
            "".join(traceback.format_exception_only(exc)).strip()[:2000],
            run.due_at if final else self.clock.now() + wait,
            self.clock.now(),
        )
        if not recorded:
            return
        if not final:
            self._wake_at(self.clock.now() + wait)
        self.on_finished(run.job, "failed" if final else "retry")

    async def _record(self, run: JobRun, bound: Any, how: str, update: str, *values: Any) -> bool:
        """Record how the run went (`update`: $1 its id, $2 this replica, $3 the attempt, then `values`), only while
        this replica still holds that attempt. False, with a warning, when it could not be recorded (the lease
        will expire and it runs again) or the run was taken over (the replica that took it records it)."""
        try:
            recorded = await self.db.execute(update, run.id, self.replica_id, run.attempts, *values)
        except DatabaseUnavailable:
            bound.warning(f"job {how} but could not be recorded; the lease will expire and it runs again")
            return False
        if recorded.endswith(" 0"):
            bound.warning(f"job {how} after it was taken over; the replica that took it over records its outcome")
            return False
        return True

    async def _heartbeat(self, run: JobRun, lease: timedelta) -> None:
        """Renew the lease while the handler runs, so only a dead replica's run is taken over."""
        every = lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                renewed = await self.db.execute(
                    """UPDATE job_runs SET claimed_at = $2
                       WHERE id = $1 AND status = 'running' AND claimed_by = $3 AND attempts = $4""",
                    run.id,
                    self.clock.now(),
                    self.replica_id,
                    run.attempts,
                )
            except DatabaseUnavailable:
                continue  # the next beat tries again; past the lease another replica may take the run over
            except Exception as exc:  # a heartbeat that dies silently would hand a live run to another replica
                logger.warning("job heartbeat failed", job=run.job, run_key=run.run_key, error=repr(exc))
                continue
            if renewed.endswith(" 0"):
                logger.warning(
                    "job run was taken over by another replica while it ran here (a heartbeat came too late)",
                    job=run.job,
                    run_key=run.run_key,
                    attempt=run.attempts,
                )
                return

    # -- pruning ---------------------------------------------------------------------------------

    async def _prune(self, run: JobRun) -> None:
        """The PRUNE job: finished runs of recurring jobs, past their retention, in batches (short locks)."""
        recurring = list(self.recurring_jobs)
        deleted = 0
        # The status lists are literal so the planner matches them to the partial index job_runs_finished.
        for finished, keep in (("('done', 'cancelled')", KEEP_DONE), ("('failed')", KEEP_FAILED)):
            while True:
                status = await self.db.execute(
                    f"""DELETE FROM job_runs WHERE id IN (
                            SELECT id FROM job_runs
                            WHERE job = ANY($1::text[]) AND status IN {finished}
                              AND coalesce(finished_at, due_at) < $2
                            LIMIT $3)""",
                    recurring,
                    run.now - keep,
                    PRUNE_BATCH,
                )
                count = int(status.split()[-1])
                deleted += count
                if count < PRUNE_BATCH:
                    break
        logger.info("finished job runs pruned", deleted=deleted)

    # -- the background loop -----------------------------------------------------------------------

    def start(self, every_seconds: float) -> None:
        """Run passes in the background until stop(): see the module's docstring."""
        self._stopping = False
        self._every = every_seconds
        self.started_at, self.pass_started, self.pass_finished = time.monotonic(), None, None
        self._loop = asyncio.create_task(self._passes(every_seconds), name="zzik-jobs")

    async def _passes(self, every_seconds: float) -> None:
        while not self._stopping:
            self._wake.clear()
            free = self.concurrency - self._busy
            started = 0
            self.pass_started = time.monotonic()
            try:
                await self._promote_schedules()
                started = len(await self._claim_and_start())
            except DatabaseUnavailable as exc:
                logger.warning("job pass skipped: database unavailable", error=str(exc))
            except Exception as exc:  # the loop must outlive any one pass
                logger.error("job pass failed", error=repr(exc))
            self.pass_finished = time.monotonic()
            if self._stopping:
                return
            # Every slot taken (or filled now, so more may be due): pass again as soon as one frees.
            self._saturated = free <= 0 or started >= free
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), every_seconds)

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop claiming; let runs in flight finish for up to `grace_seconds`, then cancel the rest (their rows
        stay `running` and another replica takes them over after their lease)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_seconds
        self._stopping = True
        self._wake.set()
        self._slot_freed.set()
        passes, self._loop = self._loop, None
        if passes is not None and not passes.done():
            try:
                await asyncio.wait_for(asyncio.shield(passes), max(deadline - loop.time(), 0.01))
            except TimeoutError:
                passes.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await passes
        in_flight = set(self._tasks)
        if in_flight:
            _, cut = await asyncio.wait(in_flight, timeout=max(deadline - loop.time(), 0.01))
            if cut:
                logger.info("job runs cut short by shutdown; another replica resumes them", runs=len(cut))
                for task in cut:
                    task.cancel()
                await asyncio.wait(cut, timeout=1.0)


def _run_of(row: Mapping[str, Any], now: datetime) -> JobRun:
    return JobRun(
        row["id"], row["job"], row["run_key"], row["due_at"], json.loads(row["payload"]), row["attempts"], now
    )


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
