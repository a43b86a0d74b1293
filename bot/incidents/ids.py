"""Block Kit action and view ids of the incidents domain, and the values its buttons carry (grep for them here)."""

import re
from enum import StrEnum

from bot.slack.text import whole_number


class Job(StrEnum):
    """The incidents domain's job names (stored with every run: the values never change)."""

    DECLARE = "incidents.declare"  # `/incident p1 …`'s declaration, stored before the ack (key: the declare key)
    SETUP = "incidents.setup"
    PAGE_RETRY = "incidents.page_retry"  # the page job's rounds (the name is kept, so queued runs still run)
    ESCALATE = "incidents.escalate"
    NUDGE = "incidents.nudge"
    ACTION_DUE = "incidents.action_due"
    TIMELINE_PIN = "incidents.timeline_pin"  # key <channel>:<ts>:<user>:<via>:<event ts>: a pin or unpin, applied
    TIMELINE_PIN_REPLY = "incidents.timeline_pin_reply"  # key <pin id>:<entry id>:<added|removed>
    ACK_EXPIRED = "incidents.ack_expired"  # an acknowledgement ran out (key: <incident>:<deadline>): remind
    ACK_ESCALATE = "incidents.ack_escalate"  # then page one role a step (key: <incident>:ack:<deadline>:<step>)


class Action(StrEnum):
    JOIN = "incident_join"
    ACKNOWLEDGE = "incident_acknowledge"
    TAKE_COMMAND = "incident_take_command"
    RETRY_SETUP = "incident_retry_setup"
    CHECK = "incident_check"  # + ":<stage index>"
    HAND_OVER = "incident_hand_over"  # the commander's answer to a request for command
    KEEP_COMMAND = "incident_keep_command"
    ACTION_DONE = "incident_action_done"  # value: the action item's id
    SNOOZE = "incident_ack_snooze"  # + ":<hours>h"; value: <incident id>:<hours> (an acknowledgement's reminder)
    STILL_ON_IT = "incident_still_on_it"  # value: the incident's id; renews the acknowledgement


class View(StrEnum):
    DECLARE = "incident_declare"


class Shortcut(StrEnum):
    DECLARE_FROM_MESSAGE = "incident_declare_from_message"  # a message shortcut (manifest.yml)
    ADD_TO_TIMELINE = "incident_add_to_timeline"  # a message shortcut (manifest.yml): pin it into the timeline


class Block(StrEnum):
    TITLE = "title"
    SEVERITY = "severity"
    DESCRIPTION = "description"
    COMMANDER = "commander"


# -- the values and ids the incident's messages carry: built and read back here, nowhere else -----------------

CHECK_ACTION = re.compile(rf"^{Action.CHECK}:\d+$")  # one action id per stage of the kickoff checklist
SNOOZE_ACTION = re.compile(rf"^{Action.SNOOZE}:\d+h$")  # one action id per Snooze button
_CHECK_VALUE = re.compile(r"\d{1,4}:\d{1,4}", re.ASCII)


def incident_block(incident_id: int) -> str:
    """The block id of an announcement's buttons (their value is the bare id)."""
    return f"incident:{incident_id}"


def incident_of(value: str) -> int | None:
    """The incident id a button carries (its value, or its block's id); None if it carries none."""
    return whole_number(value.removeprefix("incident:"))


def snooze_value(incident_id: int, hours: int) -> str:
    return f"{incident_id}:{hours}"


def snooze_of(value: str) -> tuple[int, int] | None:
    """(incident id, hours) a Snooze button carries; None if it carries no such pair."""
    head, _, hours = value.partition(":")
    incident_id, count = whole_number(head), whole_number(hours)
    return (incident_id, count) if incident_id is not None and count is not None else None


def check_action(stage: int) -> str:
    return f"{Action.CHECK}:{stage}"


def stage_of(action_id: str) -> int:
    """The stage a checklist's action id names (0 if it names none)."""
    return whole_number(action_id.rsplit(":", 1)[1], 1000) or 0


def stage_block(stage: int) -> str:
    """The block id prefix of a stage's checkboxes (bot.slack.blocks numbers the parts of a long stage)."""
    return f"stage:{stage}"


def check_value(stage: int, item: int) -> str:
    return f"{stage}:{item}"


def items_of(values: list[str]) -> set[int]:
    """The checklist items a checkbox selection names (values of another shape are ignored)."""
    return {int(v.split(":")[1]) for v in values if _CHECK_VALUE.fullmatch(v)}


def command_request_block(request_id: int) -> str:
    return f"command_request:{request_id}"


# -- keys of the incident's job runs and pages: `<incident id>:<part>:…`, so one prefix finds them all ----------


def key(incident_id: int, *parts: object) -> str:
    """The run key of one of the incident's jobs (set-up n, a nudge due then, an escalation step), or a page's
    key (reason, user)."""
    return ":".join([str(incident_id), *(str(p) for p in parts)])


def prefix(incident_id: int, *parts: object) -> str:
    """What every key of the incident (under `parts`) starts with: to cancel or count its runs, find its pages."""
    return key(incident_id, *parts) + ":"
