"""Runbook runs end to end: list, start, done, skip with a reason, finish, in and out of an incident."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall=ROTA))


def run_posts(fake: FakeSlack, channel: str = "C0OPS") -> list[dict]:
    return [c for c in fake.calls_to("chat.postMessage") if c["channel"] == channel and "Runbook" in c["text"]]


async def step_rows(bot: RunningBot) -> list[tuple]:
    rows = await bot.db.fetch("SELECT step, status, reason, by_user FROM runbook_steps ORDER BY step")
    return [tuple(r) for r in rows]


async def skip(bot: RunningBot, fake: FakeSlack, run_step: str, reason: str, user: str = "U0BOB"):
    assert (await bot.slack.action("runbook_skip", run_step, user=user, channel="C0OPS")).status == 200
    modal = (await eventually(lambda: fake.calls_to("views.open")))[-1]["view"]
    assert modal["callback_id"] == "runbook_skip_reason" and modal["private_metadata"] == run_step
    return await bot.slack.view_submission(
        "runbook_skip_reason", {"reason": {"value": {"value": reason}}}, user=user, private_metadata=run_step
    )


async def test_list_and_lookup(bot: RunningBot, fake_slack: FakeSlack) -> None:
    listed = await ask(fake_slack, bot, "/runbook")
    for slug in ("high-cpu", "db-connection-errors", "slow-api", "memory-leak", "db-recovery", "app-recovery"):
        assert f"`{slug}`" in listed
    assert "*Database Recovery* (5 steps)" in listed
    assert await ask(fake_slack, bot, "/runbook", "hihg-cpu") == (
        "There is no runbook `hihg-cpu`. Did you mean `high-cpu` (High CPU Usage)?"
    )
    assert await ask(fake_slack, bot, "/runbook", "database recovry") == (
        "There is no runbook `database recovry`. Did you mean `db-recovery` (Database Recovery)?"
    )
    assert "There is no runbook `payroll`" in await ask(fake_slack, bot, "/runbook", "payroll")
    assert "/runbook &lt;name&gt;" in await ask(fake_slack, bot, "/runbook", "help")
    assert await bot.db.fetch("SELECT * FROM runbook_runs") == []


async def test_a_run_step_by_step(bot: RunningBot, fake_slack: FakeSlack, clock) -> None:
    reply = await bot.slack.command("/runbook", "Database Recovery", user="U0BOB", channel="C0OPS")
    assert reply.status == 200
    [message] = await eventually(lambda: run_posts(fake_slack))
    text = flatten(message)
    assert "Runbook: Database Recovery* · started by <@U0BOB> · 0/5 steps recorded" in text
    assert "*2.* Restore from backup\n```psql -d zzik_live &lt; backup.sql```" in text
    assert [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]][:2] == [
        "runbook_done",
        "runbook_skip",
    ]

    # Done twice (a double click) records once.
    await asyncio.gather(
        bot.slack.action("runbook_done", "1:0", user="U0BOB", channel="C0OPS"),
        bot.slack.action("runbook_done", "1:0", user="U0CAROL", channel="C0OPS"),
    )
    await eventually(lambda: step_rows(bot))
    rows = await step_rows(bot)
    assert len(rows) == 1 and rows[0][:2] == (0, "done")
    updated = await eventually(lambda: fake_slack.calls_to("chat.update"))
    assert "1/5 steps recorded" in flatten(updated[-1]) and ":white_check_mark: done by" in flatten(updated[-1])

    short = await skip(bot, fake_slack, "1:1", "no")
    assert short.json == {"response_action": "errors", "errors": {"reason": "Say why, in a few words."}}
    ok = await skip(bot, fake_slack, "1:1", "restored by the DBA already")
    assert ok.status == 200
    await eventually(lambda: _count(bot, 2))
    clock.advance(timedelta(minutes=12))
    for step in (2, 3, 4):
        await bot.slack.action("runbook_done", f"1:{step}", user="U0BOB", channel="C0OPS")
    summary = await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if "finished" in c["text"]])
    assert summary[0]["text"] == (
        ":checkered_flag: Runbook *Database Recovery* finished in 12 min: 4 done, 1 skipped "
        "(step 2: restored by the DBA already)."
    )
    assert (await step_rows(bot))[1] == (1, "skipped", "restored by the DBA already", "U0BOB")
    run = await bot.db.fetchrow("SELECT finished_at, incident_id FROM runbook_runs")
    assert run["finished_at"] is not None and run["incident_id"] is None
    assert await ask(fake_slack, bot, "/runbook", "runs") == "No runbook runs in progress."


async def incident_channel_recorded(bot: RunningBot) -> None:
    """The incident's channel is known to the bot (its set-up runs after the reporter's answer on a busy machine):
    a runbook started there before that would not be part of the incident."""
    await eventually(lambda: bot.db.fetchval("SELECT count(*) = 1 FROM incidents WHERE channel_id IS NOT NULL"))


async def _count(bot: RunningBot, n: int) -> bool:
    return len(await step_rows(bot)) == n


async def test_inside_an_incident_the_steps_join_its_timeline(bot: RunningBot, fake_slack: FakeSlack) -> None:
    await ask(fake_slack, bot, "/incident", "p2 Connections refused")
    await incident_channel_recorded(bot)
    await bot.slack.command("/runbook", "db-connection-errors", channel="C00000001")
    message = (await eventually(lambda: run_posts(fake_slack, "C00000001")))[0]
    assert "part of INC-1" in flatten(message)
    running = await ask(fake_slack, bot, "/runbook", "runs")
    assert "*Database Connection Errors* in <#C00000001> · 0/4 steps" in running
    await bot.slack.action("runbook_done", "1:0", channel="C00000001")
    await eventually(lambda: _count(bot, 1))
    await bot.slack.command("/incident", "postmortem", channel="C00000001")
    draft = await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if "Post-mortem" in c["text"]])
    text = flatten(draft[0])
    assert "runbook Database Connection Errors started" in text
    assert "runbook Database Connection Errors step 1 done: Check connection pool settings" in text


async def test_a_long_runbook_is_paged_not_cut(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    long_text = "Check shard {n}: " + "verify replication lag and disk on every replica. " * 80
    steps = [{"text": long_text.format(n=n), "command": f"psql -h shard{n} -c 'select 1'"} for n in range(60)]
    config = config_with(oncall=ROTA, runbooks=[{"slug": "all-shards", "name": "All shards", "steps": steps}])
    bot = await make_bot(config)
    await bot.slack.command("/runbook", "all-shards", channel="C0OPS")
    placed = await eventually(lambda: bot.db.fetchval("SELECT messages FROM runbook_runs WHERE messages <> '[]'"))
    messages = run_posts(fake_slack)
    assert len(messages) > 1 and placed.count('"ts"') == len(messages)
    assert all(len(m["blocks"]) <= 50 for m in messages)
    assert all(len(b["text"]["text"]) <= 3000 for m in messages for b in m["blocks"] if b["type"] == "section")
    everything = "\n".join(flatten(m) for m in messages).replace("\n", "")
    for n in (0, 31, 59):
        assert ("verify replication lag and disk on every replica. " * 80).strip() in everything
        assert f"Check shard {n}:" in everything and f"psql -h shard{n} -c 'select 1'" in everything
    assert f"page 1 of {len(messages)}" in flatten(messages[0])


async def test_a_channel_the_bot_is_not_in(bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", error="not_in_channel")
    await bot.slack.command("/runbook", "memory-leak", channel="C0OPS")
    # The refused post is recorded too: wait for the second one, made after joining.
    await eventually(lambda: len(run_posts(fake_slack)) >= 2)
    assert fake_slack.calls_to("conversations.join") == [{"channel": "C0OPS"}]


async def test_a_runbook_name_with_markup_characters_is_escaped_once_in_the_timeline(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    steps = [{"text": "Fail over to the replica"}]
    runbooks = [{"slug": "restore", "name": "Restore <primary> & replicas", "steps": steps}]
    bot = await make_bot(config_with(oncall=ROTA, runbooks=runbooks))
    await ask(fake_slack, bot, "/incident", "p2 Primary down")
    await incident_channel_recorded(bot)
    await bot.slack.command("/runbook", "restore", channel="C00000001")
    await eventually(lambda: run_posts(fake_slack, "C00000001"))
    await bot.slack.action("runbook_done", "1:0", channel="C00000001")
    await eventually(lambda: _count(bot, 1))
    entries = [
        r["text"] for r in await bot.db.fetch("SELECT text FROM incident_events WHERE kind = 'runbook' ORDER BY id")
    ]
    name = "Restore &lt;primary&gt; &amp; replicas"  # config text is raw: escaped once, like every other entry
    assert entries[0] == f"runbook {name} started"
    assert entries[1] == f"runbook {name} step 1 done: Fail over to the replica"
    shown = await ask(fake_slack, bot, "/incident", "timeline", channel="C00000001")
    assert f"runbook {name} started" in shown and "&amp;amp;" not in shown
    # Named as typed (Slack sends it encoded: `&amp;`, `&lt;`): the runbook is found.
    await bot.slack.command("/runbook", "Restore <primary> & replicas", channel="C0OPS")
    assert (await eventually(lambda: run_posts(fake_slack, "C0OPS")))[0]["text"] == f"Runbook: {name}"
