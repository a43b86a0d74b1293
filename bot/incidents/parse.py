"""The /incident grammar."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.errors import UsageError
from bot.incidents.enums import Severity
from bot.slack.commands import HELP_WORDS, Help, Word, echo
from bot.slack.text import length, shorten, user_id, whole_number

MAX_TITLE = 150
MAX_TEXT = 2000
_SEVERITY = re.compile(r"^p([1-4])$", re.IGNORECASE)
_SEVERITY_LIKE = re.compile(r"^(p\d+|sev\d*|p)$", re.IGNORECASE)


class OpenModal(Word):
    """`/incident` alone: the Declare form."""


@dataclass(frozen=True)
class Declare:
    severity: Severity
    title: str
    full_text: str | None = None  # an over-long title in full: it becomes the description


class ListOpen(Word):
    """`/incident list`: the open incidents."""


@dataclass(frozen=True)
class Update:
    text: str


@dataclass(frozen=True)
class ChangeSeverity:
    """`/incident severity p1`"""

    severity: Severity


@dataclass(frozen=True)
class Commander:
    user: str


class ListActions(Word):
    """`/incident actions`: the action items, each with a Done button."""


@dataclass(frozen=True)
class Stage:
    """`/incident stage <name>`: a stage named in full or by its start."""

    name: str


@dataclass(frozen=True)
class AddAction:
    text: str
    owner: str | None
    due: date | None = None


class Timeline(Word):
    """`/incident timeline`"""


@dataclass(frozen=True)
class ActionDone:
    number: int


class Postmortem(Word):
    """`/incident postmortem`: the draft, posted in the channel."""


@dataclass(frozen=True)
class Resolve:
    summary: str | None


class Reopen(Word):
    """`/incident reopen`"""


@dataclass(frozen=True)
class Public:
    rest: str  # parsed by the status domain


InChannel = (
    Update
    | ChangeSeverity
    | Commander
    | Stage
    | AddAction
    | ActionDone
    | ListActions
    | Resolve
    | Timeline
    | Postmortem
    | Public
    | Reopen
)
Request = OpenModal | Help | Declare | ListOpen | InChannel

_ONE_WORD: dict[str, type[ListOpen | ListActions | Timeline | Postmortem | Reopen]] = {
    "list": ListOpen,
    "actions": ListActions,
    "timeline": Timeline,
    "postmortem": Postmortem,
    "post-mortem": Postmortem,
    "reopen": Reopen,
}


def severity(token: str) -> Severity:
    match = _SEVERITY.match(token.strip())
    if not match:
        raise UsageError(f"`{token}` is not a severity: use p1, p2, p3 or p4")
    return Severity(f"P{match[1]}")


def title(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise UsageError(
            "a title is missing: say what is broken after the severity, e.g. `/incident p1 checkout fails`"
        )
    return text


def declare(severity_token: str, text: str) -> Declare:
    """An emergency is never refused for its form: an over-long title is shortened ("…"), kept in full apart."""
    full = title(text)
    if length(full) <= MAX_TITLE:
        return Declare(severity(severity_token), full)
    return Declare(severity(severity_token), shorten(full, MAX_TITLE), full)


def _text(rest: str, what: str) -> str:
    rest = rest.strip()
    if not rest:
        raise UsageError(f"{what} is missing")
    if length(rest) > MAX_TEXT:
        raise UsageError(f"{what} is {length(rest)} characters; keep it to {MAX_TEXT}")
    return rest


def _action(rest: str) -> AddAction | ActionDone:
    """`action done <n>`, or `action <text> [@owner] [due YYYY-MM-DD]` (owner and due date in either order)."""
    tokens = rest.split()
    if tokens and tokens[0].lower() == "done":
        number = tokens[1].removeprefix("#") if len(tokens) == 2 else ""
        item = whole_number(number)
        if item is None:
            raise UsageError(
                "say which action item is done: `/incident action done 3` (`/incident actions` lists them)"
            )
        return ActionDone(item)
    owner: str | None = None
    due: date | None = None
    for _ in range(2):
        if len(tokens) >= 2 and tokens[-2].lower() == "due" and due is None:
            try:
                due = date.fromisoformat(tokens[-1])
            except ValueError:
                raise UsageError(f"`{tokens[-1]}` is not a date: write the due date as YYYY-MM-DD") from None
            tokens = tokens[:-2]
        elif tokens and owner is None and user_id(tokens[-1]):
            owner = user_id(tokens[-1])
            tokens = tokens[:-1]
    return AddAction(_text(" ".join(tokens), "the action text"), owner, due)


def parse(text: str) -> Request:
    text = text.strip()
    if not text:
        return OpenModal()
    head, _, rest = text.partition(" ")
    word = head.lower()
    if word in HELP_WORDS:
        return Help()
    if _SEVERITY.match(head):
        return declare(head, rest)
    if _SEVERITY_LIKE.match(head):
        raise UsageError(f"`{head}` is not a severity: use p1, p2, p3 or p4")
    if word in _ONE_WORD:
        if rest.strip():
            raise UsageError(f"`{head}` takes nothing after it")
        return _ONE_WORD[word]()
    if word == "update":
        return Update(_text(rest, "the update text"))
    if word == "severity":
        return ChangeSeverity(severity(rest.strip() or "?"))
    if word == "commander":
        who = user_id(rest)
        if who is None:
            raise UsageError("name the new commander: `/incident commander @user`")
        return Commander(who)
    if word == "stage":
        return Stage(_text(rest, "the stage name"))
    if word == "action":
        return _action(rest)
    if word == "resolve":
        summary = rest.strip() or None
        if summary and length(summary) > MAX_TEXT:
            raise UsageError(f"the summary is {length(summary)} characters; keep it to {MAX_TEXT}")
        return Resolve(summary)
    if word == "public":
        return Public(rest)
    raise unknown(text)


def unknown(text: str) -> UsageError:
    """The answer to what is no /incident subcommand (`text`: the command's text, stripped)."""
    return UsageError(
        f"`{echo(text)}` is not an /incident command; to declare one, start with its severity: `/incident p2 {text}`"
    )
