"""The words of the errors the incident stories raise (NotFound, AlreadyDone, Invalid, Refused): pure."""

from __future__ import annotations

from datetime import date

from bot.incidents.models import Incident
from bot.slack.text import escape, mention, mrkdwn

NO_INCIDENT = "That incident does not exist."
NO_CHANNEL_YET = "That incident has no channel yet; its reporter can retry the set-up."
NO_CHECKLIST = "That checklist is not part of this incident any more."
NO_COMMAND_REQUEST = "That request for command does not exist."
NOT_IN_INCIDENT_CHANNEL = "Run this in an incident's channel (`/incident list` shows the open ones)."
TIMELINE_ONLY_IN_INCIDENTS = (
    "*Add to timeline* only works on messages in an incident's channel (`/incident list` shows the open ones)."
)
NO_MESSAGE_TO_PIN = "That shortcut reached the bot without its message, so nothing was added. Try again."


def read_only(incident: Incident) -> str:
    return (
        f"{incident.ref} is resolved, so it is read-only: `timeline`, `postmortem` and action items still "
        "work. If it is back, its commander or a manager can `reopen` it."
    )


def already_severity(incident: Incident) -> str:
    return f"{incident.ref} is already {incident.severity}."


def already_stage(incident: Incident) -> str:
    return f"{incident.ref} is already at {incident.stage}."


def not_a_stage(name: str, stages: list[str]) -> str:
    return f"`{mrkdwn(name)}` is not a stage; the stages are: {', '.join(stages)}."


def still_open(incident: Incident) -> str:
    return f"{incident.ref} is open; there is nothing to reopen."


def not_a_user(user: str) -> str:
    return f"`{escape(user)}` is not a user in this workspace."


def already_commands(incident: Incident, commander: str) -> str:
    return f"{mention(commander)} is already the commander of {incident.ref}."


def past_due(due: date) -> str:
    return f"{due.isoformat()} is in the past: give a due date from today on."


def no_action_item(number: int, of: Incident | None = None, *, listed: bool = True) -> str:
    where = f" of {of.ref}" if of else ""
    return f"There is no action item #{number}{where}" + ("; `/incident actions` lists them." if listed else ".")


NOT_AN_INCIDENT_CHECKLIST = "This checklist is not in an incident channel."


def stale_button(what: str) -> str:
    """A button whose value does not name what it should (an old message, a hand-made payload)."""
    return f"That button does not belong to {what}."
