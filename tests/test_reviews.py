"""The weekly review: when the weekly checklist is posted, the week's alerts, incidents, deploys and (from a real
Prometheus) the error-rate and p95 trend follow in its thread."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from bot.incidents import flows as incident_flows
from bot.maintenance.events import ChecklistPosted
from bot.reviews import flows as review_flows
from tests.conftest import ROTA, START, BotFactory, RunningBot, ask, config_with, eventually
from tests.prom import PrometheusServer, backfill, start_prometheus
from tests.test_alerts import AUTH, grafana, post

WEEK = timedelta(days=7)


def reviews(fake: FakeSlack, ts: str) -> list[dict]:
    """The reviews in the thread of the checklist posted as `ts` (the scheduled checklists have their own)."""
    posts = fake.calls_to("chat.postMessage")
    return [c for c in posts if c.get("thread_ts") == ts and (c["text"] or "").startswith("Weekly review")]


async def post_weekly(bot: RunningBot, fake: FakeSlack) -> tuple[dict, str]:
    """/maintenance post weekly: (the review in its thread, the checklist's ts)."""
    said = await ask(fake, bot, "/maintenance", "post weekly", user="U0DAVE")
    assert "The weekly checklist is posted" in said, said
    channel, ts = await bot.db.fetchrow(
        "SELECT channel, ts FROM maintenance_posts WHERE kind = 'weekly' AND posted_by = 'U0DAVE'"
    )
    (review,) = await eventually(lambda: reviews(fake, ts))
    assert review["channel"] == channel
    return review, ts


# -- seeding the week through the bot's own doors -----------------------------------------------------------------


async def alert(bot: RunningBot, clock: FrozenClock, starts: datetime, name: str, fingerprint: str, status="firing"):
    body = grafana(status, starts, ends=starts + timedelta(minutes=2) if status == "resolved" else None, name=name)
    body["alerts"][0]["fingerprint"] = fingerprint
    code, _ = await post(bot.url + "/hooks/grafana", body, AUTH)
    assert code == 200


async def alert_count(bot: RunningBot, wanted: int, where: str = "true") -> bool:
    return await bot.db.fetchval(f"SELECT count(*) FROM alerts WHERE {where}") == wanted


async def seed_alerts(bot: RunningBot, clock: FrozenClock) -> None:
    # Last week (not this one's): one Disk Space.
    clock.set(START - timedelta(days=10))
    await alert(bot, clock, clock.now(), "DiskSpace", "d15k0")
    await eventually(lambda: alert_count(bot, 1))
    # This week: Slow Response three times within the hour (the third labelled flapping), Disk Space once.
    clock.set(START - timedelta(days=2))
    t0 = clock.now()
    for n in range(3):
        starts = t0 + timedelta(minutes=10 * n)
        await alert(bot, clock, starts, "SlowResponse", "c6eadffa33fcdf37")
        await eventually(lambda n=n: alert_count(bot, n + 2))
        if n < 2:
            await alert(bot, clock, starts, "SlowResponse", "c6eadffa33fcdf37", status="resolved")
            await eventually(lambda n=n: alert_count(bot, n + 1, "status = 'resolved'"))
    await alert(bot, clock, t0, "DiskSpace", "d15k1")
    await eventually(lambda: alert_count(bot, 5))
    assert await bot.db.fetchval("SELECT count(*) FROM alerts WHERE flapping AND episode = 3") == 1


async def incident(bot: RunningBot, fake: FakeSlack, clock: FrozenClock, text: str, ack: timedelta | None) -> int:
    said = await ask(fake, bot, "/incident", text)
    assert "INC-" in said, said
    incident_id = await bot.db.fetchval("SELECT max(id) FROM incidents")
    if ack is not None:
        clock.advance(ack)
        await incident_flows.acknowledge(bot.services, incident_id, "U0BOB")
    return incident_id


async def resolve(bot: RunningBot, fake: FakeSlack, incident_id: int) -> None:
    async def channel() -> str | None:
        return await bot.db.fetchval("SELECT channel_id FROM incidents WHERE id = $1", incident_id)

    where = await eventually(channel)
    said = await ask(fake, bot, "/incident", "resolve Fixed", channel=where, user="U0MGR", ephemeral=False)
    assert "resolved after" in said, said


async def seed_incidents(bot: RunningBot, fake: FakeSlack, clock: FrozenClock) -> None:
    clock.set(START - 10 * timedelta(days=1))
    await incident(bot, fake, clock, "p3 Last week's typo", None)  # not this week's
    clock.set(START - timedelta(days=3))
    p1 = await incident(bot, fake, clock, "p1 Checkout is down", timedelta(minutes=4))
    clock.advance(timedelta(minutes=66))
    await resolve(bot, fake, p1)  # 1 h 10 min after it was declared
    clock.set(START - timedelta(days=2))
    await incident(bot, fake, clock, "p2 Search is slow", timedelta(minutes=20))
    clock.set(START - timedelta(days=1))
    await incident(bot, fake, clock, "p2 Uploads are slow", timedelta(minutes=40))


async def seed_deploys(bot: RunningBot) -> None:
    rows = [
        ("prod", "v1.0", "deploy", "succeeded", START - timedelta(days=9)),  # last week
        ("prod", "v1.1", "deploy", "succeeded", START - timedelta(days=4)),
        ("prod", "v1.2", "deploy", "succeeded", START - timedelta(days=2)),
        ("prod", "v1.1", "rollback", "succeeded", START - timedelta(days=2) + timedelta(hours=1)),
        ("staging", "v1.3", "deploy", "failed", START - timedelta(days=1)),
        ("staging", "v1.3b", "deploy", "succeeded", START - timedelta(hours=20)),
    ]
    for n, (environment, version, kind, status, finished) in enumerate(rows):
        await bot.db.execute(
            """INSERT INTO deploys (environment, version, kind, status, request_key, requested_by, started_by,
                                    started_at, finished_at, channel, message_ts, created_at)
               VALUES ($1, $2, $3, $4, $5, 'U0DAVE', 'U0DAVE', $6, $6, 'C0DEPLOYS', $7, $6)""",
            environment,
            version,
            kind,
            status,
            f"seed-{n}",
            finished,
            f"1600000000.{n}",
        )


async def test_the_weekly_checklist_brings_the_weeks_figures_into_its_thread(
    make_bot: BotFactory, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    bot = await make_bot(config_with(oncall=ROTA), zzik_alert_pace_seconds=0.02)
    await seed_alerts(bot, clock)
    await seed_incidents(bot, fake_slack, clock)
    await seed_deploys(bot)
    clock.set(START)
    fake_slack.clear()

    review, ts = await post_weekly(bot, fake_slack)
    text = flatten(review)
    assert review["text"] == "Weekly review 2026-11-18 – 2026-11-25: 4 alert(s), 3 incident(s), 3 deploy(s)"
    assert "*Alerts* · 4 (1 flapping)\n• Slow Response: 3 (1 flapping)\n• Disk Space: 1" in text
    assert (
        "*Incidents* · 3\n"
        "• P1: 1 · to acknowledge median 4m, max 4m · to resolve median 1h 10m, max 1h 10m\n"
        "• P2: 2 (2 still open) · to acknowledge median 30m, max 40m · to resolve —"
    ) in text
    assert "*Deploys*\n• prod: 2 deploy(s), 1 rollback(s)\n• staging: 1 deploy(s), 0 rollback(s), 1 failed" in text
    assert "*Trend* · not measured: no Prometheus is configured (`prometheus.url`)" in text
    served = "For the checklist's _Review performance trends_ and the week's daily _Review error logs_, _Review"
    assert served + " security alerts_" in text

    # Once: the subscriber's run again (a retry, another replica) posts nothing more.
    await bot.tick()
    weekly = await bot.db.fetchrow("SELECT id, items FROM maintenance_posts WHERE ts = $1", ts)
    again = ChecklistPosted(post_id=weekly["id"], kind="weekly", items=json.loads(weekly["items"]))
    await review_flows.checklist_posted(bot.services, again)
    assert len(reviews(fake_slack, ts)) == 1
    # The daily checklist has no review of its own (its error logs and security alerts are in the weekly's).
    assert "The daily checklist is posted" in await ask(fake_slack, bot, "/maintenance", "post daily", user="U0DAVE")
    await bot.tick()
    daily = await bot.db.fetchval("SELECT ts FROM maintenance_posts WHERE kind = 'daily' AND posted_by = 'U0DAVE'")
    assert [c for c in fake_slack.calls_to("chat.postMessage") if c.get("thread_ts") == daily] == []

    # The monthly checklist's Performance audit: the calendar month before, October (nothing seeded then).
    assert "The monthly checklist is posted" in await ask(
        fake_slack, bot, "/maintenance", "post monthly", user="U0DAVE"
    )
    monthly = await bot.db.fetchval("SELECT ts FROM maintenance_posts WHERE kind = 'monthly' AND posted_by = 'U0DAVE'")

    def monthly_review() -> list[dict]:
        posts = fake_slack.calls_to("chat.postMessage")
        return [c for c in posts if c.get("thread_ts") == monthly and c["text"].startswith("Monthly review")]

    (review,) = await eventually(monthly_review)
    assert review["text"] == "Monthly review 2026-10-01 – 2026-10-31: 0 alert(s), 0 incident(s), 0 deploy(s)"


def test_the_periods_are_the_teams_calendar_days() -> None:
    """The month and the week are taken on the team's calendar (oncall.timezone), then kept in UTC."""
    seoul, berlin = ZoneInfo("Asia/Seoul"), ZoneInfo("Europe/Berlin")
    # The monthly checklist of 1 December 08:00 in Seoul (30 November 23:00 UTC) reviews November there.
    month = review_flows.period_of("monthly", datetime(2026, 12, 1, 8, 0, tzinfo=seoul), seoul)
    assert month is not None
    assert (month.starts, month.ends, month.previous_starts) == (
        datetime(2026, 11, 1, tzinfo=seoul).astimezone(UTC),
        datetime(2026, 12, 1, tzinfo=seoul).astimezone(UTC),
        datetime(2026, 10, 1, tzinfo=seoul).astimezone(UTC),
    )
    # January's monthly reviews December of the year before.
    january = review_flows.period_of("monthly", datetime(2027, 1, 4, 9, 0, tzinfo=berlin), berlin)
    assert january is not None and january.starts == datetime(2026, 12, 1, tzinfo=berlin).astimezone(UTC)
    # The week across the clock change (Sunday 25 October) starts at the same 09:00 on the wall clock: 169 hours.
    week = review_flows.period_of("weekly", datetime(2026, 10, 26, 9, 0, tzinfo=berlin), berlin)
    assert week is not None
    assert week.starts == datetime(2026, 10, 19, 7, 0, tzinfo=UTC) and week.ends == datetime(
        2026, 10, 26, 8, tzinfo=UTC
    )
    assert week.previous_starts == datetime(2026, 10, 12, 7, 0, tzinfo=UTC)
    assert review_flows.period_of("daily", datetime(2026, 10, 26, 9, 0, tzinfo=berlin), berlin) is None


# -- the trend, from a real Prometheus ----------------------------------------------------------------------------


def three_weeks() -> str:
    """Every 12 h up to START: this week 0.21% of requests fail and 10% take 0.1-0.5 s (p95 300 ms); the weeks
    before, 0.35% fail and every request is under 0.1 s (p95 95 ms)."""
    end = int(START.timestamp())
    week_starts = end - 7 * 86400
    requests = ["# TYPE http_requests counter"]
    latency = ["# TYPE http_request_duration_seconds histogram"]
    ok, errors, fast, slow = 1_000_000.0, 3_500.0, 1_000_000.0, 0.0
    for ts in range(end - 21 * 86400, end + 1, 12 * 3600):
        this_week = ts > week_starts
        ok += 9979 if this_week else 9965
        errors += 21 if this_week else 35
        fast += 9000 if this_week else 10000
        slow += 1000 if this_week else 0
        requests.append(f'http_requests_total{{code="200"}} {ok} {ts}')
        requests.append(f'http_requests_total{{code="500"}} {errors} {ts}')
        for le, count in (("0.1", fast), ("0.5", fast + slow), ("+Inf", fast + slow)):
            latency.append(f'http_request_duration_seconds_bucket{{le="{le}"}} {count} {ts}')
    return "\n".join(requests + latency) + "\n# EOF\n"


@pytest.fixture
async def weeks_prometheus() -> AsyncIterator[PrometheusServer]:
    server = await start_prometheus(data=backfill(three_weeks()))
    yield server
    server.stop()


async def test_the_weekly_review_shows_the_trend_against_the_week_before(
    make_bot: BotFactory, fake_slack: FakeSlack, clock: FrozenClock, weeks_prometheus: PrometheusServer
) -> None:
    clock.set(START)
    bot = await make_bot(config_with(oncall=ROTA, prometheus={"url": weeks_prometheus.url, "timeout": "5s"}))
    text = flatten((await post_weekly(bot, fake_slack))[0])
    assert (
        "*Trend* (against the previous week)\n• error rate 0.21% (prev 0.35%, down)\n• p95 300 ms (prev 95 ms, up)"
        in (text)
    )
    assert "*Alerts* · none" in text and "*Incidents* · none" in text and "*Deploys* · none" in text


async def test_prometheus_down_the_review_still_posts_its_figures(
    make_bot: BotFactory, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    from tests.ports import free_port

    clock.set(START)
    nobody = f"http://127.0.0.1:{free_port()}"
    bot = await make_bot(config_with(oncall=ROTA, prometheus={"url": nobody}))
    await seed_deploys(bot)
    text = flatten((await post_weekly(bot, fake_slack))[0])
    assert "• prod: 2 deploy(s), 1 rollback(s)" in text
    assert "*Trend* · not measured: Prometheus is unavailable (Prometheus could not be reached" in text
