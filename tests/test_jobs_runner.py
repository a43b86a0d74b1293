"""The job runner fit for paging: concurrent bounded runs, short heartbeat leases taken over after a crash, fast
and honest retries, schedules that are not rewritten, pruning, and the one API for counting runs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg

from bot import jobs
from bot.clock import FrozenClock
from bot.jobs import PAGING_RETRY, JobRun, Retry, RetryLater, call, cron_next
from tests.conftest import BotFactory, RunningBot, eventually


async def schedule(bot: RunningBot, job: str, key: str, clock: FrozenClock, **payload: Any) -> None:
    async with bot.db.transaction() as conn:
        assert await bot.services.jobs.schedule_once(conn, job, key, clock.now(), payload)


async def status(bot: RunningBot, job: str, key: str) -> str | None:
    return await bot.db.fetchval("SELECT status FROM job_runs WHERE job = $1 AND run_key = $2", job, key)


# -- runs execute concurrently, bounded ------------------------------------------------------------------------------


async def test_a_slow_run_does_not_hold_a_due_one(bot: RunningBot, clock: FrozenClock) -> None:
    release = asyncio.Event()

    @bot.services.jobs.handler("test.slow")
    async def slow(run: JobRun) -> None:
        await release.wait()  # a Slack call that takes its time

    @bot.services.jobs.handler("test.fast")
    async def fast(run: JobRun) -> None:
        return None

    await schedule(bot, "test.slow", "s", clock)  # due first: in sequence it would hold the other
    clock.advance(timedelta(seconds=1))
    await schedule(bot, "test.fast", "f", clock)
    tick = asyncio.create_task(bot.tick())
    try:
        await eventually(lambda: _is(bot, "test.fast", "f", "done"))
        assert await status(bot, "test.slow", "s") == "running"
        assert not tick.done()  # tick() waits for what it started
    finally:
        release.set()
    assert await tick == 2
    assert await status(bot, "test.slow", "s") == "done"
    # How late each run started, for the dashboards: the slow one was due a second before the tick.
    assert 'zzik_job_lag_seconds_sum{job="test.slow"} 1.0' in bot.services.metrics.render().decode()


async def _is(bot: RunningBot, job: str, key: str, expected: str) -> bool:
    return await status(bot, job, key) == expected


async def test_no_more_runs_are_claimed_than_there_are_free_slots(bot: RunningBot, clock: FrozenClock) -> None:
    runner = bot.services.jobs
    runner.concurrency = 2
    release = asyncio.Event()
    started: list[str] = []

    @runner.handler("test.slow")
    async def slow(run: JobRun) -> None:
        started.append(run.run_key)
        await release.wait()

    @runner.handler("test.now")
    async def now(run: JobRun) -> None:
        started.append(run.run_key)

    for key in "abcd":
        await schedule(bot, "test.slow", key, clock)
    tick = asyncio.create_task(bot.tick())
    try:
        await eventually(lambda: len(started) == 2)
        rows = await bot.db.fetch("SELECT status, count(*) AS n FROM job_runs WHERE job = 'test.slow' GROUP BY status")
        # Two run; the other two are not held in memory past a lease: they stay pending for any replica.
        assert {r["status"]: r["n"] for r in rows} == {"pending": 2, "running": 2}

        # A fresh run after its commit still runs here at once, past the bound, without waiting for a slot.
        await schedule(bot, "test.now", "n", clock)
        assert await asyncio.wait_for(runner.run_now("test.now", "n"), 10)
        assert "n" in started and await status(bot, "test.now", "n") == "done"
    finally:
        release.set()
    assert await tick == 4  # once a slot frees, the same tick claims what waited
    assert sorted(started) == ["a", "b", "c", "d", "n"]


async def test_the_background_loop_claims_while_runs_are_in_flight(bot: RunningBot, clock: FrozenClock) -> None:
    runner = bot.services.jobs
    release = asyncio.Event()

    @runner.handler("test.slow")
    async def slow(run: JobRun) -> None:
        await release.wait()

    @runner.handler("test.fast")
    async def fast(run: JobRun) -> None:
        return None

    runner.start(0.05)
    try:
        await schedule(bot, "test.slow", "s", clock)
        await eventually(lambda: _is(bot, "test.slow", "s", "running"))
        await schedule(bot, "test.fast", "f", clock)  # due while the slow one is in flight
        await eventually(lambda: _is(bot, "test.fast", "f", "done"))
        assert await status(bot, "test.slow", "s") == "running"
        release.set()
        await eventually(lambda: _is(bot, "test.slow", "s", "done"))
    finally:
        release.set()
        await runner.stop(grace_seconds=5)


async def test_stop_lets_runs_in_flight_finish_within_the_grace(bot: RunningBot, clock: FrozenClock) -> None:
    runner = bot.services.jobs
    release = asyncio.Event()

    @runner.handler("test.slow")
    async def slow(run: JobRun) -> None:
        await release.wait()

    runner.start(0.05)
    await schedule(bot, "test.slow", "s", clock)
    await eventually(lambda: _is(bot, "test.slow", "s", "running"))
    stopping = asyncio.create_task(runner.stop(grace_seconds=30))
    await schedule(bot, "test.slow", "t", clock)  # after stop: nobody here claims it
    release.set()
    await asyncio.wait_for(stopping, 30)
    assert await status(bot, "test.slow", "s") == "done"
    assert await status(bot, "test.slow", "t") == "pending"
    assert await runner.tick() == 0


async def test_runs_declared_in_order_run_one_after_another_on_any_replica(
    make_bot: BotFactory, clock: FrozenClock
) -> None:
    one, two = await make_bot(replica_id="one"), await make_bot(replica_id="two")
    release = asyncio.Event()
    posted: list[str] = []
    for bot in (one, two):

        @bot.services.jobs.handler("test.post", in_order="incident_id")
        async def post(run: JobRun) -> None:
            if run.run_key == "1:resolved":
                await release.wait()  # Slack is slow with the first post
            posted.append(run.run_key)

    await schedule(one, "test.post", "1:resolved", clock, incident_id=1)
    await schedule(one, "test.post", "2:declared", clock, incident_id=2)
    clock.advance(timedelta(seconds=1))
    await schedule(one, "test.post", "1:reopened", clock, incident_id=1)
    tick = asyncio.create_task(one.tick())
    try:
        await eventually(lambda: posted == ["2:declared"])  # another incident's post does not wait
        await two.tick()  # nor does another replica post the reopening before the resolution
        assert posted == ["2:declared"] and await status(one, "test.post", "1:reopened") == "pending"
    finally:
        release.set()
    await asyncio.wait_for(tick, 10)  # the same tick runs the one that waited
    assert posted == ["2:declared", "1:resolved", "1:reopened"]


# -- short heartbeat leases: a dead replica's runs are taken over within seconds ---------------------------------


async def test_a_dead_replicas_runs_are_taken_over_after_the_short_lease(
    make_bot: BotFactory, clock: FrozenClock
) -> None:
    one, two = await make_bot(replica_id="one"), await make_bot(replica_id="two")
    entered = asyncio.Event()
    ran: list[tuple[str, str, int]] = []
    for bot in (one, two):
        name = bot.services.replica_id

        async def work(run: JobRun, name: str = name) -> None:
            ran.append((name, run.job, run.attempts))
            if name == "one":
                entered.set()
                await asyncio.Event().wait()  # stuck until the process dies

        bot.services.jobs.handler("test.page", lease=timedelta(seconds=10))(work)
        bot.services.jobs.handler("test.note")(work)  # no lease declared: the default, short one

    await schedule(one, "test.page", "p", clock)
    await schedule(one, "test.note", "n", clock)
    ticking = asyncio.create_task(one.tick())
    await eventually(lambda: len(ran) == 2)
    # Replica one dies mid-run: its runs stop, nothing is recorded, no heartbeat renews their leases.
    await one.services.jobs.stop(grace_seconds=0)
    await asyncio.wait_for(ticking, 10)
    rows = await one.db.fetch("SELECT status, claimed_by FROM job_runs WHERE job LIKE 'test.%' ORDER BY job")
    assert [(r["status"], r["claimed_by"]) for r in rows] == [("running", "one"), ("running", "one")]

    await two.tick()
    assert [r for r in ran if r[0] == "two"] == []  # leases still live
    clock.advance(timedelta(seconds=11))
    await two.tick()
    assert [r for r in ran if r[0] == "two"] == [("two", "test.page", 2)]  # the paging job's 10 s lease is over
    clock.advance(timedelta(seconds=50))
    await two.tick()
    assert ("two", "test.note", 2) in ran  # the default lease is a minute, not ten
    rows = await two.db.fetch(
        "SELECT job, status, claimed_by, attempts FROM job_runs WHERE job LIKE 'test.%' ORDER BY job"
    )
    assert [tuple(r) for r in rows] == [("test.note", "done", "two", 2), ("test.page", "done", "two", 2)]


async def test_a_live_run_renews_its_lease_and_is_not_taken_over(make_bot: BotFactory, clock: FrozenClock) -> None:
    one, two = await make_bot(replica_id="one"), await make_bot(replica_id="two")
    release = asyncio.Event()
    ran: list[str] = []
    lease = timedelta(seconds=0.6)  # a heartbeat every 0.2 s of real time
    for bot in (one, two):
        name = bot.services.replica_id

        @bot.services.jobs.handler("test.page", lease=lease)
        async def work(run: JobRun, name: str = name) -> None:
            ran.append(name)
            await release.wait()

    await schedule(one, "test.page", "p", clock)
    ticking = asyncio.create_task(one.tick())
    try:
        await eventually(lambda: ran == ["one"])
        clock.advance(timedelta(seconds=5))  # far past the lease, were it not renewed
        await eventually(lambda: _claimed_at(one, clock))
        await two.tick()
        assert ran == ["one"]
    finally:
        release.set()
    await asyncio.wait_for(ticking, 10)
    assert await status(one, "test.page", "p") == "done"


async def test_a_run_taken_over_while_it_ran_leaves_its_outcome_to_the_new_holder(
    bot: RunningBot, clock: FrozenClock
) -> None:
    release = asyncio.Event()
    started = asyncio.Event()

    @bot.services.jobs.handler("test.page", lease=timedelta(seconds=0.6))
    async def work(run: JobRun) -> None:
        started.set()
        await release.wait()  # stalled long enough (a paused VM) for another replica to take the run over

    await schedule(bot, "test.page", "p", clock)
    ticking = asyncio.create_task(bot.tick())
    await asyncio.wait_for(started.wait(), 10)
    # What another replica's claim does once the lease has run out.
    await bot.db.execute(
        "UPDATE job_runs SET claimed_by = 'two', attempts = attempts + 1, claimed_at = $1 WHERE run_key = 'p'",
        clock.now(),
    )
    release.set()
    await asyncio.wait_for(ticking, 10)
    row = await bot.db.fetchrow("SELECT status, claimed_by, attempts FROM job_runs WHERE run_key = 'p'")
    assert tuple(row) == ("running", "two", 2)  # the holder records the outcome, not the stalled replica


async def _claimed_at(bot: RunningBot, clock: FrozenClock) -> bool:
    return await bot.db.fetchval("SELECT claimed_at FROM job_runs") == clock.now()


# -- retries: per job, fast for pages, Retry-After honoured, given up on out loud ------------------------------------


class Throttled(Exception):
    """What a PagerDuty or Slack client raises on 429: the server's Retry-After, in seconds."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__(f"429, retry after {retry_after}")
        self.retry_after = retry_after


