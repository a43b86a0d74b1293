"""PagerDuty as the pager beside the Slack DM: Events API v2 out to a fake PagerDuty over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually, set_up_is_over
from tests.fakepagerduty import KEY, FakePagerDuty, running

P1_KEY = "R0ZZIKPAGERDUTYINTEGRATIONKEYP1X"


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    async with running(KEY, P1_KEY) as fake:
        yield fake


def config(**pagerduty: object):
    return config_with(
        oncall=ROTA,
        permissions={"deployers": [], "incident_managers": ["U0DAVE"]},
        pagerduty={"severities": ["P1", "P2"], **pagerduty},
    )


@pytest.fixture
async def bot(make_bot: BotFactory, pagerduty: FakePagerDuty) -> RunningBot:
    return await make_bot(
        config(), zzik_pagerduty_routing_key=KEY, zzik_pagerduty_events_url=pagerduty.url, replica_id="r1"
    )


async def pd_events(bot: RunningBot) -> list[dict]:
    return [dict(r) for r in await bot.db.fetch("SELECT * FROM pagerduty_events ORDER BY id")]


def posts_to(fake: FakeSlack, channel: str) -> list[str]:
    return [flatten(c) for c in fake.posted_in(channel)]


async def test_a_p1_triggers_once_and_is_acknowledged_and_resolved_on_both_sides(
    bot: RunningBot, make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    other = await make_bot(
        config(), zzik_pagerduty_routing_key=KEY, zzik_pagerduty_events_url=pagerduty.url, replica_id="r2"
    )
    # Slack retries the command, and the retry reaches the other replica, while both tick.
    first, retry, *_ = await asyncio.gather(
        bot.slack.command("/incident", "p1 Checkout is down", trigger_id="trig.same"),
        other.slack.command(
            "/incident", "p1 Checkout is down", trigger_id="trig.same", headers={"X-Slack-Retry-Num": "1"}
        ),
        bot.tick(),
        other.tick(),
    )
    assert first.status == retry.status == 200
    await eventually(lambda: pagerduty.received)
    await eventually(lambda: fake_slack.calls_to("conversations.setTopic"))
    for _ in range(2):
        await asyncio.gather(bot.tick(), other.tick())
    assert pagerduty.actions("INC-1") == ["trigger"]
    [trigger] = pagerduty.received
    assert trigger["routing_key"] == KEY and trigger["dedup_key"] == "INC-1"
    payload = trigger["payload"]
    assert payload["summary"] == "INC-1 P1: Checkout is down"
    assert (payload["severity"], payload["source"]) == ("critical", "zzik-ops-bot")
    details = payload["custom_details"]
    assert details["commander"] and details["channel"] == "https://slack.com/app_redirect?channel=C00000001"
    assert trigger["links"] == [{"href": details["channel"], "text": "Slack channel #inc-1-checkout-is-down"}]
    # The answer and the announcement show both paths (the answer is the set-up's last step, wherever it ran).
    await eventually(set_up_is_over(bot))
    answers = [c for c in fake_slack.calls_to("response_url") if "Declared" in c.get("text", "")]
    assert "Paged in PagerDuty · DM'd <@" in answers[0]["text"]
    [announcement] = [t for t in map(flatten, fake_slack.calls_to("chat.postMessage")) if "*Paging:*" in t]
    assert "*Paging:* Paged in PagerDuty · DM'd <@" in announcement

    # Acknowledge in Slack: PagerDuty agrees; a double click acknowledges once.
    await asyncio.gather(
        bot.slack.action("incident_acknowledge", "1", user="U0BOB", channel="C00000001"),
        other.slack.action("incident_acknowledge", "1", user="U0BOB", channel="C00000001"),
    )
    await eventually(lambda: pagerduty.incidents["INC-1"]["status"] == "acknowledged")
    await bot.slack.command("/incident", "resolve Fixed the config", user="U0ALICE", channel="C00000001")
    await eventually(lambda: [c for c in fake_slack.calls_to("response_url") if "resolved after" in c.get("text", "")])
    await eventually(lambda: pagerduty.incidents["INC-1"]["status"] == "resolved")
    await asyncio.gather(bot.tick(), other.tick())
    assert pagerduty.actions("INC-1") == ["trigger", "acknowledge", "resolve"]
    assert [e["sent_at"] is not None for e in await pd_events(bot)] == [True, True, True]


async def test_the_summary_pagerduty_gets_is_plain_text_not_slacks_encoding(
    bot: RunningBot, pagerduty: FakePagerDuty
) -> None:
    # Slack sends the command's text encoded: entities and a mention, as the title is stored.
    await bot.slack.command("/incident", "p1 db down &amp; &lt;broken&gt; <@U0BOB|bob>", encoded=True)
    await eventually(lambda: pagerduty.received)
    assert pagerduty.received[0]["payload"]["summary"] == "INC-1 P1: db down & <broken> bob"


async def test_pagerduty_429_and_500_are_retried_in_order(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    pagerduty.fail(429)
    pagerduty.fail(500)
    said = await ask(fake_slack, bot, "/incident", "p2 Search is slow")
    # The answer waits up to 1 s past the DMs for PagerDuty's first try; on a busy machine it may not be over yet.
    assert any(
        f"{state} · DM'd <@U0ALICE>." in said
        for state in ("PagerDuty not reached yet (HTTP 429 from PagerDuty), retrying", "PagerDuty page queued")
    ), said
    assert pagerduty.received == []
    await bot.slack.action("incident_acknowledge", "1", user="U0ALICE", channel="C00000001")
    await eventually(lambda: pagerduty.answers[:2] == [429, 500])
    assert pagerduty.received == []  # the acknowledge waits for its trigger
    for _ in range(3):
        clock.advance(timedelta(minutes=5))
        await bot.tick()
    assert pagerduty.actions("INC-1") == ["trigger", "acknowledge"]
    assert pagerduty.received[0]["payload"]["severity"] == "error"
    assert pagerduty.incidents["INC-1"]["status"] == "acknowledged"
    pending = await bot.db.fetchval("SELECT count(*) FROM job_runs WHERE job = 'pagerduty.send' AND status <> 'done'")
    assert pending == 0


async def test_a_refused_event_is_told_in_the_channel_and_not_sent_again(
    make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    bot = await make_bot(
        config(routing_keys={"P1": "not-a-key-pagerduty-knows"}),
        zzik_pagerduty_routing_key=KEY,
        zzik_pagerduty_events_url=pagerduty.url,
    )
    said = await ask(fake_slack, bot, "/incident", "p1 Checkout is down")
    assert "PagerDuty refused the page (HTTP 400: &#39;routing_key&#39; is invalid)" in said or (
        "PagerDuty refused the page (HTTP 400: 'routing_key' is invalid)" in said
    )
    told = [t for t in posts_to(fake_slack, "C00000001") if "PagerDuty refused" in t]
    assert told == [
        ":warning: PagerDuty refused the trigger of INC-1: HTTP 400: 'routing_key' is invalid. "
        "Nobody was paged through PagerDuty; page by phone if the Slack DMs go unanswered."
    ]
    clock.advance(timedelta(hours=1))
    await bot.tick()
    assert pagerduty.answers == [400]
    [event] = await pd_events(bot)
    assert event["rejected_at"] is not None and event["sent_at"] is None


async def test_per_severity_keys_and_a_severity_change_re_triggers(
    make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    bot = await make_bot(
        config(routing_keys={"P1": P1_KEY}), zzik_pagerduty_routing_key=KEY, zzik_pagerduty_events_url=pagerduty.url
    )
    await ask(fake_slack, bot, "/incident", "p3 Typo on the pricing page")
    assert pagerduty.received == [] and await pd_events(bot) == []  # P3 does not page PagerDuty
    await ask(fake_slack, bot, "/incident", "severity p1", channel="C00000001", ephemeral=False)
    await eventually(lambda: pagerduty.received)
    [trigger] = pagerduty.received
    assert (trigger["routing_key"], trigger["payload"]["severity"]) == (P1_KEY, "critical")
    await ask(fake_slack, bot, "/incident", "severity p2", channel="C00000001", ephemeral=False)
    await eventually(lambda: len(pagerduty.received) == 2)
    assert pagerduty.received[1]["payload"]["severity"] == "error"
    assert pagerduty.incidents["INC-1"]["events"] == 2  # one PagerDuty incident, re-triggered


async def test_without_a_routing_key_paging_stays_slack_only(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    bot = await make_bot(config())
    said = await ask(fake_slack, bot, "/incident", "p1 Checkout is down")
    assert "Paged <@U0ALICE>" in said and "PagerDuty" not in said
    assert await pd_events(bot) == []
