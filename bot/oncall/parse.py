"""The /oncall grammar: text in, a typed request out, or a UsageError that says what was wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.errors import UsageError
from bot.rota.rotation import Role
from bot.slack.commands import HELP_WORDS, Help, Word, echo
from bot.slack.text import user_id, whole_number

MAX_WEEKS = 26
MAX_OVERRIDE = timedelta(weeks=26)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{1,2}:\d{2})$", re.ASCII)
_TIME = re.compile(r"^\d{1,2}:\d{2}$", re.ASCII)


class Now(Word):
    """`/oncall` or `/oncall now`: who is on call, and the asker's own next shift."""


class Next(Word):
    """`/oncall next`: the next rotation."""


class Overrides(Word):
    """`/oncall overrides`: the overrides running now and to come."""


class Contacts(Word):
    """`/oncall contacts`: how to reach who is on call."""


@dataclass(frozen=True)
class Schedule:
    """`/oncall schedule [weeks]`: the rotation for the coming weeks (4 unless given)."""

    weeks: int


@dataclass(frozen=True)
class At:
    """`/oncall at <date> [HH:MM]`: who is on call then (at noon when only a date is given)."""

    when: datetime
    date_only: bool


@dataclass(frozen=True)
class OverrideCreate:
    """`/oncall override @who <role> <start> <end>`: someone covers a role for a while."""

    user: str
    role: str
    starts: datetime
    ends: datetime


@dataclass(frozen=True)
class OverrideCancel:
    """`/oncall override cancel <id>`: an override called off."""

    override_id: int


@dataclass(frozen=True)
class Calendar:
    """`/oncall calendar [rotate]`: the person's calendar feed links by DM; `rotate` (or `reset`) replaces them."""

    rotate: bool


@dataclass(frozen=True)
class Report:
    """`/oncall report [YYYY-MM]`: a month's hours, out-of-hours, pages and incidents (default: the last month)."""

    month: date | None


@dataclass(frozen=True)
class Cover:
    """`/oncall cover [primary|secondary] [for <hours>|until <time>]`: urgent cover, taken by the first member of
    the rotation to press *I'll cover* (bot/oncall/cover.py). No role: the asker's own; no length: COVER_DEFAULT.
    `until`: the words of a time in the asker's own zone (`cover_until` reads them)."""

    role: str | None
    length: timedelta | None = None
    until: tuple[str, ...] = ()


class CoverCancel(Word):
    """`/oncall cover cancel`: the asker's open request for cover called off."""


Request = (
    Help
    | Now
    | Next
    | Overrides
    | Contacts
    | Schedule
    | At
    | OverrideCreate
    | OverrideCancel
    | Calendar
    | Report
    | Cover
    | CoverCancel
)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$", re.ASCII)

_SHOW: dict[str, type[Now | Next | Overrides]] = {"now": Now, "next": Next, "overrides": Overrides}


def _date(token: str) -> date:
    if not _DATE.match(token):
        raise UsageError(f"`{token}` is not a date: use YYYY-MM-DD (e.g. 2026-12-01)")
    try:
        day = date.fromisoformat(token)
    except ValueError:
        raise UsageError(f"`{token}` is not a date on the calendar") from None
    if not 2000 <= day.year <= 2100:
        raise UsageError(f"`{token}` is too far from today: use a date between 2000 and 2100")
    return day


def _time(token: str) -> time:
    hh, mm = token.split(":")
    if int(hh) > 23 or int(mm) > 59:
        raise UsageError(f"`{token}` is not a time of day: use HH:MM, 24-hour")
    return time(int(hh), int(mm))


def take_when(tokens: list[str], zone: ZoneInfo, now: datetime, *, default_time: time) -> tuple[datetime, bool]:
    """Consume one moment from the front of tokens: `now`, `YYYY-MM-DD`, `YYYY-MM-DD HH:MM`, `YYYY-MM-DDTHH:MM`.
    Returns (instant, whether only a date was given)."""
    if not tokens:
        raise UsageError("a date is missing: use YYYY-MM-DD or YYYY-MM-DD HH:MM (team time zone)")
    token = tokens.pop(0)
    if token.lower() == "now":
        return now, False
    match = _DATETIME.match(token)
    if match:
        day, clock, date_only = _date(match[1]), _time(match[2]), False
    else:
        day = _date(token)
        if tokens and _TIME.match(tokens[0]):
            clock, date_only = _time(tokens.pop(0)), False
        else:
            clock, date_only = default_time, True
    return datetime.combine(day, clock, tzinfo=zone), date_only


def parse(text: str, zone: ZoneInfo, now: datetime) -> Request:
    tokens = text.split()
    if not tokens:
        return Now()
    head, rest = tokens[0].lower(), tokens[1:]
    if head in HELP_WORDS:
        return Help()
    if head in _SHOW:
        if rest:
            raise UsageError(f"`{head}` takes nothing after it")
        return _SHOW[head]()
    if head == "schedule":
        if not rest:
            return Schedule(4)
        weeks = whole_number(rest[0], MAX_WEEKS) if len(rest) == 1 else None
        if weeks is None or weeks < 1:
            raise UsageError(f"weeks must be a number from 1 to {MAX_WEEKS}")
        return Schedule(weeks)
    if head == "at":
        when, date_only = take_when(rest, zone, now, default_time=time(12, 0))
        if rest:
            raise UsageError(f"unexpected `{' '.join(rest)}` after the date")
        return At(when, date_only)
    if head == "contacts":
        if rest:
            raise UsageError("`contacts` takes nothing after it")
        return Contacts()
    if head == "override":
        return _override(rest, zone, now)
    if head in ("calendar", "report"):
        return _calendar(head, rest)
    if head == "cover":
        return _cover(rest, zone, now)
    raise UsageError(f"`{echo(text)}` is not an /oncall command")


