"""The timeline from the conversation: a 📌 reaction on a message in an incident channel, or the message shortcut
*Add to timeline*, puts the message into the timeline and the post-mortem (signed events and shortcut payloads as
Slack sends them; the message read back with reactions.get from the fake Slack)."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually, handled

_events = itertools.count(1)
FOUND = "Found it: <@U0CAROL|carol> the cache &amp; the <https://logs.example/q?a=1&amp;b=2|log> <!here> x &lt; 3"
SHOWN = "Found it: <@U0CAROL|carol> the cache &amp; the <https://logs.example/q?a=1&amp;b=2|log> @here x &lt; 3"


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall=ROTA))


async def incident_channel(bot: RunningBot, fake: FakeSlack) -> str:
    await ask(fake, bot, "/incident", "p2 Checkout errors", user="U0ALICE")

    async def made() -> str | None:
        return await bot.db.fetchval("SELECT channel_id FROM incidents WHERE number = 1")

    return await eventually(made)


async def send(bot: RunningBot, event: dict[str, Any], event_id: str | None = None, retry: int | None = None) -> str:
    """A reaction event as Slack sends it; waits until the bot has handled it (its audit row)."""
    event_id = event_id or f"Ev{next(_events):08d}"
    reply = await handled(bot, event["type"], bot.slack.event(event, event_id=event_id, retry_num=retry))
    assert reply.status == 200
    return event_id


def shortcut(fake: FakeSlack, bot: RunningBot, channel: str, ts: str, user: str) -> dict[str, Any]:
    """The message_action payload Slack sends for *Add to timeline* on a message."""
    message = fake.messages[(channel, ts)]
    return {
        "type": "message_action",
        "token": "legacy-verification-token",
        "action_ts": f"{time.time():.6f}",
        "team": {"id": "T0ZZIK", "domain": "zzik"},
        "user": {"id": user, "name": user.lower(), "team_id": "T0ZZIK"},
        "channel": {"id": channel, "name": "inc-1-checkout-errors"},
        "is_enterprise_install": False,
        "callback_id": "incident_add_to_timeline",
        "trigger_id": f"trig.pin.{next(_events)}",
        "response_url": bot.slack.next_response_url(),
        "message_ts": ts,
        "message": dict(message),
    }


async def use_shortcut(bot: RunningBot, fake: FakeSlack, payload: dict[str, Any]) -> str:
    before = len(fake.calls_to("response_url"))
    reply = await bot.slack.interactive(payload)
    assert reply.status == 200
    calls = await eventually(lambda: fake.calls_to("response_url")[before:])
    assert calls[0]["response_type"] == "ephemeral"
    return flatten(calls[0])


def replies(fake: FakeSlack, channel: str, ts: str) -> list[str]:
    return [c["text"] for c in fake.posted_in(channel) if c.get("thread_ts") == ts]


async def timeline(bot: RunningBot, fake: FakeSlack, channel: str) -> str:
    return await ask(fake, bot, "/incident", "timeline", channel=channel)


async def test_a_pushpin_adds_the_message_to_the_timeline_and_taking_it_off_removes_it(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    channel = await incident_channel(bot, fake_slack)
    ts = fake_slack.post_message(channel, "U0BOB", FOUND)
    await send(bot, fake_slack.react(channel, ts, "U0ALICE", "pushpin"))

    said = await eventually(lambda: replies(fake_slack, channel, ts))
    assert said == [
        ":pushpin: Added to the timeline of INC-1 by <@U0ALICE>: it is in `/incident timeline` and the post-mortem "
        "draft. Take the reaction off to take it out."
    ]
    assert fake_slack.calls_to("reactions.get") == [{"channel": channel, "timestamp": ts, "full": "1"}]
    link = f"<https://zzik.slack.com/archives/{channel}/p{ts}|message>"
    entry = f"<@U0BOB> · :pushpin: {SHOWN} ({link})"
    shown = await timeline(bot, fake_slack, channel)
    assert entry in shown and "&amp;amp;" not in shown and "<!here>" not in shown
    await handled(bot, "/incident", bot.slack.command("/incident", "postmortem", channel=channel))
    draft = await eventually(
        lambda: [flatten(c) for c in fake_slack.posted_in(channel) if "*Post-mortem: INC-1" in flatten(c)]
    )
    assert entry in draft[0]
    pin = await bot.db.fetchrow("SELECT * FROM incident_pins")
    assert (pin["author"], pin["text"], pin["channel"], pin["message_ts"]) == ("U0BOB", SHOWN, channel, ts)

    # Slack redelivers the event; a second person pins it; the shortcut on it: still one entry, one reply.
    first = await send(bot, fake_slack.react(channel, ts, "U0ALICE", "pushpin"))
    await send(bot, {**fake_slack.react(channel, ts, "U0ALICE", "pushpin")}, event_id=first, retry=1)
    await send(bot, fake_slack.react(channel, ts, "U0DAVE", "pushpin"))
    assert await use_shortcut(bot, fake_slack, shortcut(fake_slack, bot, channel, ts, "U0CAROL")) == (
        ":pushpin: That message is already in the timeline of INC-1."
    )
    assert (await timeline(bot, fake_slack, channel)).count(":pushpin: Found it") == 1
    assert len(replies(fake_slack, channel, ts)) == 1
    assert await bot.db.fetchval("SELECT count(*) FROM incident_events WHERE kind = 'pinned'") == 1

    # Taken off by one of the two: it stays. By the other too: it goes, and the thread says so.
    await send(bot, fake_slack.react(channel, ts, "U0ALICE", "pushpin", added=False))
    assert ":pushpin: Found it" in await timeline(bot, fake_slack, channel)
    await send(bot, fake_slack.react(channel, ts, "U0DAVE", "pushpin", added=False))
    said = await eventually(lambda: replies(fake_slack, channel, ts)[1:])
    assert said == [":pushpin: Taken out of the timeline of INC-1 (<@U0DAVE> took the last pin off)."]
    assert "Found it" not in await timeline(bot, fake_slack, channel)
    assert await bot.db.fetchval("SELECT count(*) FROM incident_events WHERE kind = 'pinned'") == 0

    # Pinned again later: back in, said again.
    await send(bot, fake_slack.react(channel, ts, "U0BOB", "pushpin"))
    await eventually(lambda: len(replies(fake_slack, channel, ts)) == 3)
    assert (await timeline(bot, fake_slack, channel)).count(":pushpin: Found it") == 1


async def test_add_to_timeline_shortcut(bot: RunningBot, fake_slack: FakeSlack) -> None:
    channel = await incident_channel(bot, fake_slack)
    ts = fake_slack.post_message(channel, "U0CAROL", "Root cause: the `orders` index was dropped by 0042")
    said = await use_shortcut(bot, fake_slack, shortcut(fake_slack, bot, channel, ts, "U0BOB"))
    assert said.startswith(":pushpin: In the timeline of INC-1 (`/incident timeline`) and its post-mortem draft")
    assert await eventually(lambda: replies(fake_slack, channel, ts)) == [
        ":pushpin: Added to the timeline of INC-1 by <@U0BOB>: it is in `/incident timeline` and the post-mortem "
        "draft. Take the reaction off to take it out."
    ]
    assert fake_slack.calls_to("reactions.get") == []  # the payload carried the message
    assert "<@U0CAROL> · :pushpin: Root cause: the `orders` index was dropped by 0042" in await timeline(
        bot, fake_slack, channel
    )

    # Elsewhere: an ephemeral answer, nothing stored.
    elsewhere = fake_slack.post_message("C0DEV", "U0CAROL", "lunch?")
    said = await use_shortcut(bot, fake_slack, shortcut(fake_slack, bot, "C0DEV", elsewhere, "U0BOB"))
    assert said == (
        "*Add to timeline* only works on messages in an incident's channel (`/incident list` shows the open ones)."
    )
    assert await bot.db.fetchval("SELECT count(*) FROM incident_pins") == 1


async def test_reactions_that_are_not_the_bots_business_do_nothing(bot: RunningBot, fake_slack: FakeSlack) -> None:
    channel = await incident_channel(bot, fake_slack)
    outside = fake_slack.post_message("C0DEV", "U0BOB", "deploying now")
    await send(bot, fake_slack.react("C0DEV", outside, "U0ALICE", "pushpin"))
    inside = fake_slack.post_message(channel, "U0BOB", "looking")
    await send(bot, fake_slack.react(channel, inside, "U0ALICE", "eyes"))
    await send(bot, fake_slack.react(channel, inside, "U0ALICE", "eyes", added=False))
    assert fake_slack.calls_to("reactions.get") == []
    assert await bot.db.fetchval("SELECT count(*) FROM job_runs WHERE job LIKE 'incidents.timeline_pin%'") == 0
    assert not replies(fake_slack, "C0DEV", outside) and not replies(fake_slack, channel, inside)
    outcomes = await bot.db.fetch("SELECT outcome FROM audit_log WHERE kind = 'event' AND action LIKE 'reaction_%'")
    assert [r["outcome"] for r in outcomes] == ["ignored"] * 3


async def test_a_message_slack_no_longer_has_and_a_configured_emoji(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    incidents = config_with(oncall=ROTA).incidents.model_dump(mode="json")
    bot = await make_bot(config_with(oncall=ROTA, incidents={**incidents, "timeline_emoji": "bookmark"}))
    channel = await incident_channel(bot, fake_slack)
    gone = fake_slack.post_message(channel, "U0BOB", "deleted soon")
    event = fake_slack.react(channel, gone, "U0ALICE", "bookmark")
    del fake_slack.messages[(channel, gone)]
    await send(bot, event)
    await eventually(lambda: fake_slack.calls_to("reactions.get"))
    assert await bot.db.fetchval("SELECT count(*) FROM incident_pins") == 0

    kept = fake_slack.post_message(channel, "U0BOB", "the fix: restart the consumer")
    await send(bot, fake_slack.react(channel, kept, "U0ALICE", "pushpin"))  # not the configured emoji
    await send(bot, fake_slack.react(channel, kept, "U0ALICE", "bookmark"))
    await eventually(lambda: replies(fake_slack, channel, kept))
    assert "the fix: restart the consumer" in await timeline(bot, fake_slack, channel)


async def test_the_fake_slack_reads_only_messages_it_has(bot: RunningBot, fake_slack: FakeSlack) -> None:
    """reactions.get as strict as Slack: a message the workspace has (a person's or the bot's), else its error."""
    ts = fake_slack.post_message("C0DEV", "U0BOB", "hello <@U0ALICE>")
    fake_slack.react("C0DEV", ts, "U0ALICE", "pushpin")
    found = await bot.services.slack.reactions_get(channel="C0DEV", timestamp=ts, full=True)
    assert found["type"] == "message" and found["channel"] == "C0DEV"
    assert found["message"]["text"] == "hello <@U0ALICE>" and found["message"]["user"] == "U0BOB"
    assert found["message"]["reactions"] == [{"name": "pushpin", "users": ["U0ALICE"], "count": 1}]
    posted = await bot.services.slack.chat_postMessage(channel="C0DEV", text="from the bot")
    mine = await bot.services.slack.reactions_get(channel="C0DEV", timestamp=posted["ts"])
    assert mine["message"]["text"] == "from the bot" and "reactions" not in mine["message"]
    for args, error in (
        ({"channel": "C0DEV", "timestamp": "1700000099.000001"}, "message_not_found"),
        ({"channel": "C0DEV", "timestamp": "yesterday"}, "bad_timestamp"),
        ({"channel": "C0DEV"}, "no_item_specified"),
    ):
        with pytest.raises(SlackApiError) as refused:
            await bot.services.slack.reactions_get(**args)
        assert refused.value.response["error"] == error
