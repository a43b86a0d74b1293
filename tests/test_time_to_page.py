"""Time to page: a page waits on nothing it need not (PagerDuty, the rest of the set-up, another page), is retried
within seconds honouring Slack's Retry-After, and what is never delivered is said where the incident lives."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually
from tests.fakepagerduty import KEY, FakePagerDuty
from tests.test_alerts import AUTH, grafana, now, post


def config():
    return config_with(
        oncall=ROTA,
        permissions={"deployers": [], "incident_managers": ["U0DAVE"]},
        pagerduty={"severities": ["P1", "P2"]},
    )


@pytest.fixture
async def bot(make_bot: BotFactory, pagerduty: FakePagerDuty) -> RunningBot:
    return await make_bot(config(), zzik_pagerduty_routing_key=KEY, zzik_pagerduty_events_url=pagerduty.url)


def dms(fake: FakeSlack, user: str) -> list[str]:
    return [flatten(c) for c in fake.calls_to("chat.postMessage") if c["channel"] == user]


async def delivered(bot: RunningBot, user: str) -> bool:
    return bool(
        await bot.db.fetchval("SELECT true FROM incident_pages WHERE user_id = $1 AND delivered_at IS NOT NULL", user)
    )


async def page_rounds(bot: RunningBot) -> list[dict]:
    return [
        dict(r)
        for r in await bot.db.fetch(
            "SELECT run_key, status, due_at FROM job_runs WHERE job = 'incidents.page_retry' ORDER BY id"
        )
    ]


async def test_the_dms_of_a_p1_do_not_wait_for_a_slow_pagerduty(
    bot: RunningBot, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    pagerduty.delay = 6.0  # PagerDuty takes 6 s to answer
    reply = await bot.slack.command("/incident", "p1 Checkout is down", user="U0CAROL")
    assert reply.status == 200
    # Every DM is delivered while PagerDuty is still thinking about the trigger.
    await eventually(lambda: all(dms(fake_slack, u) for u in ("U0ALICE", "U0BOB", "U0MGR")), within=5)
    assert pagerduty.answers == []
    await eventually(lambda: pagerduty.answers == [202], within=15)


async def test_a_p1_alert_dm_does_not_wait_for_a_slow_pagerduty(
    make_bot: BotFactory, fake_slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    bot = await make_bot(
        config_with(oncall=ROTA),
        zzik_alert_pace_seconds=0.02,
        zzik_pagerduty_routing_key=KEY,
        zzik_pagerduty_events_url=pagerduty.url,
    )
    pagerduty.delay = 6.0
    status, _ = await post(bot.url + "/hooks/grafana", grafana("firing", now(), name="ServiceDown"), AUTH)
    assert status == 200
    await eventually(lambda: dms(fake_slack, "U0ALICE"), within=5)
    assert pagerduty.answers == []  # the DM went out while PagerDuty had not answered
    await eventually(lambda: pagerduty.answers == [202], within=15)


async def test_a_failed_page_is_retried_within_a_second_then_two(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    # An error Slack's client does not retry itself, so the job's rounds are what is measured.
    fake_slack.fail("chat.postMessage", error="fatal_error", channel="U0BOB", times=2)
    await ask(fake_slack, bot, "/incident", "p1 Database outage", user="U0CAROL")
    rounds = await page_rounds(bot)
    assert [r["run_key"] for r in rounds] == ["1:1", "1:2"]
    assert rounds[1]["due_at"] - rounds[0]["due_at"] == timedelta(seconds=1)
    assert await delivered(bot, "U0ALICE") and await delivered(bot, "U0MGR") and not await delivered(bot, "U0BOB")
    clock.advance(timedelta(seconds=1))
    await bot.tick()
    rounds = await page_rounds(bot)
    assert [r["run_key"] for r in rounds] == ["1:1", "1:2", "1:3"]
    assert rounds[2]["due_at"] - clock.now() == timedelta(seconds=2)
    clock.advance(timedelta(seconds=2))
    await bot.tick()
    assert await delivered(bot, "U0BOB")  # third time lucky
    assert len(dms(fake_slack, "U0ALICE")) == 1  # those reached at once are not paged again
    [late] = [t for t in fake_slack.texts() if "(late)" in t]
    assert "<@U0BOB>" in late


async def test_a_rate_limited_page_waits_for_slacks_retry_after(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    # Slack's client retries a 429 itself (3 times); the fourth leaves the page to the job, with Retry-After.
    fake_slack.fail("chat.postMessage", status=429, retry_after=0, channel="U0ALICE", times=3)
    fake_slack.fail("chat.postMessage", status=429, retry_after=7, channel="U0ALICE", times=1)
    reply = await bot.slack.command("/incident", "p2 Search is slow", user="U0CAROL")
    assert reply.status == 200

    async def retried_later() -> bool:
        rounds = await page_rounds(bot)
        return len(rounds) == 2

    await eventually(retried_later, within=20)
    _, second = await page_rounds(bot)
    assert second["due_at"] - clock.now() == timedelta(seconds=7)  # Slack's Retry-After, not the 1 s backoff


async def test_pages_given_up_are_said_in_the_incident_channel(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    fake_slack.fail("chat.postMessage", error="fatal_error", channel="U0ALICE", times=100)
    await ask(fake_slack, bot, "/incident", "p2 Search is slow", user="U0CAROL")
    for _ in range(12):
        clock.advance(timedelta(minutes=6))
        await bot.tick()
    rounds = await page_rounds(bot)
    assert len(rounds) == 10  # the first try and nine retries
    [channel] = [c["id"] for c in fake_slack.created_channels()]
    told = [flatten(c) for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == channel]
    gave_up = [t for t in told if "paging gave up" in t]
    assert len(gave_up) == 1 and "could not page <@U0ALICE>: fatal_error" in gave_up[0]


async def test_a_page_already_being_sent_is_not_sent_twice(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    # A severity escalation sends its pages at once, while its safety-net round may start on another ticker.
    await ask(fake_slack, bot, "/incident", "p3 Search is slow", user="U0CAROL")
    [channel] = [c["id"] for c in fake_slack.created_channels()]
    fake_slack.latency = 0.5
    answer = asyncio.ensure_future(bot.slack.command("/incident", "severity p1", channel=channel, user="U0ALICE"))
    await asyncio.sleep(0)
    clock.advance(timedelta(seconds=30))
    await asyncio.gather(answer, bot.tick(), bot.tick())
    fake_slack.latency = 0.0
    for user in ("U0BOB", "U0MGR"):
        await eventually(lambda user=user: dms(fake_slack, user))
        assert len(dms(fake_slack, user)) == 1
