"""Urgent cover, `/oncall cover`, end to end: signed slash commands and clicks in, the fake Slack out, requests,
overrides and jobs in PostgreSQL, the bot's clock moved (never slept).

The rotation (tests/conftest.py ROTA) at START, Wed 25 Nov 04:00 CET: alice primary, bob secondary, mallory
(U0MGR) manager; carol (by email) is the third engineer; dave is in no rotation."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from bot.oncall.parse import Cover, CoverCancel, parse
from bot.rota.lookup import who_is_on_call
from tests.conftest import ROTA, START, BotFactory, RunningBot, ask, config_with, eventually

CET = ROTA["timezone"]
TAKE = "oncall_cover_take"


@pytest.fixture
async def cover_bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall={**ROTA, "cover_ask_manager_after": "10m"}))


async def oncall(fake: FakeSlack, bot: RunningBot, text: str, *, user: str = "U0ALICE") -> str:
    return await ask(fake, bot, "/oncall", text, user=user)


async def press(bot: RunningBot, fake: FakeSlack, cover_id: int, user: str) -> str:
    """*I'll cover* pressed by `user` in their DM; the answer only they see (through the click's response_url)."""
    return (await press_all(bot, fake, [(cover_id, user)]))[0]


async def press_all(bot: RunningBot, fake: FakeSlack, presses: list[tuple[int, str]]) -> list[str]:
    """Several presses sent at the same moment (asyncio.gather of signed requests); each one's own answer."""
    element = {"action_id": TAKE, "block_id": "cover", "type": "button"}
    payloads = [
        bot.slack.block_actions({**element, "value": str(cid)}, user=user, channel=f"D{user}") for cid, user in presses
    ]
    replies = await asyncio.gather(*(bot.slack.interactive(p) for p in payloads))
    assert all(r.status == 200 for r in replies)
    names = [p["response_url"].rsplit("/", 1)[1] for p in payloads]

    def answers() -> list[str] | None:
        by_name = {c["_response_url"]: c for c in fake.calls_to("response_url")}
        if not all(n in by_name for n in names):
            return None
        assert all(by_name[n]["response_type"] == "ephemeral" for n in names)
        return [flatten(by_name[n]) for n in names]

    return await eventually(answers)


