"""Block Kit action and view ids of the incidents domain (grep for them here)."""

from enum import StrEnum


class Action(StrEnum):
    JOIN = "incident_join"
    ACKNOWLEDGE = "incident_acknowledge"
    TAKE_COMMAND = "incident_take_command"
    RETRY_SETUP = "incident_retry_setup"
    CHECK = "incident_check"  # + ":<stage index>"
    HAND_OVER = "incident_hand_over"  # the commander's answer to a request for command
    KEEP_COMMAND = "incident_keep_command"
    ACTION_DONE = "incident_action_done"  # value: the action item's id


class View(StrEnum):
    DECLARE = "incident_declare"


class Shortcut(StrEnum):
    DECLARE_FROM_MESSAGE = "incident_declare_from_message"  # a message shortcut (manifest.yml)


class Block(StrEnum):
    TITLE = "title"
    SEVERITY = "severity"
    DESCRIPTION = "description"
    COMMANDER = "commander"
