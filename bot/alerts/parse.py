"""The /alerts grammar: text -> a frozen request."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import UsageError
from bot.slack.commands import HELP_WORDS, Help, Word
from bot.slack.text import whole_number

HISTORY_DEFAULT, HISTORY_MAX = 20, 100


class FiringNow(Word):
    """`/alerts`: what fires now."""


@dataclass(frozen=True)
class History:
    limit: int


def parse_alerts(text: str) -> Help | FiringNow | History:
    """`/alerts` -> what fires now; `/alerts history [n]` -> the last n; `help`."""
    words = text.lower().split()
    if not words:
        return FiringNow()
    if words[0] in HELP_WORDS:
        return Help()
    if words[0] == "history" and len(words) <= 2:
        if len(words) == 1:
            return History(HISTORY_DEFAULT)
        limit = whole_number(words[1], HISTORY_MAX)
        if limit:
            return History(limit)
        raise UsageError(f"`history` takes a number from 1 to {HISTORY_MAX}.")
    raise UsageError("`/alerts` takes nothing, `history [n]` or `help`.")