async def retry_delay(bot: RunningBot, clock: FrozenClock, job: str, key: str) -> float:
    row = await bot.db.fetchrow("SELECT status, due_at FROM job_runs WHERE job = $1 AND run_key = $2", job, key)
    assert row["status"] == "pending"
    return (row["due_at"] - clock.now()).total_seconds()


async def test_retry_after_is_honoured_and_capped(bot: RunningBot, clock: FrozenClock) -> None:
    answers: list[BaseException] = [
        RetryLater("PagerDuty said wait", retry_after=3),
        Throttled(2.5),
        Throttled(86400),  # a day: capped
        Throttled(None),  # no figure: the job's backoff
        Throttled(-5),
    ]
    seen: list[int] = []

    @bot.services.jobs.handler("test.trigger", retry=Retry(max_attempts=10))
    async def trigger(run: JobRun) -> None:
        seen.append(run.attempts)
        if answers:
            raise answers.pop(0)

    await schedule(bot, "test.trigger", "t", clock)
    delays = []
    for _ in range(4):
        await bot.tick()
        delays.append(await retry_delay(bot, clock, "test.trigger", "t"))
        clock.advance(timedelta(seconds=delays[-1]))
    assert delays == [3, 2.5, 300, 30 * 2**3]
    await bot.tick()  # Retry-After -5: due again at once (the same tick may already have run it again)
    if await status(bot, "test.trigger", "t") == "pending":
        assert await retry_delay(bot, clock, "test.trigger", "t") == 0
        await bot.tick()
    assert seen == [1, 2, 3, 4, 5, 6] and await status(bot, "test.trigger", "t") == "done"
    error = await bot.db.fetchval("SELECT last_error FROM job_runs WHERE run_key = 't'")
    assert error is None


