"""Maintenance checklists with a moved clock: on time in the team zone, across DST, once with two replicas,
once after downtime, ticks and assignments recorded, one overdue nudge."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from bot.maintenance.flows import deadline, overdue
from bot.opsconfig import Deadline
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually, handled

DAILY_THU = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # Thursday 09:00 CET


@pytest.fixture
async def pair(make_bot: BotFactory) -> tuple[RunningBot, RunningBot]:
    config = config_with(oncall=ROTA)
    return await make_bot(config, replica_id="one"), await make_bot(config, replica_id="two")


def checklists(fake: FakeSlack) -> list[dict]:
    return [c for c in fake.calls_to("chat.postMessage") if c["channel"] == "#zzik-dev" and not c.get("thread_ts")]


async def tick_all(pair: tuple[RunningBot, RunningBot]) -> None:
    await asyncio.gather(pair[0].tick(), pair[1].tick(), pair[0].tick(), pair[1].tick())


async def check(bot: RunningBot, post_id: int, values: list[int], user: str = "U0BOB") -> None:
    click = bot.slack.checkboxes(
        "maintenance_check", f"maint:{post_id}", [str(v) for v in values], user=user, channel="#zzik-dev"
    )
    assert (await handled(bot, "maintenance_check", click)).status == 200


async def test_daily_weekly_monthly_post_on_time_once(
    pair: tuple[RunningBot, RunningBot], fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    clock.set(DAILY_THU - timedelta(hours=1))
    await tick_all(pair)  # the schedules are laid down
    assert checklists(fake_slack) == []
    clock.set(DAILY_THU - timedelta(seconds=1))
    await tick_all(pair)
    assert checklists(fake_slack) == []
    clock.set(DAILY_THU + timedelta(seconds=1))
    await tick_all(pair)
    [daily] = checklists(fake_slack)
    text = flatten(daily)
    assert "*Daily maintenance checklist* · Thu 26 Nov 09:00 CET · due by Thu 26 Nov 23:59 CET · 0/4 done" in text
    for item in (
        "Review error logs",
        "Check monitoring dashboards",
        "Verify backup completion",
        "Review security alerts",
    ):
        assert item in text
    assert "Posted late" not in text

    clock.set(datetime(2026, 11, 30, 8, 30, 1, tzinfo=UTC))  # Monday 09:30 CET: the weekly (and Friday's daily)
    await tick_all(pair)
    kinds = [flatten(c).split("*")[1] for c in checklists(fake_slack)]
    assert kinds.count("Weekly maintenance checklist") == 1
    weekly = next(c for c in checklists(fake_slack) if "Weekly" in c["text"])
    assert "due by Fri 04 Dec 17:00 CET" in flatten(weekly)
    clock.set(datetime(2026, 12, 1, 9, 0, 1, tzinfo=UTC))  # the 1st, 10:00 CET
    await tick_all(pair)
    monthly = [c for c in checklists(fake_slack) if "Monthly" in c["text"]]
    assert len(monthly) == 1 and "due by Mon 07 Dec 23:59 CET" in flatten(monthly[0])
    rows = await pair[0].db.fetch("SELECT kind, count(*) AS n FROM maintenance_posts GROUP BY kind ORDER BY kind")
    assert {r["kind"]: r["n"] for r in rows}["monthly"] == 1


async def test_daily_stays_nine_local_across_daylight_saving(
    make_bot: BotFactory, clock: FrozenClock, fake_slack: FakeSlack
) -> None:
    bot = await make_bot(config_with(oncall=ROTA))
    clock.set(datetime(2027, 3, 26, 12, 0, tzinfo=UTC))  # Friday before the spring switch
    await bot.tick()
    due = await bot.db.fetchval("SELECT next_due_at FROM job_schedules WHERE job = 'maintenance.daily'")
    assert due == datetime(2027, 3, 29, 7, 0, tzinfo=UTC)  # Monday 09:00 CEST
    clock.set(due + timedelta(seconds=1))
    await bot.tick()
    posted = [c for c in fake_slack.calls_to("chat.postMessage") if "Daily" in c["text"]]
    assert len(posted) == 1 and "Mon 29 Mar 09:00 CEST · due by Mon 29 Mar 23:59 CEST" in flatten(posted[0])
    clock.set(datetime(2027, 10, 29, 12, 0, tzinfo=UTC))  # Friday before the autumn switch
    await bot.tick()
    due = await bot.db.fetchval("SELECT next_due_at FROM job_schedules WHERE job = 'maintenance.daily'")
    assert due == datetime(2027, 11, 1, 8, 0, tzinfo=UTC)  # Monday 09:00 CET


async def test_after_downtime_posted_once_and_marked_late(
    pair: tuple[RunningBot, RunningBot], fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    await tick_all(pair)
    clock.set(datetime(2026, 11, 30, 14, 0, tzinfo=UTC))  # down from Wednesday night to Monday afternoon
    await tick_all(pair)
    dailies = [c for c in checklists(fake_slack) if "Daily" in c["text"]]
    assert len(dailies) == 1
    assert "Posted late (Mon 30 Nov 15:00 CET): the bot was down when it was due." in flatten(dailies[0])


async def test_ticks_assignments_and_one_overdue_nudge(
    pair: tuple[RunningBot, RunningBot], fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    one, two = pair
    clock.set(DAILY_THU - timedelta(hours=1))
    await tick_all(pair)
    clock.set(DAILY_THU + timedelta(minutes=1))
    await tick_all(pair)
    post_id = await one.db.fetchval("SELECT id FROM maintenance_posts WHERE kind = 'daily'")
    await check(one, post_id, [0, 2], user="U0BOB")
    await check(two, post_id, [0, 2], user="U0BOB")  # the same selection again: nothing changes
    items = await one.db.fetch("SELECT item, done_by FROM maintenance_items WHERE post_id = $1 ORDER BY item", post_id)
    assert [r["done_by"] for r in items] == ["U0BOB", None, "U0BOB", None]
    update = fake_slack.calls_to("chat.update")[-1]
    assert "2/4 done" in flatten(update) and "<@U0BOB> · Thu 26 Nov 09:01 CET" in flatten(update)

    assert (await one.slack.action("maintenance_assign", f"{post_id}:1", user="U0CAROL")).status == 200
    said = await eventually(lambda: [c for c in fake_slack.calls_to("response_url") if "assigned" in c["text"]])
    assert said[0]["text"] == "“Check monitoring dashboards” is assigned to you."
    overview = await ask(fake_slack, one, "/maintenance")
    assert "*Daily* of Thu 26 Nov 09:00 CET: 2/4 done, due by Thu 26 Nov 23:59 CET" in overview
    assert "open: Check monitoring dashboards (<@U0CAROL>); Review security alerts" in overview

    clock.set(datetime(2026, 11, 26, 22, 59, 1, tzinfo=UTC))  # 23:59:01 CET
    await tick_all(pair)
    await tick_all(pair)
    nudges = [c for c in fake_slack.calls_to("chat.postMessage") if c.get("thread_ts")]
    assert len(nudges) == 1
    assert nudges[0]["text"] == (
        ":alarm_clock: The daily checklist was due by Thu 26 Nov 23:59 CET; still open: "
        "Check monitoring dashboards (<@U0CAROL>); Review security alerts."
    )
    lines = []
    for section in one.services.handoff_summary:
        lines += await section(one.services, clock.now() - timedelta(days=7), clock.now() + timedelta(seconds=1))
    assert "*Missed maintenance (1)*" in lines


async def test_the_nudge_of_a_checklist_slack_has_not_shown_yet_waits_for_it(
    pair: tuple[RunningBot, RunningBot], fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    one, _ = pair
    clock.set(DAILY_THU - timedelta(hours=1))
    await tick_all(pair)
    fake_slack.fail("chat.postMessage", error="ratelimited", channel="#zzik-dev")  # the checklist's first post
    clock.set(DAILY_THU + timedelta(minutes=1))
    await tick_all(pair)
    post_id = await one.db.fetchval("SELECT id FROM maintenance_posts WHERE kind = 'daily' AND ts IS NULL")
    assert post_id is not None  # recorded, not yet in Slack
    # Its deadline passing now (a late post is overdue at once): the nudge waits for the checklist, a retry.
    with pytest.raises(RuntimeError, match="not posted yet"):
        await overdue(one.services, post_id)
    assert await one.db.fetchval("SELECT nudged_at FROM maintenance_posts WHERE id = $1", post_id) is None
    ts = None
    for _ in range(10):  # the checklist's job, retried, posts the recorded checklist
        clock.advance(timedelta(minutes=1))
        await tick_all(pair)
        ts = await one.db.fetchval("SELECT ts FROM maintenance_posts WHERE id = $1", post_id)
        if ts is not None:
            break
    assert ts is not None
    assert await one.db.fetchval("SELECT count(*) FROM maintenance_posts") == 1  # the retry posted the same one
    assert await overdue(one.services, post_id)
    posted = [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] in ("#zzik-dev", "C0DEV")]
    # The refused checklist, the checklist, then the nudge in its thread: never a nudge on its own in the channel.
    assert [c.get("thread_ts") for c in posted] == [None, None, ts]
    assert posted[2]["text"].startswith(":alarm_clock: The daily checklist was due by")


async def test_a_completed_checklist_is_not_nudged(
    pair: tuple[RunningBot, RunningBot], fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    clock.set(DAILY_THU - timedelta(hours=1))
    await tick_all(pair)
    clock.set(DAILY_THU + timedelta(minutes=1))
    await tick_all(pair)
    post_id = await pair[0].db.fetchval("SELECT id FROM maintenance_posts")
    await check(pair[0], post_id, [0, 1, 2, 3])
    assert await pair[0].db.fetchval("SELECT completed_at FROM maintenance_posts") is not None
    clock.set(datetime(2026, 11, 27, 0, 0, tzinfo=UTC))
    await tick_all(pair)
    assert [c for c in fake_slack.calls_to("chat.postMessage") if c.get("thread_ts")] == []


async def test_post_now_and_bad_input(pair: tuple[RunningBot, RunningBot], fake_slack: FakeSlack) -> None:
    bot = pair[0]
    said = await ask(fake_slack, bot, "/maintenance", "post weekly", user="U0DAVE")
    assert said == "The weekly checklist is posted in #zzik-dev (due by Fri 27 Nov 17:00 CET)."
    assert "Posted by <@U0DAVE>." in flatten(checklists(fake_slack)[0])
    assert "say which checklist" in await ask(fake_slack, bot, "/maintenance", "post yearly")
    assert "`clean` is not a /maintenance command" in await ask(fake_slack, bot, "/maintenance", "clean")
    assert await bot.db.fetchval("SELECT count(*) FROM maintenance_posts") == 1


@pytest.mark.parametrize(
    ("due", "rule", "expected"),
    [
        ("2026-11-26T08:00:00+00:00", Deadline(time="23:59"), "2026-11-26T22:59:00+00:00"),
        ("2026-11-26T23:30:00+00:00", Deadline(time="23:59"), "2026-11-27T22:59:00+00:00"),
        ("2026-11-30T08:30:00+00:00", Deadline(weekday="friday", time="17:00"), "2026-12-04T16:00:00+00:00"),
        ("2026-12-04T17:00:00+00:00", Deadline(weekday="friday", time="17:00"), "2026-12-11T16:00:00+00:00"),
        ("2026-12-01T09:00:00+00:00", Deadline(day=7, time="23:59"), "2026-12-07T22:59:00+00:00"),
        ("2026-12-20T09:00:00+00:00", Deadline(day=7, time="23:59"), "2027-01-07T22:59:00+00:00"),
    ],
)
def test_deadlines(due: str, rule: Deadline, expected: str) -> None:
    from zoneinfo import ZoneInfo

    assert deadline(datetime.fromisoformat(due), rule, ZoneInfo("Europe/Berlin")) == datetime.fromisoformat(expected)
