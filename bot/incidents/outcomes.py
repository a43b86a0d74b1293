"""What the incident stories return: plain values that messages.py turns into words (`messages.answer`).

Most say only which incident it was about (`About`): the incident itself shows the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.events import Published
from bot.incidents.models import ActionItem, Incident, Page


@dataclass(frozen=True)
class About:
    incident: Incident


@dataclass(frozen=True)
class Declared(About):
    created: bool  # False: the declaration key was seen before, nothing new was declared
    published: Published | None = None  # IncidentDeclared's subscriber runs, to run after the commit


class StageChanged(About):
    """The incident is at its new stage."""


@dataclass(frozen=True)
class SeverityChanged(About):
    was: str
    paged: list[Page] | None = None  # an escalation pages (these are its pages); a de-escalation does not


class Resolved(About):
    """Resolved: its times to acknowledge and resolve are in the incident."""


class Reopened(About):
    """Open again, back at its triage stage."""


@dataclass(frozen=True)
class Acknowledged(About):
    already: bool = False  # someone acknowledged it before: the incident says who and when


@dataclass(frozen=True)
class Joined(About):
    failures: list[str]  # what Slack refused when inviting


class CommanderChanged(About):
    """Its commander is the new one."""


@dataclass(frozen=True)
class CommandAsked(About):
    """Take command by someone who may not take it at once: the commander is asked (or was already)."""

    commander: str  # the one asked
    who_may: str = ""  # who may hand over command, in words
    already: bool = False  # this person had asked before and is still waiting
    error: str | None = None  # the DM to the commander failed


class AlreadyCommander(About):
    """The one who clicked Take command has it already."""


@dataclass(frozen=True)
class CommandAnswered(About):
    requested_by: str
    handed_over: bool
    told_error: str | None = None  # the DM to the one who asked failed


class CommandSettled(About):
    """The request was answered before, or command changed hands meanwhile."""


@dataclass(frozen=True)
class ActionAdded(About):
    item: ActionItem
    due: date | None


class SetupUnderWay(About):
    """A set-up run is going on: no second one was started."""


@dataclass(frozen=True)
class ActionClosed(About):
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