async def page_flow(services: Any, run: JobRun) -> None:
    raise RetryLater("PagerDuty is down")  # retry_after None: the policy's backoff


async def test_a_p1_page_is_retried_fast_then_given_up_on_out_loud(bot: RunningBot, clock: FrozenClock) -> None:
    gave_up: list[tuple[Any, JobRun, Exception]] = []

    async def tell(services: Any, run: JobRun, error: Exception) -> None:
        gave_up.append((services, run, error))

    def by_severity(run: JobRun) -> Retry:
        return PAGING_RETRY if run.payload["severity"] == "P1" else jobs.DEFAULT_RETRY

    bot.services.jobs.declare(
        bot.services, {"test.page": call(page_flow, jobs.the_run, retry=by_severity, on_gave_up=tell)}
    )
    await schedule(bot, "test.page", "p1", clock, severity="P1")
    await schedule(bot, "test.page", "p3", clock, severity="P3")
    await bot.tick()
    assert await retry_delay(bot, clock, "test.page", "p3") == 30  # the default: 30 s first

    delays = []
    while await status(bot, "test.page", "p1") == "pending":
        delay = await retry_delay(bot, clock, "test.page", "p1")
        delays.append(delay)
        clock.advance(timedelta(seconds=delay))
        await bot.tick()
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30, 30, 30, 30]
    row = await bot.db.fetchrow("SELECT status, attempts, last_error FROM job_runs WHERE run_key = 'p1'")
    assert row["status"] == "failed" and row["attempts"] == 12 and "PagerDuty is down" in row["last_error"]
    assert len(gave_up) == 1
    services, run, error = gave_up[0]
    assert services is bot.services and run.run_key == "p1" and run.final_attempt and run.max_attempts == 12
    assert isinstance(error, RetryLater)
    assert await status(bot, "test.page", "p3") == "pending"  # still backing off, slowly


