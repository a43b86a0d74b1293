"""Rotation math (pure): week boundaries in wall-clock time, both DST switches, starts past and future."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import UsageError
from bot.oncall import parse
from bot.opsconfig import Oncall
from bot.rota.rotation import Rotation

BERLIN = ZoneInfo("Europe/Berlin")


def rotation(**kw) -> Rotation:
    values = {
        "timezone": "Europe/Berlin",
        "start": "2026-11-23",
        "engineers": ["U0A", "U0B", "U0C"],
        "managers": ["U0M", "U0N"],
    }
    values.update(kw)
    return Rotation(Oncall(**values))


def test_weeks_rotate_primary_secondary_manager() -> None:
    rot = rotation()
    weeks = [rot.week(n) for n in range(4)]
    assert [(w.primary, w.secondary, w.manager) for w in weeks] == [
        ("U0A", "U0B", "U0M"),
        ("U0B", "U0C", "U0N"),
        ("U0C", "U0A", "U0M"),
        ("U0A", "U0B", "U0N"),
    ]
    assert weeks[0].starts_at == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Mon 10:00 CET
    assert weeks[0].ends_at == weeks[1].starts_at


def test_handoff_boundary_is_exact() -> None:
    rot = rotation()
    handoff = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert rot.at(handoff - timedelta(microseconds=1)).primary == "U0A"
    assert rot.at(handoff).primary == "U0B"
    assert rot.next_handoff(handoff - timedelta(seconds=1)) == handoff
    assert rot.next_handoff(handoff) == handoff + timedelta(weeks=1)


@pytest.mark.parametrize(
    ("monday", "utc_hour"),
    [
        ("2027-03-22", 9),  # CET (UTC+1), the last Monday before the spring switch
        ("2027-03-29", 8),  # CEST (UTC+2), the first Monday after it
        ("2027-10-25", 8),  # CEST, before the autumn switch
        ("2027-11-01", 9),  # CET again
    ],
)
def test_handoff_stays_ten_local_across_daylight_saving(monday: str, utc_hour: int) -> None:
    rot = rotation()
    day = datetime.fromisoformat(monday).date()
    n = (day - rot.anchor).days // 7
    start = rot.week_start(n)
    assert start == datetime.combine(day, time(utc_hour), tzinfo=UTC)
    assert start.astimezone(BERLIN).time() == time(10, 0)
    # The week across a switch is 167 or 169 hours long, not 168.
    assert rot.week_index(start) == n and rot.week_index(start - timedelta(seconds=1)) == n - 1


def test_a_rotation_started_in_the_past_keeps_its_cycle() -> None:
    rot = rotation(start="2024-01-03")  # a Wednesday: week 0 began Monday 1 Jan 2024
    assert rot.week_start(0) == datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
    at = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    n = rot.week_index(at)
    assert n == 151 and rot.at(at).primary == ["U0A", "U0B", "U0C"][151 % 3]


def test_a_rotation_that_starts_in_the_future_has_nobody_before_it() -> None:
    rot = rotation(start="2027-01-04")
    before = rot.at(datetime(2026, 12, 31, tzinfo=UTC))
    assert before.index < 0 and (before.primary, before.secondary, before.manager) == (None, None, None)
    assert rot.at(rot.starts_at).primary == "U0A"


def test_small_rotations() -> None:
    solo = rotation(engineers=["U0A"], managers=[])
    assert (solo.week(5).primary, solo.week(5).secondary, solo.week(5).manager) == ("U0A", None, None)


NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", parse.Now()),
        ("next", parse.Next()),
        ("schedule", parse.Schedule(4)),
        ("schedule 26", parse.Schedule(26)),
        ("overrides", parse.Overrides()),
        ("override cancel 12", parse.OverrideCancel(12)),
        ("help", parse.Help()),
    ],
)
def test_parse_simple(text: str, expected: object) -> None:
    assert parse.parse(text, BERLIN, NOW) == expected


def test_parse_override_dates_and_datetimes() -> None:
    req = parse.parse("override <@U0BOB|bob> Primary 2026-12-01 2026-12-03T18:30", BERLIN, NOW)
    assert req == parse.OverrideCreate(
        "U0BOB", "primary", datetime(2026, 12, 1, tzinfo=BERLIN), datetime(2026, 12, 3, 18, 30, tzinfo=BERLIN)
    )
    spaced = parse.parse("override <@U0BOB> manager 2026-12-01 08:00 2026-12-02 20:00", BERLIN, NOW)
    assert spaced.starts.hour == 8 and spaced.ends.hour == 20
    assert parse.parse("at 2026-12-08", BERLIN, NOW) == parse.At(datetime(2026, 12, 8, 12, 0, tzinfo=BERLIN), True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schedule 27", "weeks must be a number from 1 to 26"),
        ("schedule soon", "weeks must be a number"),
        ("at tomorrow", "is not a date"),
        ("at 2026-13-01", "is not a date on the calendar"),
        ("at 2026-12-01 25:00", "is not a time of day"),
        ("override @bob primary 2026-12-01 2026-12-02", "is not a Slack user"),
        ("override <@U0BOB> boss 2026-12-01 2026-12-02", "is not a role"),
        ("override <@U0BOB> primary 2026-12-03 2026-12-01", "the end must be after the start"),
        ("override <@U0BOB> primary 2026-11-01 2026-11-02", "would already be over"),
        ("override <@U0BOB> primary 2026-12-01", "a person, a role, a start and an end"),
        ("override <@U0BOB> primary 2026-12-01 2027-12-01", "26 weeks at most"),
        ("override cancel x", "override cancel &lt;id&gt;"),
        ("dance", "is not an /oncall command"),
        ("now please", "`now` takes nothing after it"),
        ("next 3", "`next` takes nothing after it"),
    ],
)
def test_parse_errors_say_what_was_wrong(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse.parse(text, BERLIN, NOW)
