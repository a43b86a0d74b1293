"""Block Kit action ids of deploys and rollbacks."""

from enum import StrEnum


class Action(StrEnum):
    START = "deploy_start"
    START_ANYWAY = "deploy_start_anyway"
    CANCEL = "deploy_cancel"
    MARK_DEPLOYED = "deploy_mark_deployed"
    MARK_FAILED = "deploy_mark_failed"
    CHECK = "deploy_check"  # + ":<list>"
    HEALTHY = "deploy_watch_healthy"
    ROLL_BACK = "deploy_watch_rollback"
    ROLLBACK_CONFIRM = "rollback_confirm"
    ROLLBACK_REASON = "rollback_reason"
    ROLLBACK_OFFER = "rollback_offer"  # value: the environment (the incident kickoff's "Roll back…" button)