# -- schedules: written once, only due rows locked -------------------------------------------------------------------


async def test_schedule_promotion_neither_rewrites_nor_waits_on_rows_not_due(
    make_bot: BotFactory, clock: FrozenClock
) -> None:
    one, two = await make_bot(replica_id="one"), await make_bot(replica_id="two")
    for bot in (one, two):

        @bot.services.jobs.recurring("test.daily", spec="09:00 UTC", next_due=cron_next("0 9 * * *", "UTC"))
        async def daily(run: JobRun) -> None:
            return None

    await asyncio.gather(one.tick(), two.tick())
    before = await one.db.fetchrow(
        "SELECT xmin::text AS version, updated_at FROM job_schedules WHERE job = 'test.daily'"
    )
    clock.advance(timedelta(minutes=5))
    for _ in range(3):
        await asyncio.gather(one.tick(), two.tick())
    after = await one.db.fetchrow(
        "SELECT xmin::text AS version, updated_at FROM job_schedules WHERE job = 'test.daily'"
    )
    assert tuple(after) == tuple(before)  # not rewritten by any tick

    # Another session holds the schedule row (a replica mid-promotion, a long report): ticks do not queue on it.
    conn = await asyncpg.connect(one.db.dsn, server_settings=one.db.server_settings)
    try:
        async with conn.transaction():
            await conn.execute("SELECT 1 FROM job_schedules WHERE job = 'test.daily' FOR UPDATE")
            await asyncio.wait_for(asyncio.gather(one.tick(), two.tick()), 10)
    finally:
        await conn.close()

    # A replica with a new spec rewrites the row once, from now.
    three = await make_bot(replica_id="three")

    @three.services.jobs.recurring("test.daily", spec="10:00 UTC", next_due=cron_next("0 10 * * *", "UTC"))
    async def daily_at_ten(run: JobRun) -> None:
        return None

    await three.tick()
    row = await three.db.fetchrow("SELECT spec, next_due_at FROM job_schedules WHERE job = 'test.daily'")
    assert row["spec"] == "10:00 UTC" and row["next_due_at"].hour == 10


