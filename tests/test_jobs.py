"""Exactly-once scheduled work: two app instances on one database, a moved clock, downtime."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.clock import FrozenClock
from bot.jobs import JobRun, cron_next
from tests.conftest import BotFactory


async def test_a_due_recurring_job_runs_once_across_two_instances(make_bot: BotFactory, clock: FrozenClock) -> None:
    one, two = await make_bot(replica_id="one"), await make_bot(replica_id="two")
    ran: list[tuple[str, JobRun]] = []
    for bot in (one, two):
        name = bot.services.replica_id

        @bot.services.jobs.recurring("test.daily", spec="09:00 Seoul", next_due=cron_next("0 9 * * *", "Asia/Seoul"))
        async def daily(run: JobRun, name: str = name) -> None:
            await asyncio.sleep(0.05)  # long enough for the other replica to try the same row
            ran.append((name, run))

    await asyncio.gather(one.tick(), two.tick())  # first sight: schedules the next 09:00 Seoul, runs nothing
    assert ran == []
    due = await one.db.fetchval("SELECT next_due_at FROM job_schedules WHERE job = 'test.daily'")
    assert due == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)  # 09:00 KST

    clock.set(due + timedelta(seconds=3))
    for _ in range(3):
        await asyncio.gather(one.tick(), two.tick(), one.tick(), two.tick())
    assert len(ran) == 1
    assert ran[0][1].due_at == due and not ran[0][1].is_late()
    runs = await one.db.fetch("SELECT status, claimed_by FROM job_runs WHERE job = 'test.daily'")
    assert [r["status"] for r in runs] == ["done"]


async def test_downtime_over_several_due_times_runs_once_and_late(make_bot: BotFactory, clock: FrozenClock) -> None:
    bot = await make_bot()
    ran: list[JobRun] = []

    @bot.services.jobs.recurring("test.daily", spec="09:00 UTC", next_due=cron_next("0 9 * * *", "UTC"))
    async def daily(run: JobRun) -> None:
        ran.append(run)

    await bot.tick()
    clock.advance(timedelta(days=3, hours=2))  # every replica was down for three 09:00s
    await bot.tick()
    await bot.tick()
    assert len(ran) == 1
    assert ran[0].is_late() and ran[0].lateness > timedelta(days=2)
    nxt = await bot.db.fetchval("SELECT next_due_at FROM job_schedules WHERE job = 'test.daily'")
    assert nxt > clock.now()


async def test_one_off_jobs_exactly_once_cancel_and_retry(make_bot: BotFactory, clock: FrozenClock) -> None:
    one, two = await make_bot(replica_id="one"), await make_bot(replica_id="two")
    seen: list[dict] = []
    failures = {"left": 1}
    for bot in (one, two):

        @bot.services.jobs.handler("test.page")
        async def page(run: JobRun) -> None:
            if run.payload.get("flaky") and failures["left"]:
                failures["left"] -= 1
                raise RuntimeError("pager down")
            seen.append(run.payload)

    async with one.db.transaction() as conn:
        assert await one.services.jobs.schedule_once(
            conn, "test.page", "inc-1", clock.now() + timedelta(minutes=5), {"n": 1}
        )
        # The same key from another replica (a retried request): no second run.
        assert not await two.services.jobs.schedule_once(conn, "test.page", "inc-1", clock.now(), {"n": 99})
        await one.services.jobs.schedule_once(conn, "test.page", "inc-2", clock.now() + timedelta(minutes=5), {"n": 2})
        await one.services.jobs.schedule_once(
            conn, "test.page", "inc-3", clock.now() + timedelta(minutes=5), {"n": 3, "flaky": True}
        )
        assert await one.services.jobs.cancel(conn, "test.page", "inc-2")

    await asyncio.gather(one.tick(), two.tick())
    assert seen == []  # not due yet
    clock.advance(timedelta(minutes=5))
    await asyncio.gather(one.tick(), two.tick())
    assert seen == [{"n": 1}]
    status = await one.db.fetchval("SELECT status FROM job_runs WHERE run_key = 'inc-3'")
    assert status == "pending"  # failed once, retried later
    clock.advance(timedelta(minutes=1))
    await asyncio.gather(one.tick(), two.tick())
    assert seen == [{"n": 1}, {"n": 3, "flaky": True}]
    rows = await one.db.fetch("SELECT run_key, status, attempts FROM job_runs WHERE job = 'test.page' ORDER BY run_key")
    assert [(r["run_key"], r["status"], r["attempts"]) for r in rows] == [
        ("inc-1", "done", 1),
        ("inc-2", "cancelled", 0),
        ("inc-3", "done", 2),
    ]


def test_cron_next_keeps_wall_clock_across_daylight_saving() -> None:
    nxt = cron_next("0 10 * * mon", "Europe/Berlin")
    before = nxt(datetime(2026, 3, 27, tzinfo=UTC))  # Monday 30 March, after the switch to CEST
    assert before == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    after = nxt(datetime(2026, 10, 20, tzinfo=UTC))  # Monday 26 October, after the switch back to CET
    assert after == datetime(2026, 10, 26, 9, 0, tzinfo=UTC)
