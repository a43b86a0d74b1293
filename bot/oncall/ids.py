"""Block Kit action ids and job names of the on-call domain."""

from enum import StrEnum


class Action(StrEnum):
    OVERRIDE_ACCEPT = "oncall_override_accept"
    OVERRIDE_DECLINE = "oncall_override_decline"
    COVER_TAKE = "oncall_cover_take"  # "I'll cover", value: the request's id


class Job(StrEnum):
    HANDOFF_REMINDER = "oncall.handoff_reminder"
    HANDOFF = "oncall.handoff"
    INCOMING_DM = "oncall.incoming_dm"
    OVERRIDE_CHANGES = "oncall.override_changes"  # run key: "<override id>:begin" / "<override id>:end"
    # Urgent cover (bot/oncall/cover.py). Run keys: the post's id (post, update), "<request id>" (escalate,
    # expire), "<request id>:<user>" (tell).
    COVER_POST = "oncall.cover_post"
    COVER_UPDATE = "oncall.cover_update"
    COVER_TELL = "oncall.cover_tell"
    COVER_ESCALATE = "oncall.cover_escalate"
    COVER_EXPIRE = "oncall.cover_expire"
