"""Answers as fast as Slack allows: in the ack body when ready, one pooled connection, cached profiles."""

from __future__ import annotations

import asyncio

import pytest

from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, BotFactory, RunningBot, config_with, eventually


@pytest.fixture
async def oncall_bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall=ROTA))


async def claims(bot: RunningBot) -> int:
    return await bot.db.fetchval("SELECT count(*) FROM idempotency_keys")


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("/oncall", "", "*Primary:* <@U0ALICE>"),
        ("/incident", "list", "No open incidents"),
        ("/deploy", "status", "prod"),
        ("/deploy", "history", ""),
        ("/runbook", "", "Runbooks"),
        ("/runbook", "runs", "No runbook runs in progress"),
        ("/maintenance", "", "aily"),
        ("/slo", "", "Service level objectives"),
        ("/oncall", "help", "/oncall next"),
    ],
)
async def test_quick_answers_arrive_in_the_ack_body(
    oncall_bot: RunningBot, fake_slack: FakeSlack, command: str, text: str, expected: str
) -> None:
    reply = await oncall_bot.slack.command(command, text)
    assert reply.status == 200 and reply.json, f"{command} {text}: empty ack"
    assert reply.json["response_type"] == "ephemeral"
    assert expected in flatten(reply.json)
    assert fake_slack.calls_to("response_url") == []
    assert await claims(oncall_bot) == 0  # a read needs no delivery claim: no database round trip before it


async def test_bad_input_is_answered_in_the_ack(oncall_bot: RunningBot, fake_slack: FakeSlack) -> None:
    usage = await oncall_bot.slack.command("/deploy", "launch")
    assert usage.json["response_type"] == "ephemeral" and "/deploy staging &lt;version&gt;" in usage.json["text"]
    unknown = await oncall_bot.slack.command("/oncall", "tomorrow please")
    assert "/oncall next" in unknown.json["text"]
    assert fake_slack.calls_to("response_url") == []


async def test_work_slower_than_the_budget_answers_through_response_url(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = await make_bot(config_with(oncall=ROTA), zzik_ack_budget_seconds=0)
    reply = await bot.slack.command("/oncall", "")
    assert reply.status == 200 and not reply.text  # acked at once, without the answer
    calls = await eventually(lambda: fake_slack.calls_to("response_url"))
    assert calls[0]["response_type"] == "ephemeral" and "*Primary:* <@U0ALICE>" in flatten(calls[0])


async def test_response_url_answers_reuse_one_connection(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    bot = await make_bot(config_with(oncall=ROTA), zzik_ack_budget_seconds=0)
    for n in range(1, 9):
        await bot.slack.command("/incident" if n % 2 else "/oncall", "list" if n % 2 else "")
        await eventually(lambda n=n: len(fake_slack.calls_to("response_url")) == n)
    assert all(c.peer for c in fake_slack.calls)
    # Eight answers, one keep-alive connection (two at most, should an answer overlap the next command's);
    # a client without a pool opens one per answer.
    assert len(fake_slack.connections("response_url")) <= 2
    assert len({c.peer for c in fake_slack.calls}) <= 2  # the Web API calls share the same pool


async def test_oncall_asks_slack_for_a_profile_once(oncall_bot: RunningBot, fake_slack: FakeSlack) -> None:
    replies = await asyncio.gather(*(oncall_bot.slack.command("/oncall", "", user="U0BOB") for _ in range(5)))
    replies.append(await oncall_bot.slack.command("/oncall", "next", user="U0BOB"))
    assert all("*Primary:*" in flatten(r.json) for r in replies)
    assert [c["user"] for c in fake_slack.calls_to("users.info")] == ["U0BOB"]


async def test_user_change_refreshes_the_cached_time_zone(oncall_bot: RunningBot, fake_slack: FakeSlack) -> None:
    seoul = flatten((await oncall_bot.slack.command("/oncall", "")).json)
    assert "until Mon 30 Nov 2026 10:00 CET (Mon 30 Nov 2026 18:00 KST your time)" in seoul
    profile = {"id": "U0ALICE", "name": "alice", "tz": "America/New_York", "deleted": False}
    reply = await oncall_bot.slack.event({"type": "user_change", "user": profile}, event_id="Ev0TZ1")
    assert reply.status == 200

    async def new_zone() -> str:
        text = flatten((await oncall_bot.slack.command("/oncall", "")).json)
        return "(Mon 30 Nov 2026 04:00 EST your time)" in text and text

    await eventually(new_zone)
    assert [c["user"] for c in fake_slack.calls_to("users.info")] == ["U0ALICE"]  # the event, not Slack again


async def test_a_command_that_changes_state_is_still_claimed_once(oncall_bot: RunningBot) -> None:
    reply = await oncall_bot.slack.command("/incident", "p3 Disk filling on db-2")
    assert reply.status == 200
    assert await claims(oncall_bot) == 1


async def test_a_refused_change_is_answered_in_the_ack(oncall_bot: RunningBot, fake_slack: FakeSlack) -> None:
    # Claimed (a change), refused within the ack budget: the refusal is the ack's body, nothing is changed.
    refused = await oncall_bot.slack.command("/deploy", "prod v2", user="U0EVE")
    assert refused.json["response_type"] == "ephemeral" and "is not validated on staging" in refused.json["text"]
    unlock = await oncall_bot.slack.command("/deploy", "unlock prod stuck", user="U0EVE")
    assert unlock.json["response_type"] == "ephemeral" and unlock.json["text"] == "prod is not locked."
    cancel = await oncall_bot.slack.command("/oncall", "override cancel 99", user="U0EVE")
    assert cancel.json["text"] == "There is no override #99; `/oncall overrides` lists them."
    assert fake_slack.calls_to("response_url") == []
    assert await oncall_bot.db.fetchval("SELECT count(*) FROM deploys") == 0
    # A change that goes through is acked empty and answered through response_url, as before.
    done = await oncall_bot.slack.command("/deploy", "staging v2", user="U0DAVE")
    assert done.status == 200 and not done.text
    calls = await eventually(lambda: fake_slack.calls_to("response_url"))
    assert "staging" in flatten(calls[0])
