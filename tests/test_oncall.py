"""/oncall end to end: signed requests in, Web API calls out, overrides and jobs in Postgres."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from bot.rota.lookup import who_is_on_call
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually

HANDOFF = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 10:00 CET: alice -> bob


@pytest.fixture
async def oncall_bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall=ROTA))


async def answer(fake: FakeSlack, bot: RunningBot, text: str, *, user: str = "U0ALICE") -> str:
    return await ask(fake, bot, "/oncall", text, user=user)


def announced(fake: FakeSlack) -> list[dict]:
    """What went to the on-call channel and to people (not the maintenance checklists of a moved clock)."""
    return [c for c in fake.calls_to("chat.postMessage") if c["channel"] == "#zzik-incidents" or c["channel"][0] == "U"]


async def _outcomes(bot: RunningBot, count: int) -> list[str]:
    rows = await bot.db.fetch("SELECT outcome FROM audit_log WHERE action = '/oncall'")
    return [r["outcome"] for r in rows] if len(rows) == count else []


async def overrides(bot: RunningBot) -> list[dict]:
    return [dict(r) for r in await bot.db.fetch("SELECT * FROM oncall_overrides ORDER BY id")]


async def test_who_is_on_call_now_in_team_and_own_time(oncall_bot: RunningBot, fake_slack: FakeSlack) -> None:
    text = await answer(fake_slack, oncall_bot, "")
    assert "*Primary:* <@U0ALICE> until Mon 30 Nov 2026 10:00 CET (Mon 30 Nov 2026 18:00 KST your time)" in text
    assert "*Secondary:* <@U0BOB>" in text and "*Manager:* <@U0MGR>" in text
    assert "Team time zone: Europe/Berlin" in text
    dave = await answer(fake_slack, oncall_bot, "", user="U0DAVE")  # dave is on UTC
    assert "until Mon 30 Nov 2026 10:00 CET (Mon 30 Nov 2026 09:00 UTC your time)" in dave


async def test_next_schedule_and_at(oncall_bot: RunningBot, fake_slack: FakeSlack) -> None:
    nxt = await answer(fake_slack, oncall_bot, "next")
    assert "Next rotation, from Mon 30 Nov 2026 10:00 CET" in nxt
    assert "*Primary:* <@U0BOB>" in nxt and "*Secondary:* <@U0CAROL>" in nxt  # carol given by email
    assert fake_slack.calls_to("users.lookupByEmail")[0]["email"] == "carol@zzik.example"

    schedule = await answer(fake_slack, oncall_bot, "schedule")
    assert schedule.count("Primary <@") == 4
    assert "Mon 23 Nov 2026 10:00 CET → Mon 30 Nov 2026 10:00 CET" in schedule
    assert "Primary <@U0CAROL> · Secondary <@U0ALICE> · Manager <@U0MGR>" in schedule
    assert (await answer(fake_slack, oncall_bot, "schedule 2")).count("Primary <@") == 2

    at = await answer(fake_slack, oncall_bot, "at 2026-12-08")
    assert "On call at Tue 08 Dec 2026 12:00 CET (noon, team time)" in at and "*Primary:* <@U0CAROL>" in at

    help_text = await answer(fake_slack, oncall_bot, "help")
    assert "/oncall override @user &lt;primary|secondary|manager&gt;" in help_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("schedule 40", "weeks must be a number from 1 to 26"),
        ("at someday", "`someday` is not a date"),
        ("override <@U0DAVE> boss 2026-12-01 2026-12-02", "`boss` is not a role"),
        ("override <@U0DAVE> primary 2026-12-02 2026-12-01", "the end must be after the start"),
        ("override <@U0DAVE> primary 2026-12-01 2026-02-30", "not a date on the calendar"),
        ("override <@U0GHOST> primary 2026-12-01 2026-12-02", "`U0GHOST` is not a user in this workspace"),
        ("override cancel 999", "There is no override #999"),
    ],
)
async def test_bad_input_is_answered_and_changes_nothing(
    oncall_bot: RunningBot, fake_slack: FakeSlack, text: str, expected: str
) -> None:
    said = await answer(fake_slack, oncall_bot, text)
    assert expected in said
    assert await overrides(oncall_bot) == []
    assert fake_slack.calls_to("chat.postMessage") == []
    rows = await eventually(lambda: oncall_bot.db.fetch("SELECT outcome FROM audit_log WHERE action = '/oncall'"))
    assert rows[0]["outcome"] == "usage_error"


async def test_override_now_by_the_replaced_engineer(oncall_bot: RunningBot, fake_slack: FakeSlack) -> None:
    said = await answer(fake_slack, oncall_bot, "override <@U0DAVE|dave> primary now 2026-11-26 18:00")
    assert said.startswith("Override set: #1 <@U0DAVE> as *primary* from Wed 25 Nov 2026 04:00 CET")
    assert "until Thu 26 Nov 2026 18:00 CET" in said
    [row] = await overrides(oncall_bot)
    assert (row["user_id"], row["role"], row["created_by"]) == ("U0DAVE", "primary", "U0ALICE")
    post = fake_slack.calls_to("chat.postMessage")[-1]
    assert post["channel"] == "#zzik-incidents"
    assert "*Primary:* <@U0DAVE>" in flatten(post) and "Override #1 set by <@U0ALICE>" in flatten(post)
    assert fake_slack.usergroups["S0ONCALL"] == ["U0DAVE", "U0BOB", "U0MGR"]

    now = await answer(fake_slack, oncall_bot, "")
    assert "*Primary:* <@U0DAVE> until Thu 26 Nov 2026 18:00 CET" in now and "(override #1)" in now
    listed = await answer(fake_slack, oncall_bot, "overrides")
    assert "#1 <@U0DAVE> as *primary*" in listed
    audit = await oncall_bot.db.fetch("SELECT actor, detail FROM audit_log WHERE action = 'override.create'")
    assert audit[0]["actor"] == "U0ALICE"


async def test_a_failed_announcement_is_a_note_not_an_error(oncall_bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", status=500, times=3)
    said = await answer(fake_slack, oncall_bot, "override <@U0DAVE> primary now 2026-11-26")
    assert said.startswith("Override set: #1 <@U0DAVE> as *primary*")
    assert said.endswith("The announcement in #zzik-incidents failed (HTTP 500 from Slack); tell the team.")
    assert len(await overrides(oncall_bot)) == 1


async def test_who_may_override(oncall_bot: RunningBot, fake_slack: FakeSlack) -> None:
    refused = await answer(fake_slack, oncall_bot, "override <@U0CAROL> manager 2026-12-01 2026-12-02", user="U0DAVE")
    assert refused.startswith("Only a manager (<@U0MGR>) or the engineer replaced (<@U0MGR>) may set this override")
    assert "/oncall override @user" not in refused  # a refusal, not a usage error: no usage dump
    assert await overrides(oncall_bot) == []
    # The one taking over only asks: the engineer replaced (carol, by email) must accept.
    asked = await answer(fake_slack, oncall_bot, "override <@U0DAVE> secondary 2026-12-01 2026-12-02", user="U0DAVE")
    assert asked.startswith("Asked <@U0CAROL> to accept: #1 <@U0DAVE> as *secondary*")
    assert (await overrides(oncall_bot))[0]["status"] == "requested"
    # A manager sets any.
    ok = await answer(fake_slack, oncall_bot, "override <@U0CAROL> manager 2026-12-01 2026-12-02", user="U0MGR")
    assert ok.startswith("Override set: #2")
    rows = await eventually(lambda: _outcomes(oncall_bot, 3))
    assert sorted(rows) == ["ok", "ok", "refused"]


async def test_overlapping_overrides_are_refused_naming_the_other(
    oncall_bot: RunningBot, fake_slack: FakeSlack
) -> None:
    first = await answer(fake_slack, oncall_bot, "override <@U0DAVE> primary 2026-12-01 2026-12-03", user="U0BOB")
    assert first.startswith("Override set: #1")
    clash = await answer(fake_slack, oncall_bot, "override <@U0CAROL> primary 2026-12-02 2026-12-04", user="U0MGR")
    assert clash.startswith("That overlaps override #1 <@U0DAVE> as *primary* from Tue 01 Dec 2026 00:00 CET")
    assert "/oncall override cancel 1" in clash
    # Another role, or back to back, is fine.
    assert (
        await answer(fake_slack, oncall_bot, "override <@U0CAROL> secondary 2026-12-02 2026-12-04", user="U0MGR")
    ).startswith("Override set")
    assert (
        await answer(fake_slack, oncall_bot, "override <@U0CAROL> primary 2026-12-03 2026-12-04", user="U0MGR")
    ).startswith("Override set")
    assert len(await overrides(oncall_bot)) == 3


async def test_two_overrides_at_once_from_two_replicas_one_wins(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    one = await make_bot(config_with(oncall=ROTA), replica_id="one")
    two = await make_bot(config_with(oncall=ROTA), replica_id="two")
    replies = await asyncio.gather(
        one.slack.command("/oncall", "override <@U0DAVE> primary 2026-12-01 2026-12-03", user="U0MGR"),
        two.slack.command("/oncall", "override <@U0CAROL> primary 2026-12-02 2026-12-04", user="U0MGR"),
    )
    # The refusal comes in the ack when it is ready within the ack budget, else through response_url.
    in_ack = [r.json for r in replies if r.text]
    answers = await eventually(
        lambda: len(fake_slack.calls_to("response_url")) + len(in_ack) == 2 and fake_slack.calls_to("response_url")
    )
    texts = sorted(a["text"][:13] for a in [*answers, *in_ack])
    assert texts == ["Override set:", "That overlaps"]
    assert len(await overrides(one)) == 1


async def test_cancel_permissions_and_announcement(oncall_bot: RunningBot, fake_slack: FakeSlack) -> None:
    await answer(fake_slack, oncall_bot, "override <@U0DAVE> primary now 2026-11-27")
    refused = await answer(fake_slack, oncall_bot, "override cancel 1", user="U0CAROL")
    assert refused.startswith("Only the one it puts on call (<@U0DAVE>) or who asked for it (<@U0ALICE>)")
    assert (await overrides(oncall_bot))[0]["cancelled_at"] is None
    fake_slack.clear()
    assert await answer(fake_slack, oncall_bot, "override cancel 1") == "Override #1 cancelled."
    post = fake_slack.calls_to("chat.postMessage")[-1]
    assert "*Primary:* <@U0ALICE>" in flatten(post) and "Override #1 cancelled by <@U0ALICE>" in flatten(post)
    again = await answer(fake_slack, oncall_bot, "override cancel 1")
    assert again == "Override #1 was already cancelled."
    runs = await oncall_bot.db.fetch("SELECT status FROM job_runs WHERE job = 'oncall.override_changes'")
    assert [r["status"] for r in runs] == ["cancelled"]


async def test_future_override_is_announced_when_it_begins_and_ends_once(
    make_bot: BotFactory, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    one = await make_bot(config_with(oncall=ROTA), replica_id="one")
    two = await make_bot(config_with(oncall=ROTA), replica_id="two")
    await answer(fake_slack, one, "override <@U0DAVE> secondary 2026-11-26 2026-11-27", user="U0BOB")
    assert announced(fake_slack) == []  # nothing changes now
    clock.set(datetime(2026, 11, 25, 23, 0, 5, tzinfo=UTC))  # 00:00:05 CET on the 26th
    await asyncio.gather(one.tick(), two.tick(), one.tick(), two.tick())
    posts = announced(fake_slack)
    assert (
        len(posts) == 1 and "*Secondary:* <@U0DAVE>" in flatten(posts[0]) and "Override #1 begins" in flatten(posts[0])
    )
    clock.set(datetime(2026, 11, 26, 23, 1, tzinfo=UTC))
    await asyncio.gather(one.tick(), two.tick())
    posts = announced(fake_slack)
    assert len(posts) == 2 and "*Secondary:* <@U0BOB>" in flatten(posts[1]) and "Override #1 ends" in flatten(posts[1])


async def test_weekly_handoff_reminder_dm_and_announcement_once(
    make_bot: BotFactory, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    one = await make_bot(config_with(oncall=ROTA), replica_id="one")
    two = await make_bot(config_with(oncall=ROTA), replica_id="two")
    await answer(fake_slack, one, "override <@U0DAVE> manager 2026-11-26 2026-11-27", user="U0MGR")
    await asyncio.gather(one.tick(), two.tick())  # schedules are laid down
    clock.set(datetime(2026, 11, 27, 0, 0, tzinfo=UTC))  # the override came and went, each announced once
    await asyncio.gather(one.tick(), two.tick())
    assert [flatten(c).count("Override #1") for c in announced(fake_slack)] == [1]
    fake_slack.clear()

    # Sunday 10:00 CET: the day-before DMs to the incoming bob, carol and the manager.
    clock.set(HANDOFF - timedelta(days=1) + timedelta(seconds=2))
    await asyncio.gather(one.tick(), two.tick(), one.tick())
    dms = [c for c in announced(fake_slack) if c["channel"].startswith("U")]
    assert sorted(d["channel"] for d in dms) == ["U0BOB", "U0CAROL", "U0MGR"]
    bob = next(d for d in dms if d["channel"] == "U0BOB")["text"]
    assert "on call as *primary* from Mon 30 Nov 2026 10:00 CET (Mon 30 Nov 2026 10:00 CET" not in bob
    assert "on call as *primary* from Mon 30 Nov 2026 10:00 CET until Mon 07 Dec 2026 10:00 CET" in bob  # same zone
    assert "Laptop with VPN access" in bob

    fake_slack.clear()
    clock.set(HANDOFF - timedelta(minutes=30) + timedelta(seconds=1))  # 09:30 CET
    await asyncio.gather(one.tick(), two.tick(), one.tick(), two.tick())
    [reminder] = announced(fake_slack)
    text = flatten(reminder)
    assert reminder["channel"] == "#zzik-incidents"
    assert "On-call handoff at Mon 30 Nov 2026 10:00 CET" in text
    assert "*Primary:* <@U0ALICE> → <@U0BOB>" in text and "*Secondary:* <@U0BOB> → <@U0CAROL>" in text
    assert "*Overrides this week*" in text and "#1 <@U0DAVE> as *manager*" in text

    clock.set(HANDOFF + timedelta(seconds=1))
    await asyncio.gather(one.tick(), two.tick(), one.tick(), two.tick())
    posts = announced(fake_slack)
    assert len(posts) == 2
    assert "Now on call" in flatten(posts[1]) and "*Primary:* <@U0BOB>" in flatten(posts[1])
    assert "Weekly handoff, Mon 30 Nov 2026 10:00 CET." in flatten(posts[1])
    assert fake_slack.usergroups["S0ONCALL"] == ["U0BOB", "U0CAROL", "U0MGR"]


async def test_handoff_after_downtime_is_announced_once_and_late(
    oncall_bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    await oncall_bot.tick()
    clock.set(HANDOFF + timedelta(hours=3))  # down from before the reminder until after the handoff
    await oncall_bot.tick()
    await oncall_bot.tick()
    posts = [p for p in fake_slack.calls_to("chat.postMessage") if p["channel"] == "#zzik-incidents"]
    assert len(posts) == 1  # no stale reminder, one late announcement
    assert "Announced late: the bot was down for the handoff, 180 min ago" in flatten(posts[0])


async def test_p1_paging_uses_the_lookup(oncall_bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock) -> None:
    services = oncall_bot.services
    assert (await who_is_on_call(services, clock.now())).chain() == ["U0ALICE", "U0BOB", "U0MGR"]
    await answer(fake_slack, oncall_bot, "override <@U0DAVE> primary now 2026-11-26")
    fake_slack.clear()
    said = await ask(fake_slack, oncall_bot, "/incident", "p1 Database down", user="U0CAROL")
    assert "Paged <@U0DAVE>, <@U0BOB>, <@U0MGR>." in said
    pages = sorted(c["channel"] for c in fake_slack.calls_to("chat.postMessage") if c["channel"][0] == "U")
    assert pages == ["U0BOB", "U0DAVE", "U0MGR"]


async def test_before_the_rotation_starts(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    bot = await make_bot(config_with(oncall={**ROTA, "start": "2027-01-04"}))
    text = await answer(fake_slack, bot, "")
    assert "The rotation starts Mon 04 Jan 2027 10:00 CET" in text and "*Primary:* _nobody_" in text