def requests_to(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    """The messages with an *I'll cover* button posted to `channel` (a user id: their DM; or a channel)."""
    return [
        c
        for c in fake.posted_in(channel)
        if any(e.get("action_id") == TAKE for b in c.get("blocks") or [] for e in b.get("elements", []))
    ]


def dms(fake: FakeSlack, user: str) -> list[str]:
    return [flatten(c) for c in fake.calls_to("chat.postMessage") if c["channel"] == user]


async def rows(bot: RunningBot, table: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await bot.db.fetch(f"SELECT * FROM {table} ORDER BY id")]


async def audited(bot: RunningBot, action: str) -> list[dict[str, Any]]:
    found = await bot.db.fetch("SELECT actor, outcome, detail FROM audit_log WHERE action = $1 ORDER BY id", action)
    return [{**dict(r), "detail": json.loads(r["detail"] or "{}")} for r in found]


async def test_the_first_volunteer_takes_it_and_everyone_hears(cover_bot: RunningBot, fake_slack: FakeSlack) -> None:
    said = await oncall(fake_slack, cover_bot, "cover")
    # The asker's own role and 4 hours, in team time and alice's (Seoul).
    assert said.startswith(
        "Asked for urgent *primary* cover until Wed 25 Nov 2026 08:00 CET (Wed 25 Nov 2026 16:00 KST your time) "
        "(request #1). Sent to <@U0BOB>, <@U0CAROL>."
    ), said
    assert "#zzik-incidents" not in said  # no P1/P2 open: the rotation only
    # A DM with the button to each engineer who could take it: not alice herself, not the manager (yet).
    assert len(requests_to(fake_slack, "U0BOB")) == len(requests_to(fake_slack, "U0CAROL")) == 1
    assert requests_to(fake_slack, "U0ALICE") == requests_to(fake_slack, "U0MGR") == []
    assert requests_to(fake_slack, "#zzik-incidents") == []
    assert "<@U0ALICE> needs urgent cover for *primary* now" in flatten(requests_to(fake_slack, "U0CAROL")[0])

    taken = await press(cover_bot, fake_slack, 1, "U0CAROL")
    assert taken.startswith("You cover *primary* for <@U0ALICE> until Wed 25 Nov 2026 08:00 CET"), taken
    assert "(override #1): you are on call now." in taken
    [override] = await rows(cover_bot, "oncall_overrides")
    assert (override["user_id"], override["role"], override["status"]) == ("U0CAROL", "primary", "accepted")
    assert (override["starts_at"], override["ends_at"]) == (START, START + timedelta(hours=4))
    assert (await rows(cover_bot, "oncall_cover_requests"))[0]["status"] == "taken"

    # Who is on call follows at once: the rota, /oncall, the announcement and the on-call user group.
    now = await who_is_on_call(cover_bot.services, START)
    assert now.primary.user == "U0CAROL" and now.secondary.user == "U0BOB"
    shown = await oncall(fake_slack, cover_bot, "", user="U0DAVE")
    assert "*Primary:* <@U0CAROL> until Wed 25 Nov 2026 08:00 CET" in shown and "(override #1)" in shown

    def announced() -> list[str]:
        return [t for t in map(flatten, fake_slack.posted_in("#zzik-incidents")) if "Now on call" in t]

    assert "*Primary:* <@U0CAROL>" in (await eventually(announced))[0]
    await eventually(lambda: fake_slack.usergroups.get("S0ONCALL") == ["U0CAROL", "U0BOB", "U0MGR"])

    # Everyone sees who took it: both request messages edited in place (by the DM's id), the button gone.
    def edited() -> list[dict[str, Any]]:
        return fake_slack.calls_to("chat.update")

    updates = await eventually(lambda: len(edited()) == 2 and edited())
    assert {u["channel"] for u in updates} == {"DU0BOB", "DU0CAROL"}
    for u in updates:
        assert "Covered by <@U0CAROL> until Wed 25 Nov 2026 08:00 CET" in flatten(u)
        assert TAKE not in json.dumps(u["blocks"])
    # The one who asked and the manager are told.
    await eventually(
        lambda: any("<@U0CAROL> took your request for *primary* cover" in t for t in dms(fake_slack, "U0ALICE"))
    )
    await eventually(lambda: any("Urgent cover: <@U0CAROL> took *primary*" in t for t in dms(fake_slack, "U0MGR")))
    # Audited, as overrides are.
    [asked] = await audited(cover_bot, "cover.ask")
    assert asked["actor"] == "U0ALICE" and asked["detail"]["asked"] == ["U0BOB", "U0CAROL"]
    [took] = await audited(cover_bot, "cover.take")
    assert took["actor"] == "U0CAROL" and took["detail"]["override_id"] == 1

    # A taken request is never put to the manager, however long one waits.
    clock: FrozenClock = cover_bot.services.clock
    clock.advance(timedelta(minutes=30))
    await cover_bot.tick()
    assert requests_to(fake_slack, "U0MGR") == []
    # At its end the rotation's primary is back, and the channel hears it.
    clock.set(START + timedelta(hours=4))
    await cover_bot.tick()
    assert (await who_is_on_call(cover_bot.services, clock.now())).primary.user == "U0ALICE"
    await eventually(lambda: any("Override #1 ends" in t for t in announced()))


async def test_two_presses_at_once_exactly_one_wins(cover_bot: RunningBot, fake_slack: FakeSlack) -> None:
    await oncall(fake_slack, cover_bot, "cover for 2h")
    answers = await press_all(cover_bot, fake_slack, [(1, "U0BOB"), (1, "U0CAROL")])
    won = [a for a in answers if a.startswith("You cover *primary*")]
    lost = [a for a in answers if a.startswith("Too late: ")]
    assert len(won) == 1 and len(lost) == 1, answers
    [override] = await rows(cover_bot, "oncall_overrides")
    winner = override["user_id"]
    assert lost[0] == f"Too late: <@{winner}> already took this cover."
    assert (await rows(cover_bot, "oncall_cover_requests"))[0]["taken_by"] == winner
    assert (await who_is_on_call(cover_bot.services, START)).primary.user == winner
    assert len(await audited(cover_bot, "cover.take")) == 1
    # A press after it was taken is told the same, and changes nothing.
    again = await press(cover_bot, fake_slack, 1, "U0MGR")
    assert again == f"Too late: <@{winner}> already took this cover."
    assert len(await rows(cover_bot, "oncall_overrides")) == 1


async def test_two_presses_on_two_replicas_one_wins(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    config = config_with(oncall=ROTA)
    one, two = await make_bot(config, replica_id="one"), await make_bot(config, replica_id="two")
    await oncall(fake_slack, one, "cover")
    answers = await asyncio.gather(press(one, fake_slack, 1, "U0BOB"), press(two, fake_slack, 1, "U0CAROL"))
    assert sorted(a.split(" ")[0] for a in answers) == ["Too", "You"], answers
    assert len(await rows(one, "oncall_overrides")) == 1


async def test_the_incidents_channel_hears_it_while_a_p1_is_open(cover_bot: RunningBot, fake_slack: FakeSlack) -> None:
    # A P3 open: the rotation only.
    await ask(fake_slack, cover_bot, "/incident", "p3 Slow search", user="U0DAVE")
    await eventually(lambda: cover_bot.db.fetchval("SELECT count(*) = 1 FROM incidents"))
    said = await oncall(fake_slack, cover_bot, "cover")
    assert "#zzik-incidents" not in said
    assert requests_to(fake_slack, "#zzik-incidents") == []
    assert await oncall(fake_slack, cover_bot, "cover cancel") == "Cancelled: primary cover (request #1)."

    # A P1 open: the incidents channel too, with the button.
    await ask(fake_slack, cover_bot, "/incident", "p1 Checkout down", user="U0DAVE")
    await eventually(lambda: cover_bot.db.fetchval("SELECT count(*) = 2 FROM incidents"))
    said = await oncall(fake_slack, cover_bot, "cover")
    assert "Sent to <@U0BOB>, <@U0CAROL>, #zzik-incidents." in said and "Open incident: INC-2." in said
    [posted] = requests_to(fake_slack, "#zzik-incidents")
    assert "<@U0ALICE> needs urgent cover for *primary* now" in flatten(posted)
    # Taken from the channel: that message is edited too, by the channel's id.
    assert (await press(cover_bot, fake_slack, 2, "U0BOB")).startswith("You cover *primary*")
    channel = fake_slack.channel_id("#zzik-incidents")
    await eventually(
        lambda: any(
            u["channel"] == channel and "Covered by <@U0BOB>" in flatten(u) for u in fake_slack.calls_to("chat.update")
        )
    )


async def test_unanswered_it_goes_to_the_manager_once(cover_bot: RunningBot, fake_slack: FakeSlack) -> None:
    clock: FrozenClock = cover_bot.services.clock
    await oncall(fake_slack, cover_bot, "cover for 3")
    clock.advance(timedelta(minutes=9, seconds=59))
    await cover_bot.tick()
    assert requests_to(fake_slack, "U0MGR") == []  # oncall.cover_ask_manager_after: 10m
    clock.advance(timedelta(seconds=1))
    await cover_bot.tick()
    [asked] = await eventually(lambda: requests_to(fake_slack, "U0MGR"))
    assert flatten(asked).startswith("Nobody has taken this in 10 min. :sos: <@U0ALICE> needs urgent cover")
    for _ in range(3):  # exactly once, however often the runner passes
        clock.advance(timedelta(minutes=10))
        await cover_bot.tick()
    assert len(requests_to(fake_slack, "U0MGR")) == 1
    assert len(await audited(cover_bot, "cover.escalate")) == 1
    # The manager may take it themselves (a member of the rotation); the asker is told, the manager is not DMed
    # about their own press.
    assert (await press(cover_bot, fake_slack, 1, "U0MGR")).startswith("You cover *primary*")
    await eventually(lambda: any("<@U0MGR> took your request" in t for t in dms(fake_slack, "U0ALICE")))
    assert not any("Urgent cover:" in t for t in dms(fake_slack, "U0MGR"))


async def test_unanswered_with_no_manager_to_ask_the_asker_hears(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    bot = await make_bot(config_with(oncall={**ROTA, "managers": [], "cover_ask_manager_after": "10m"}))
    clock: FrozenClock = bot.services.clock
    said = await oncall(fake_slack, bot, "cover for 3")
    assert "There is no manager to ask: if nobody takes it within 10 min, you hear so." in said
    clock.advance(timedelta(minutes=10))
    await bot.tick()
    [told] = await eventually(lambda: [t for t in dms(fake_slack, "U0ALICE") if "no manager to ask" in t])
    assert told.startswith("Nobody has taken your request for *primary* cover (#1)") and "nobody else" in told
    for _ in range(3):  # once, however often the runner passes
        clock.advance(timedelta(minutes=10))
        await bot.tick()
    assert len([t for t in dms(fake_slack, "U0ALICE") if "no manager to ask" in t]) == 1
    assert len(await audited(bot, "cover.escalate")) == 1


async def test_a_cancelled_request_does_nothing_more(cover_bot: RunningBot, fake_slack: FakeSlack) -> None:
    clock: FrozenClock = cover_bot.services.clock
    await oncall(fake_slack, cover_bot, "cover")
    assert (await oncall(fake_slack, cover_bot, "cover cancel", user="U0BOB")) == "You have no open request for cover."
    assert await oncall(fake_slack, cover_bot, "cover cancel") == "Cancelled: primary cover (request #1)."
    updates = await eventually(
        lambda: len(fake_slack.calls_to("chat.update")) == 2 and fake_slack.calls_to("chat.update")
    )
    assert all("Cancelled by <@U0ALICE>: no cover needed." in flatten(u) for u in updates)
    assert (
        await press(cover_bot, fake_slack, 1, "U0BOB") == "This request was cancelled by <@U0ALICE>: no cover needed."
    )
    clock.advance(timedelta(minutes=11))
    await cover_bot.tick()
    assert requests_to(fake_slack, "U0MGR") == []
    assert await rows(cover_bot, "oncall_overrides") == []


async def test_unanswered_to_its_end_the_asker_hears(cover_bot: RunningBot, fake_slack: FakeSlack) -> None:
    clock: FrozenClock = cover_bot.services.clock
    await oncall(fake_slack, cover_bot, "cover for 30m")
    clock.advance(timedelta(minutes=30))
    await cover_bot.tick()
    await eventually(
        lambda: any("Nobody took your request for *primary* cover" in t for t in dms(fake_slack, "U0ALICE"))
    )
    assert (await rows(cover_bot, "oncall_cover_requests"))[0]["status"] == "expired"
    assert (
        await press(cover_bot, fake_slack, 1, "U0BOB")
        == "This request ended Wed 25 Nov 2026 04:30 CET; nobody took it."
    )
    # A new request for the role may be made.
    assert (await oncall(fake_slack, cover_bot, "cover")).startswith("Asked for urgent *primary* cover")


async def test_who_may_ask_and_who_may_take(cover_bot: RunningBot, fake_slack: FakeSlack) -> None:
    refused = await oncall(fake_slack, cover_bot, "cover primary", user="U0DAVE")
    assert refused == (
        "Only the engineer replaced (<@U0ALICE>) or a manager (<@U0MGR>) may ask for urgent cover of this role."
    )
    refused = await oncall(fake_slack, cover_bot, "cover", user="U0DAVE")  # not on call: whose role?
    assert refused.startswith("Only the engineer replaced (<@U0ALICE>, <@U0BOB>) or a manager (<@U0MGR>) may")
    refused = await oncall(fake_slack, cover_bot, "cover primary", user="U0BOB")  # bob is the secondary
    assert refused.startswith("Only the engineer replaced (<@U0ALICE>) or a manager")
    assert await rows(cover_bot, "oncall_cover_requests") == []
    assert fake_slack.calls_to("chat.postMessage") == []

    # A manager asks on alice's behalf; a manager not on call must name the role.
    usage = await oncall(fake_slack, cover_bot, "cover", user="U0MGR")
    assert usage.startswith("You are not on call as primary or secondary now: say which role")
    said = await oncall(fake_slack, cover_bot, "cover primary", user="U0MGR")
    assert said.startswith("Asked for urgent *primary* cover") and "Sent to <@U0BOB>, <@U0CAROL>." in said
    assert "(the shift of <@U0ALICE>)" in flatten(requests_to(fake_slack, "U0BOB")[0])

    # Taking: the rotation only, not who asked, not who holds the role.
    refused = await press(cover_bot, fake_slack, 1, "U0DAVE")
    assert refused == (
        "Only a member of the rotation (<@U0ALICE>, <@U0BOB>, <@U0CAROL>, <@U0MGR>) may take this cover."
    )
    assert (await press(cover_bot, fake_slack, 1, "U0MGR")).startswith("You asked for this cover")
    assert (await press(cover_bot, fake_slack, 1, "U0ALICE")).startswith("You are already on call as primary")
    assert await rows(cover_bot, "oncall_overrides") == []
    assert (await rows(cover_bot, "oncall_cover_requests"))[0]["status"] == "open"

    async def refusals() -> list[tuple[str, str]] | None:
        found = await cover_bot.db.fetch("SELECT action, actor FROM audit_log WHERE outcome = 'refused'")
        return sorted((r["action"], r["actor"]) for r in found) if len(found) == 6 else None

    # Every refusal audited (the audit rows are written after the answer, in the background).
    assert await eventually(refusals) == sorted(
        [
            ("/oncall", "U0DAVE"),
            ("/oncall", "U0DAVE"),
            ("/oncall", "U0BOB"),
            (TAKE, "U0DAVE"),
            (TAKE, "U0MGR"),
            (TAKE, "U0ALICE"),
        ]
    )


async def test_until_is_the_askers_time_and_stops_at_the_shifts_end(
    cover_bot: RunningBot, fake_slack: FakeSlack
) -> None:
    # 12:00 in Seoul (alice) is 04:00 in Berlin: "until 15:00" is 15:00 KST, 07:00 CET.
    said = await oncall(fake_slack, cover_bot, "cover until 15:00")
    assert "until Wed 25 Nov 2026 07:00 CET (Wed 25 Nov 2026 15:00 KST your time)" in said
    assert (await rows(cover_bot, "oncall_cover_requests"))[0]["ends_at"] == datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    await oncall(fake_slack, cover_bot, "cover cancel")
    # Longer than the shift: the cover stops at the handoff (the next shift is someone else's).
    said = await oncall(fake_slack, cover_bot, "cover for 150 hours")
    assert "until Mon 30 Nov 2026 10:00 CET" in said and "That is where the shift ends" in said
    await oncall(fake_slack, cover_bot, "cover cancel")
    said = await oncall(fake_slack, cover_bot, "cover until 2026-11-24 10:00")
    assert said == "That time has passed: cover must end after now."


async def test_cover_laid_over_an_override(cover_bot: RunningBot, fake_slack: FakeSlack) -> None:
    """Dave holds the primary shift by an override; his urgent cover wins while it runs, then his override again."""
    set_ = await oncall(fake_slack, cover_bot, "override <@U0DAVE> primary now 2026-11-27", user="U0MGR")
    assert set_.startswith("Override set: #1")
    said = await oncall(fake_slack, cover_bot, "cover for 2", user="U0DAVE")
    assert "Sent to <@U0ALICE>, <@U0BOB>, <@U0CAROL>." in said
    assert (await press(cover_bot, fake_slack, 1, "U0ALICE")).startswith("You cover *primary* for <@U0DAVE>")
    assert (await who_is_on_call(cover_bot.services, START)).primary.user == "U0ALICE"
    later = await who_is_on_call(cover_bot.services, START + timedelta(hours=2))
    assert later.primary.user == "U0DAVE" and later.primary.override_id == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cover boss", "`boss` is not a role, `for` or `until`"),
        ("cover manager", "cover is for the primary or secondary role"),
        ("cover for 0", "cover must last at least a minute"),
        ("cover for soon", "`soon` is not a length"),
        ("cover for 200", "urgent cover lasts 7 days at most"),
        ("cover until 25:00", "`25:00` is not a time of day"),
        ("cover until", "`until` needs a time"),
        ("cover until 2026-11-30 10:00 please", "unexpected `please` after the time"),
        ("cover cancel now", "`cover cancel` takes nothing after it"),
        ("cover cancel", "You have no open request for cover."),
    ],
)
async def test_bad_input_says_what_is_wrong_and_changes_nothing(
    cover_bot: RunningBot, fake_slack: FakeSlack, text: str, expected: str
) -> None:
    said = await oncall(fake_slack, cover_bot, text)
    assert expected in said, said
    assert await rows(cover_bot, "oncall_cover_requests") == []
    assert fake_slack.calls_to("chat.postMessage") == []


def test_parse_cover() -> None:
    zone = ZoneInfo(CET)
    assert parse("cover", zone, START) == Cover(None)
    assert parse("cover Secondary for 90m", zone, START) == Cover("secondary", timedelta(minutes=90))
    assert parse("cover for 1.5 h", zone, START) == Cover(None, timedelta(hours=1.5))
    assert parse("cover primary until 2026-11-26 09:30", zone, START) == Cover("primary", until=("2026-11-26", "09:30"))
    assert parse("cover cancel", zone, START) == CoverCancel()


async def test_a_request_slack_refuses_is_retried_and_never_silent(
    cover_bot: RunningBot, fake_slack: FakeSlack
) -> None:
    clock: FrozenClock = cover_bot.services.clock
    fake_slack.fail("chat.postMessage", error="fatal_error", channel="U0BOB")
    said = await oncall(fake_slack, cover_bot, "cover")
    assert "Sent to <@U0CAROL>." in said and "Not reached yet, retrying: <@U0BOB>." in said
    clock.advance(timedelta(seconds=2))
    await cover_bot.tick()
    assert len(requests_to(fake_slack, "U0BOB")) == 2  # refused once, then the retry delivered it
    assert await cover_bot.db.fetchval("SELECT ts IS NOT NULL FROM oncall_cover_posts WHERE target = 'U0BOB'")
    assert await oncall(fake_slack, cover_bot, "cover cancel") == "Cancelled: primary cover (request #1)."

    # Refused every time: after the last retry the one who asked is told, not left waiting for an answer.
    fake_slack.fail("chat.postMessage", error="fatal_error", channel="U0CAROL", times=50)
    said = await oncall(fake_slack, cover_bot, "cover")
    assert "Not reached yet, retrying: <@U0CAROL>." in said
    for _ in range(12):
        clock.advance(timedelta(seconds=31))
        await cover_bot.tick()
    told = "Your request for *primary* cover (#2): the message to <@U0CAROL> was not delivered (fatal_error)."
    await eventually(lambda: any(t.startswith(told) for t in dms(fake_slack, "U0ALICE")))
    failed = await cover_bot.db.fetchval(
        "SELECT status FROM job_runs WHERE job = 'oncall.cover_post' AND run_key = '4'"
    )
    assert failed == "failed"
