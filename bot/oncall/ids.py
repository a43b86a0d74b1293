"""Block Kit action ids of the on-call domain."""

from enum import StrEnum


class Action(StrEnum):
    OVERRIDE_ACCEPT = "oncall_override_accept"
    OVERRIDE_DECLINE = "oncall_override_decline"
