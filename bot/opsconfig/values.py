"""The config's value types: durations, times of day, severities, people."""

from __future__ import annotations

import re
from datetime import time, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter, ValidationError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ISO_DURATION = TypeAdapter(timedelta)
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*(?:(\d+)\s*s)?\s*$")


def parse_duration(value: Any) -> timedelta:
    """'5m', '1h30m', '48h', '2d', '90s' (or a number of seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match and any(match.groups()):
            d, h, m, s = (int(g or 0) for g in match.groups())
            return timedelta(days=d, hours=h, minutes=m, seconds=s)
        if value.startswith("P"):  # ISO 8601, as a dumped config writes it
            try:
                return _ISO_DURATION.validate_python(value)
            except ValidationError:
                pass
    raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 5m, 1h30m, 2d)")


def _parse_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 10:00 as the sexagesimal number 600.
        value = f"{value // 60:02d}:{value % 60:02d}"
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}(:00)?", value.strip()):
        hh, mm = value.strip().split(":")[:2]
        if int(hh) < 24 and int(mm) < 60:
            return time(int(hh), int(mm))
    raise ValueError(f"{value!r} is not a time of day (use HH:MM, 24-hour)")


class Severity(StrEnum):
    """The manual's severity levels (also an alert's priority)."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
TimeOfDay = Annotated[time, BeforeValidator(_parse_time)]


_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _member(value: str) -> str:
    """One syntax for a person everywhere in the config: a Slack user id or the email Slack knows them by."""
    if _USER_ID.match(value) or _EMAIL.match(value):
        return value
    raise ValueError(f"{value!r} is not a Slack user id (like U0ALICE) or an email")


def _member_or_group(value: str) -> str:
    """A person (as in _member) or a Slack user group id, for the permission lists."""
    if _GROUP_ID.match(value):
        return value
    try:
        return _member(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a Slack user id (like U0ALICE), an email or a user group id (like S0DEPLOY)"
        ) from None


def _channel_name(value: str) -> str:
    """A channel as Slack names it (conversations.create refuses anything else), with or without its `#`.

    Slack's rule: lowercase letters, digits, - and _, at most 80 characters. Letters of scripts without case
    (한글, 日本語) are lowercase in Slack's sense and allowed, as Slack allows them.
    """
    name = value.removeprefix("#")
    if not name:
        raise ValueError(f"{value!r} is not a channel name: it is empty")
    if len(name) > 80:
        raise ValueError(f"{value[:20]!r}… is not a channel name: Slack takes at most 80 characters")
    wrong = sorted({c for c in name if not (c in "-_" or (c.isalnum() and not c.isupper()))})
    if wrong:
        kinds = [
            *(["capital letters"] if any(c.isupper() for c in wrong) else []),
            *(["spaces"] if any(c.isspace() for c in wrong) else []),
            *[repr(c) for c in wrong if not (c.isupper() or c.isspace())],
        ]
        raise ValueError(
            f"{value!r} is not a channel name Slack accepts: lowercase letters, digits, - and _ only "
            f"(it has {', '.join(kinds)})"
        )
    return value


# Strict strings: a YAML number or date where a person is meant is an error, not a silent str().
Member = Annotated[str, Field(strict=True), AfterValidator(_member)]
MemberOrGroup = Annotated[str, Field(strict=True), AfterValidator(_member_or_group)]
ChannelName = Annotated[str, Field(strict=True), AfterValidator(_channel_name)]
