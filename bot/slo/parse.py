"""/slo text -> a frozen request."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import UsageError
from bot.slack.commands import HELP_WORDS, Help, Word, echo


class Live(Word):
    """`/slo`: the objectives as they stand."""


@dataclass(frozen=True)
class Report:
    year: int | None  # None: the month before this one
    month: int | None


def parse(text: str) -> Help | Live | Report:
    words = text.split()
    if not words:
        return Live()
    head = words[0].lower()
    if head in HELP_WORDS:
        return Help()
    if head != "report":
        raise UsageError(f"`{echo(text)}` is not a /slo command")
    if len(words) == 1:
        return Report(None, None)
    match = re.fullmatch(r"(\d{4})-(\d{2})", words[1])
    if len(words) > 2 or not match or not 1 <= int(match.group(2)) <= 12:
        raise UsageError("Name the month as YYYY-MM, e.g. `/slo report 2026-10`.")
    return Report(int(match.group(1)), int(match.group(2)))