def _override(rest: list[str], zone: ZoneInfo, now: datetime) -> Request:
    if rest and rest[0].lower() == "cancel":
        override_id = whole_number(rest[1].lstrip("#")) if len(rest) == 2 else None
        if override_id is None:
            raise UsageError("use `/oncall override cancel &lt;id&gt;` with the id `/oncall overrides` shows")
        return OverrideCancel(override_id)
    if len(rest) < 4:
        raise UsageError("an override needs a person, a role, a start and an end")
    who = user_id(rest[0])
    if who is None:
        raise UsageError(f"`{rest[0]}` is not a Slack user: mention them, e.g. @alice")
    role = Role.parse(rest[1].lower())
    if role is None:
        raise UsageError(f"`{rest[1]}` is not a role: use primary, secondary or manager")
    tokens = rest[2:]
    starts, _ = take_when(tokens, zone, now, default_time=time(0, 0))
    ends, _ = take_when(tokens, zone, now, default_time=time(0, 0))
    if tokens:
        raise UsageError(f"unexpected `{' '.join(tokens)}` after the end")
    if ends <= starts:
        raise UsageError("the end must be after the start")
    if ends <= now:
        raise UsageError("that override would already be over")
    if ends - max(starts, now) > MAX_OVERRIDE:
        raise UsageError("an override can last 26 weeks at most")
    return OverrideCreate(who, role, starts, ends)


def _calendar(head: str, rest: list[str]) -> Calendar | Report:
    if head == "calendar":
        if not rest:
            return Calendar(rotate=False)
        if len(rest) == 1 and rest[0].lower() in ("rotate", "reset"):
            return Calendar(rotate=True)
        raise UsageError("use `/oncall calendar` for your links, or `/oncall calendar rotate` to replace them")
    if not rest:
        return Report(None)
    match = _MONTH.match(rest[0]) if len(rest) == 1 else None
    if match is None or not 1 <= int(match[2]) <= 12 or not 2000 <= int(match[1]) <= 2100:
        raise UsageError(f"`{echo(' '.join(rest))}` is not a month: use YYYY-MM (e.g. 2026-11)")
    return Report(date(int(match[1]), int(match[2]), 1))


COVER_DEFAULT = timedelta(hours=4)
MAX_COVER = timedelta(days=7)
COVER_USAGE = "use `/oncall cover [primary|secondary] [for &lt;hours&gt;|until &lt;time&gt;]`"
_LENGTH = re.compile(r"^(\d{1,4}(?:\.\d{1,2})?)(h|hr|hrs|hours?|m|min|mins|minutes?)?$", re.ASCII)


def _cover(rest: list[str], zone: ZoneInfo, now: datetime) -> Request:
    first = rest[0].lower() if rest else ""
    if first == "cancel":
        if len(rest) > 1:
            raise UsageError("`cover cancel` takes nothing after it")
        return CoverCancel()
    if first == "manager":
        raise UsageError("cover is for the primary or secondary role; a manager's shift is an override")
    role = first if first in ("primary", "secondary") else None
    words = rest[1:] if role else rest
    if not words:
        return Cover(role)
    head, tail = words[0].lower(), tuple(words[1:])
    if head == "for":
        return Cover(role, length=_length(" ".join(tail)))
    if head == "until":
        cover_until(tail, zone, now)  # the words are checked here; the flow reads them in the asker's zone
        return Cover(role, until=tail)
    raise UsageError(f"`{echo(words[0])}` is not a role, `for` or `until`: {COVER_USAGE}")


def _length(text: str) -> timedelta:
    """`4`, `4h`, `4 hours`, `1.5h`, `90m`: how long cover is needed (hours unless minutes are named)."""
    match = _LENGTH.match(text.replace(" ", ""))
    if not match:
        raise UsageError(f"`{echo(text) or 'nothing'}` is not a length: give hours, e.g. `for 4` or `for 90m`")
    amount = float(match[1])
    length = timedelta(minutes=amount) if (match[2] or "h").startswith("m") else timedelta(hours=amount)
    if length < timedelta(minutes=1):
        raise UsageError("cover must last at least a minute")
    if length > MAX_COVER:
        raise UsageError("urgent cover lasts 7 days at most: plan longer with `/oncall override`")
    return length


def cover_until(words: tuple[str, ...], zone: ZoneInfo, now: datetime) -> datetime:
    """The end of cover from `until` words in `zone`: `HH:MM` (the next time the clock shows it), or a moment as
    `/oncall at` takes it (`YYYY-MM-DD [HH:MM]`, a date alone meaning its midnight)."""
    tokens = list(words)
    if len(tokens) == 1 and _TIME.match(tokens[0]):
        wall = _time(tokens[0])
        today = now.astimezone(zone).date()
        at = datetime.combine(today, wall, tzinfo=zone)
        return at if at > now else datetime.combine(today + timedelta(days=1), wall, tzinfo=zone)
    if not tokens:
        raise UsageError("`until` needs a time: HH:MM or YYYY-MM-DD HH:MM (your time zone)")
    at, _ = take_when(tokens, zone, now, default_time=time(0, 0))
    if tokens:
        raise UsageError(f"unexpected `{echo(' '.join(tokens))}` after the time")
    return at
