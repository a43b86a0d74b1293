"""What the incident stories return: plain values that messages.py turns into words (`messages.answer`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.incidents.store import ActionItem, Incident, Page


@dataclass(frozen=True)
class Declared:
    incident: Incident
    created: bool  # False: the declaration key was seen before, nothing new was declared


@dataclass(frozen=True)
class SeverityChanged:
    incident: Incident
    was: str
    paged: list[Page] | None = None  # an escalation pages (these are its pages); a de-escalation does not


@dataclass(frozen=True)
class StageChanged:
    incident: Incident


@dataclass(frozen=True)
class Reopened:
    incident: Incident


@dataclass(frozen=True)
class Resolved:
    incident: Incident


@dataclass(frozen=True)
class Acknowledged:
    incident: Incident
    already: bool = False  # someone acknowledged it before: the incident says who and when


@dataclass(frozen=True)
class Joined:
    incident: Incident
    failures: list[str]  # what Slack refused when inviting


@dataclass(frozen=True)
class CommanderChanged:
    incident: Incident  # its commander is the new one


@dataclass(frozen=True)
class AlreadyCommander:
    incident: Incident


@dataclass(frozen=True)
class CommandAsked:
    """Take command by someone who may not take it at once: the commander is asked (or was already)."""

    incident: Incident
    commander: str  # the one asked
    who_may: str = ""  # who may hand over command, in words
    already: bool = False  # this person had asked before and is still waiting
    error: str | None = None  # the DM to the commander failed


@dataclass(frozen=True)
class CommandAnswered:
    incident: Incident
    requested_by: str
    handed_over: bool
    told_error: str | None = None  # the DM to the one who asked failed


@dataclass(frozen=True)
class CommandSettled:
    """The request was answered before, or command changed hands meanwhile."""

    incident: Incident


@dataclass(frozen=True)
class SetupUnderWay:
    incident: Incident


@dataclass(frozen=True)
class ActionAdded:
    incident: Incident
    item: ActionItem
    due: date | None


@dataclass(frozen=True)
class ActionClosed:
    incident: Incident
    item: ActionItem
    already: bool = False  # it was done before: the item says by whom and when


Outcome = (
    SeverityChanged
    | StageChanged
    | Reopened
    | Resolved
    | Acknowledged
    | Joined
    | CommanderChanged
    | AlreadyCommander
    | CommandAsked
    | CommandAnswered
    | CommandSettled
    | SetupUnderWay
    | ActionAdded
    | ActionClosed
)
