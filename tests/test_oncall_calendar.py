"""The on-call calendar feed (GET /oncall.ics over real HTTP, parsed with the icalendar library), `/oncall calendar`
and its links by DM, and `/oncall report` with its CSV uploaded through files.uploadV2."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from icalendar import Calendar

from bot.fakeslack import FakeSlack, flatten
from bot.oncall.report import CSV_COLUMNS
from tests.conftest import ROTA, START, BotFactory, RunningBot, ask, config_with, eventually
from tests.test_ack_expiry import fired_and_acknowledged

LINK = re.compile(r"(http://bot\.invalid)(/oncall\.ics\?token=)([A-Za-z0-9_-]+)")


@pytest.fixture
async def oncall_bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall=ROTA))


async def oncall(fake: FakeSlack, bot: RunningBot, text: str, *, user: str = "U0ALICE") -> str:
    return await ask(fake, bot, "/oncall", text, user=user)


def dm_links(fake: FakeSlack, user: str) -> dict[str, str]:
    """The tokens of the last DM with calendar links to `user`: {"person": …, "team": …}."""
    dms = [c for c in fake.calls_to("chat.postMessage") if c["channel"] == user and "oncall.ics" in c["text"]]
    found = LINK.findall(dms[-1]["text"])
    assert len(found) == 2, dms[-1]["text"]
    return {"person": found[0][2], "team": found[1][2]}


async def fetch(bot: RunningBot, token: str | None) -> tuple[int, bytes, Any]:
    url = f"{bot.url}/oncall.ics" + (f"?token={token}" if token is not None else "")
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read(), response.headers


async def feed(bot: RunningBot, token: str) -> dict[str, Any]:
    """The feed parsed by icalendar: {uid: event}, after checking what every calendar client needs of it."""
    status, body, headers = await fetch(bot, token)
    assert status == 200, body
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert b"\r\n" in body and b"\n" not in body.replace(b"\r\n", b"")  # CRLF line endings only
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))  # folded at 75 octets
    cal = Calendar.from_ical(body)
    assert cal["VERSION"] == "2.0" and "ZZIK" in str(cal["PRODID"])
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    for event in events.values():
        assert event.decoded("DTSTART").tzinfo is not None
        assert event.decoded("DTSTART").utcoffset() == timedelta(0)  # in UTC
        assert event.decoded("DTEND") > event.decoded("DTSTART") and "DTSTAMP" in event
    return events


def span(event: Any) -> tuple[datetime, datetime]:
    return event.decoded("DTSTART"), event.decoded("DTEND")


async def test_feeds_parse_keep_their_uids_and_show_overrides(oncall_bot: RunningBot, fake_slack: FakeSlack) -> None:
    said = await oncall(fake_slack, oncall_bot, "calendar")
    assert "Your calendar links are in your DM with the bot" in said
    tokens = dm_links(fake_slack, "U0ALICE")

    team = await feed(oncall_bot, tokens["team"])
    summaries = {str(e["SUMMARY"]) for e in team.values()}
    assert {"On call: primary — Alice", "On call: secondary — Bob", "On call: manager — Mallory"} <= summaries
    assert "On call: primary — Carol" in summaries  # carol is configured by email
    week0 = team["rota-0-primary-0@oncall.zzik-ops"]
    assert span(week0) == (datetime(2026, 11, 23, 9, 0, tzinfo=UTC), datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    # 4 weeks back to 26 weeks ahead: nothing before the rotation began (nobody on call then), 26 weeks after now.
    assert max(span(e)[0] for e in team.values()) < datetime(2026, 11, 25, 3, 0, tzinfo=UTC) + timedelta(weeks=26)
    assert max(span(e)[1] for e in team.values()) >= datetime(2026, 11, 25, 3, 0, tzinfo=UTC) + timedelta(weeks=26)
    assert set(await feed(oncall_bot, tokens["team"])) == set(team)  # stable UIDs across fetches

    mine = await feed(oncall_bot, tokens["person"])
    assert mine and all(str(e["SUMMARY"]).endswith("— Alice") for e in mine.values())
    assert {str(e["SUMMARY"]) for e in mine.values()} == {"On call: primary — Alice", "On call: secondary — Alice"}
    assert not set(mine) & set(team)  # a calendar holding both feeds keeps them apart

    # The manager puts dave on as primary for Thursday (team time): his override replaces alice's shift there.
    set_ = await oncall(fake_slack, oncall_bot, "override <@U0DAVE> primary 2026-11-26 2026-11-27", user="U0MGR")
    assert set_.startswith("Override set: #1")
    after = await feed(oncall_bot, tokens["team"])
    thursday = (datetime(2026, 11, 25, 23, 0, tzinfo=UTC), datetime(2026, 11, 26, 23, 0, tzinfo=UTC))
    assert str(after["override-1@oncall.zzik-ops"]["SUMMARY"]) == "On call: primary — Dave"
    assert span(after["override-1@oncall.zzik-ops"]) == thursday
    # Alice's week keeps its UID (the calendar updates it) and ends where the override starts; the rest of her
    # week is a new piece after it. Nothing else changed.
    assert span(after["rota-0-primary-0@oncall.zzik-ops"]) == (week0.decoded("DTSTART"), thursday[0])
    assert span(after["rota-0-primary-1@oncall.zzik-ops"]) == (thursday[1], week0.decoded("DTEND"))
    assert set(after) - set(team) == {"override-1@oncall.zzik-ops", "rota-0-primary-1@oncall.zzik-ops"}
    primary_at_thursday = [
        str(e["SUMMARY"])
        for e in after.values()
        if "primary" in str(e["SUMMARY"]) and span(e)[0] <= thursday[0] + timedelta(hours=12) < span(e)[1]
    ]
    assert primary_at_thursday == ["On call: primary — Dave"]
    mine_after = await feed(oncall_bot, tokens["person"])
    assert not any(span(e)[0] < thursday[1] and span(e)[1] > thursday[0] for e in mine_after.values())

    # Cancelled, the override's event goes and alice's piece grows back, under the same UID.
    await oncall(fake_slack, oncall_bot, "override cancel 1", user="U0MGR")
    restored = await feed(oncall_bot, tokens["team"])
    assert set(restored) == set(team) and span(restored["rota-0-primary-0@oncall.zzik-ops"]) == span(week0)


@pytest.mark.parametrize("token", [None, "", "nope", "A" * 43, "../../etc/passwd", "%00"])
async def test_a_bad_token_is_refused_without_detail(oncall_bot: RunningBot, token: str | None) -> None:
    status, body, headers = await fetch(oncall_bot, token)
    assert status == 404
    assert body == b"404: Not Found" and "calendar" not in headers.get("Content-Type", "")


async def test_a_feed_slack_cannot_complete_now_is_503_not_a_shorter_feed(
    oncall_bot: RunningBot, fake_slack: FakeSlack
) -> None:
    """carol is configured by email: while Slack cannot say who that is, the feed would lose her shifts (and the
    calendars their events), so it answers 503 and the calendars keep their last copy."""
    await oncall(fake_slack, oncall_bot, "calendar", user="U0CAROL")
    tokens = dm_links(fake_slack, "U0CAROL")
    fake_slack.fail("users.lookupByEmail", status=500, times=3)
    status, _, headers = await fetch(oncall_bot, tokens["person"])
    assert status == 503 and headers["Retry-After"] == "30"
    mine = await feed(oncall_bot, tokens["person"])
    assert mine and {str(e["SUMMARY"]) for e in mine.values()} == {
        "On call: primary — Carol",
        "On call: secondary — Carol",
    }


async def test_calendar_links_are_shown_once_and_rotate_replaces_them(
    oncall_bot: RunningBot, fake_slack: FakeSlack
) -> None:
    await oncall(fake_slack, oncall_bot, "calendar")
    first = dm_links(fake_slack, "U0ALICE")
    assert "Google Calendar" in fake_slack.calls_to("chat.postMessage")[-1]["text"]
    # Only hashes are kept: the tokens themselves are nowhere in the database.
    rows = await oncall_bot.db.fetch(
        "SELECT user_id, scope, token_hash, sent_at, revoked_at FROM oncall_calendar_tokens"
    )
    assert {(r["user_id"], r["scope"]) for r in rows} == {("U0ALICE", "person"), ("U0ALICE", "team")}
    assert {bytes(r["token_hash"]) for r in rows} == {hashlib.sha256(t.encode()).digest() for t in first.values()}
    assert all(r["sent_at"] for r in rows)

    dms = len(fake_slack.calls_to("chat.postMessage"))
    again = await oncall(fake_slack, oncall_bot, "calendar")
    assert "were sent to you by DM on Wed 25 Nov 2026 04:00 CET" in again and "/oncall calendar rotate" in again
    assert len(fake_slack.calls_to("chat.postMessage")) == dms  # nothing new issued

    rotated = await oncall(fake_slack, oncall_bot, "calendar rotate")
    assert "New calendar links sent to you by DM; the old ones no longer work" in rotated
    second = dm_links(fake_slack, "U0ALICE")
    assert set(second.values()).isdisjoint(first.values())
    for token in first.values():
        assert (await fetch(oncall_bot, token))[0] == 404
    for token in second.values():
        assert (await fetch(oncall_bot, token))[0] == 200
    await oncall(fake_slack, oncall_bot, "calendar reset")  # the other word for it
    assert (await fetch(oncall_bot, second["team"]))[0] == 404
    audit = await oncall_bot.db.fetch("SELECT action, detail FROM audit_log WHERE action LIKE 'calendar.%' ORDER BY id")
    assert [r["action"] for r in audit] == ["calendar.issue", "calendar.rotate", "calendar.rotate"]
    assert not any(t in json.dumps([dict(r) for r in audit], default=str) for t in first.values())


async def test_links_that_could_not_be_sent_are_withdrawn(oncall_bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", error="channel_not_found", channel="U0BOB")
    said = await oncall(fake_slack, oncall_bot, "calendar", user="U0BOB")
    assert "could not be sent to you by DM" in said and "none were issued" in said
    live = await oncall_bot.db.fetchval("SELECT count(*) FROM oncall_calendar_tokens WHERE revoked_at IS NULL")
    assert live == 0
    await oncall(fake_slack, oncall_bot, "calendar", user="U0BOB")  # the next ask issues them
    assert (await fetch(oncall_bot, dm_links(fake_slack, "U0BOB")["person"]))[0] == 200


async def test_no_public_url_no_links(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    bot = await make_bot(config_with(oncall=ROTA), zzik_public_url=None)
    said = await oncall(fake_slack, bot, "calendar")
    assert "ZZIK_PUBLIC_URL" in said
    assert await bot.db.fetchval("SELECT count(*) FROM oncall_calendar_tokens") == 0


# -- /oncall report -------------------------------------------------------------------------------------------

# A rotation that began well before November: week 7 (from Mon 23 Nov 10:00 CET) is bob, carol, mallory.
EARLY_ROTA = {**ROTA, "start": "2026-10-05"}


async def test_monthly_report_adds_up_and_uploads_its_csv(make_bot: BotFactory, fake_slack: FakeSlack, clock) -> None:
    bot = await make_bot(config_with(oncall=EARLY_ROTA))
    # Dave covers the primary from Thursday 08:00 to Friday 20:00 (36 h, 18 of them in working time).
    await oncall(fake_slack, bot, "override <@U0DAVE> primary 2026-11-26 08:00 2026-11-27 20:00", user="U0MGR")
    declared = await ask(fake_slack, bot, "/incident", "p1 Checkout down", user="U0CAROL")
    assert "Paged <@U0BOB>, <@U0CAROL>, <@U0MGR>." in declared
    # An alert's page of the primary, as the alerts domain records it.
    await bot.db.execute(
        """INSERT INTO audit_log (at, kind, action, outcome, actor, detail)
           VALUES ('2026-11-10 12:00+00', 'alert', 'page', 'ok', 'bot', '{"alert": 7, "paged": "U0ALICE"}')"""
    )
    clock.set(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))

    refused = await oncall(fake_slack, bot, "report", user="U0ALICE")
    assert refused.startswith("Only a manager (<@U0MGR>) may see the on-call report.")
    assert fake_slack.calls_to("files.getUploadURLExternal") == []

    said = await oncall(fake_slack, bot, "report", user="U0MGR")  # default: the last month
    assert "On-call report, November 2026" in said
    assert "Hours per role: primary 720.0 h · secondary 720.0 h · manager 720.0 h (the month: 720.0 h)" in said
    assert "The CSV (oncall-report-2026-11.csv) is in your DM with the bot." in said

    [asked] = fake_slack.calls_to("files.getUploadURLExternal")
    [upload] = [c.args for c in fake_slack.calls if c.method == "upload"]
    [completed] = fake_slack.calls_to("files.completeUploadExternal")
    assert asked["filename"] == "oncall-report-2026-11.csv" and int(asked["length"]) == upload["bytes"]
    assert completed["channels"] == "U0MGR"
    [file] = fake_slack.uploaded()
    assert file["shared"] == ["U0MGR"]
    rows = list(csv.DictReader(io.StringIO(file["content"].decode())))
    assert tuple(rows[0]) == CSV_COLUMNS
    by = {(r["user_id"], r["role"]): r for r in rows}
    for role in ("primary", "secondary", "manager"):  # every hour of the month, once per role
        assert sum(float(r["hours_on_call"]) for r in rows if r["role"] == role) == pytest.approx(720, abs=0.05)
    assert (by["U0DAVE", "primary"]["hours_on_call"], by["U0DAVE", "primary"]["hours_out_of_hours"]) == (
        "36.00",
        "18.00",
    )
    assert by["U0MGR", "manager"]["hours_on_call"] == "720.00"
    assert by["U0MGR", "manager"]["name"] == "Mallory" and by["U0MGR", "manager"]["month"] == "2026-11"
    # Pages: the P1's page DMs (bob primary, carol secondary, mallory manager) and the alert's page of alice.
    assert [by[k]["pages"] for k in [("U0BOB", "primary"), ("U0CAROL", "secondary"), ("U0MGR", "manager")]] == [
        "1",
        "1",
        "1",
    ]
    assert by["U0ALICE", "primary"]["pages"] == "1"
    # Bob, the on-call primary, commands the incident: worked as primary.
    assert by["U0BOB", "primary"]["incidents_worked"] == "1"
    for r in rows:
        assert float(r["hours_out_of_hours"]) <= float(r["hours_on_call"])

    this_month = await oncall(fake_slack, bot, "report 2026-12", user="U0MGR")
    assert "On-call report, December 2026 (so far" in this_month
    assert "has not begun" in await oncall(fake_slack, bot, "report 2027-01", user="U0MGR")
    assert "is not a month" in await oncall(fake_slack, bot, "report 2026-13", user="U0MGR")


async def test_report_says_when_the_csv_could_not_be_uploaded(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    bot = await make_bot(config_with(oncall=EARLY_ROTA))
    fake_slack.fail("files.completeUploadExternal", error="not_allowed_token_type")
    said = await oncall(fake_slack, bot, "report 2026-10", user="U0MGR")
    assert "On-call report, October 2026" in said
    assert "The CSV (oncall-report-2026-10.csv) could not be uploaded (not_allowed_token_type)" in said
    assert fake_slack.uploaded() == []


async def test_the_report_is_answered_after_the_ack(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    """Its reads and the upload take longer than the ack budget here (a slow Slack): the ack goes at once, empty,
    and the report follows through response_url."""
    bot = await make_bot(config_with(oncall=EARLY_ROTA), zzik_ack_budget_seconds=0.2)
    fake_slack.latency = 0.3  # two Web API calls for the upload alone: past the budget on any machine
    reply = await bot.slack.command("/oncall", "report 2026-10", user="U0MGR")
    assert reply.status == 200 and not reply.text
    answer = await eventually(lambda: fake_slack.calls_to("response_url"))
    assert "On-call report, October 2026" in flatten(answer[0]) and answer[0]["response_type"] == "ephemeral"
    assert len(fake_slack.uploaded()) == 1


async def test_cover_laid_over_an_override_replaces_it_in_the_calendar_and_the_report(
    make_bot: BotFactory, fake_slack: FakeSlack, clock
) -> None:
    """Dave holds the primary by an override; alice's urgent cover for him wins while it runs (as who is on call
    says): his calendar leaves those hours out, hers shows them, and the report counts each hour of the month once."""
    bot = await make_bot(config_with(oncall=EARLY_ROTA))
    set_ = await oncall(fake_slack, bot, "override <@U0DAVE> primary now 2026-11-27", user="U0MGR")
    assert set_.startswith("Override set: #1")
    assert "Asked for urgent *primary* cover" in await oncall(fake_slack, bot, "cover for 2", user="U0DAVE")
    take = {"action_id": "oncall_cover_take", "block_id": "cover", "type": "button", "value": "1"}
    assert (
        await bot.slack.interactive(bot.slack.block_actions(take, user="U0ALICE", channel="DU0ALICE"))
    ).status == 200
    covered = (START, START + timedelta(hours=2))
    assert await bot.db.fetchval("SELECT count(*) FROM oncall_overrides WHERE status = 'accepted'") == 2

    await oncall(fake_slack, bot, "calendar", user="U0DAVE")
    tokens = dm_links(fake_slack, "U0DAVE")
    team = await feed(bot, tokens["team"])
    assert str(team["override-2@oncall.zzik-ops"]["SUMMARY"]) == "On call: primary — Alice"
    assert span(team["override-2@oncall.zzik-ops"]) == covered
    assert span(team["override-1@oncall.zzik-ops"]) == (covered[1], datetime(2026, 11, 26, 23, 0, tzinfo=UTC))
    at_cover = [
        str(e["SUMMARY"]) for e in team.values() if "primary" in str(e["SUMMARY"]) and span(e)[0] <= START < span(e)[1]
    ]
    assert at_cover == ["On call: primary — Alice"]
    daves = await feed(bot, tokens["person"])
    assert daves and not any(span(e)[0] < covered[1] and span(e)[1] > covered[0] for e in daves.values())

    clock.set(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    said = await oncall(fake_slack, bot, "report 2026-11", user="U0MGR")
    assert "Hours per role: primary 720.0 h · secondary 720.0 h · manager 720.0 h (the month: 720.0 h)" in said
    [file] = fake_slack.uploaded()
    rows = list(csv.DictReader(io.StringIO(file["content"].decode())))
    for role in ("primary", "secondary", "manager"):
        assert sum(float(r["hours_on_call"]) for r in rows if r["role"] == role) == pytest.approx(720, abs=0.05)
    by = {(r["user_id"], r["role"]): r for r in rows}
    assert by["U0DAVE", "primary"]["hours_on_call"] == "42.00"  # 04:00 to midnight Thursday CET, less the 2 h


async def test_the_report_counts_the_pages_of_a_resumed_escalation(
    make_bot: BotFactory, fake_slack: FakeSlack, clock
) -> None:
    """An acknowledgement that ran out pages the next role (bot/alerts/ack_expiry.py): that page counts too."""
    bot = await make_bot(config_with(oncall=EARLY_ROTA), zzik_alert_pace_seconds=0.02)
    await fired_and_acknowledged(bot, fake_slack, clock)  # a P2: 30 min, then one role per 15 min
    for _ in range(3):
        clock.advance(timedelta(minutes=15))
        await bot.tick()
    row = await eventually(
        lambda: bot.db.fetchrow("SELECT at, detail->>'paged' AS paged FROM audit_log WHERE action = 'ack_escalate'")
    )
    # Audit rows carry the database's time: the report of the month the row fell in, asked after it.
    month = row["at"].astimezone(ZoneInfo(ROTA["timezone"])).replace(day=1, hour=12)
    clock.set(month + timedelta(days=40))
    await oncall(fake_slack, bot, f"report {month:%Y-%m}", user="U0MGR")
    [file] = fake_slack.uploaded()
    rows = list(csv.DictReader(io.StringIO(file["content"].decode())))
    assert {(r["user_id"], r["role"]): r["pages"] for r in rows}[row["paged"], "primary"] == "1"
