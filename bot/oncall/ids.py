"""Block Kit action ids and job names of the on-call domain."""

from enum import StrEnum


class Action(StrEnum):
    OVERRIDE_ACCEPT = "oncall_override_accept"
    OVERRIDE_DECLINE = "oncall_override_decline"


class Job(StrEnum):
    HANDOFF_REMINDER = "oncall.handoff_reminder"
    HANDOFF = "oncall.handoff"
    INCOMING_DM = "oncall.incoming_dm"
    OVERRIDE_CHANGES = "oncall.override_changes"  # run key: "<override id>:begin" / "<override id>:end"