# -- pruning ---------------------------------------------------------------------------------------------------------


async def test_finished_runs_of_recurring_jobs_are_pruned_one_off_runs_kept(
    bot: RunningBot, clock: FrozenClock
) -> None:
    @bot.services.jobs.recurring("test.daily", spec="09:00 UTC", next_due=cron_next("0 9 * * *", "UTC"))
    async def daily(run: JobRun) -> None:
        return None

    @bot.services.jobs.handler("test.setup")
    async def setup(run: JobRun) -> None:
        return None

    await bot.tick()  # schedules the daily prune
    prune_at = await bot.db.fetchval("SELECT next_due_at FROM job_schedules WHERE job = $1", jobs.PRUNE)
    clock.set(prune_at + timedelta(seconds=1))
    now = clock.now()
    rows = [  # job, key, status, finished days ago (None: never set, as cancelled runs had), due days ago
        ("test.daily", "done-8d", "done", 8, 8),
        ("test.daily", "done-6d", "done", 6, 6),
        ("test.daily", "cancelled-8d", "cancelled", None, 8),
        ("test.daily", "cancelled-2d", "cancelled", None, 2),
        ("test.daily", "failed-8d", "failed", 8, 8),
        ("test.daily", "failed-31d", "failed", 31, 31),
        ("test.setup", "inc-1:1", "done", 60, 60),  # one-off: a domain counts these
        ("test.setup", "inc-1:2", "failed", 60, 60),
    ]
    for job, key, state, finished, due in rows:
        await bot.db.execute(
            "INSERT INTO job_runs (job, run_key, status, finished_at, due_at) VALUES ($1, $2, $3, $4, $5)",
            job,
            key,
            state,
            None if finished is None else now - timedelta(days=finished),
            now - timedelta(days=due),
        )
    await bot.tick()
    assert await status(bot, jobs.PRUNE, prune_at.isoformat()) == "done"
    left = await bot.db.fetch("SELECT run_key FROM job_runs WHERE job IN ('test.daily', 'test.setup') ORDER BY run_key")
    assert [r["run_key"] for r in left] == [
        "cancelled-2d",
        "done-6d",
        "failed-8d",
        "inc-1:1",
        "inc-1:2",
    ]
    assert await bot.services.jobs.count(None, "test.setup", "inc-1:") == 2


# -- one API for pending / count -------------------------------------------------------------------------------------


async def test_pending_and_count_of_runs_by_key_prefix(bot: RunningBot, clock: FrozenClock) -> None:
    runner = bot.services.jobs

    @runner.handler("test.retry")
    async def retry(run: JobRun) -> None:
        return None

    async with bot.db.transaction() as conn:
        assert await runner.count(conn, "test.retry", "inc-1:") == 0
        assert not await runner.pending(conn, "test.retry", "inc-1:")
        await runner.schedule_once(conn, "test.retry", "inc-1:1", clock.now())
        await runner.schedule_once(conn, "test.retry", "inc-1:2", clock.now() + timedelta(minutes=5))
        await runner.schedule_once(conn, "test.retry", "inc-12:1", clock.now())
        # Inside the caller's transaction, before it commits.
        assert await runner.count(conn, "test.retry", "inc-1:") == 2
        assert await runner.pending(conn, "test.retry", "inc-1:")
        assert await runner.count(None, "test.retry", "inc-1:") == 0  # not committed yet
    assert await bot.tick() == 2  # inc-1:1 and inc-12:1
    assert await runner.count(None, "test.retry", "inc-1:") == 2
    assert await runner.pending(None, "test.retry", "inc-1:")  # inc-1:2, later
    async with bot.db.transaction() as conn:
        assert await runner.cancel_prefix(conn, "test.retry", "inc-1:") == 1
        assert not await runner.pending(conn, "test.retry", "inc-1:")
        assert not await runner.pending(conn, "test.retry", "inc-12:")
        assert await runner.count(conn, "test.retry", "inc-1") == 3
