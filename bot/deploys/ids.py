"""Names of the deploys domain, each built and parsed here: action ids, job names, states, button values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from bot.errors import Invalid, NotFound
from bot.slack.text import whole_number


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


class Job(StrEnum):
    EXPIRE = "deploys.expire"  # key <id>:<status>: nothing stays locked forever
    WATCH_END = "deploys.watch_end"  # key <id>: the end of a prod watch window
    CHECK_TRIGGER = "deploys.check_trigger"  # key <id>: the pipeline call got no recorded answer
    ANNOUNCE = "deploys.announce"  # key <id>: a request's announcement, durable from the request's commit
    FIX_FORWARD_NOTE = "deploys.fix_forward_note"  # key <rollback id>: no incident: the note in vY's thread
    PIN_CLEARED = "deploys.pin_cleared"  # key <rollback id>: its pin cleared by a deploy of another version


class Status(StrEnum):
    """deploys.status (the CHECK constraint in 0004_deploys.sql)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE = (Status.PENDING, Status.RUNNING)  # the states that hold an environment's lock


class Kind(StrEnum):
    """deploys.kind (the CHECK constraint in 0004_deploys.sql)."""

    DEPLOY = "deploy"
    ROLLBACK = "rollback"


class Checklist(StrEnum):
    """deploy_checks.list: which of the manual's lists a tick belongs to."""

    PRE = "pre"
    STAGING = "staging"
    POST = "post"
    VERIFY = "verify"


class Finished(StrEnum):
    """What a finish report (the pipeline's callback, a Mark button) did; also the webhook's audit outcome."""

    CHANGED = "changed"
    REPLAYED = "replayed"  # the deploy already had that result
    CONFLICT = "conflict"  # the deploy is not running
    MISSING = "missing"  # no such deploy


PROD = "prod"  # the environment the gates guard
STAGING = "staging"  # the environment that validates a version for prod
BOT = "bot"  # who ticks "team notified" (the announcement itself) and who expires what nobody finished
TEAM_NOTIFIED = "team_notified"  # the pre-deployment item the announcement ticks


def expire_key(deploy_id: int, status: str) -> str:
    return f"{deploy_id}:{status}"


def expire_prefix(deploy_id: int) -> str:
    return f"{deploy_id}:"


def deploy_id(value: str | None) -> int:
    """A button's value: the deploy's id."""
    found = whole_number(value or "")
    if found is None:
        raise NotFound("That button does not belong to a deploy.")
    return found


def checklist_block(deploy: int, checklist: str) -> str:
    return f"deploy:{deploy}:{checklist}"


def parse_checklist_block(block_id: str) -> tuple[int, Checklist]:
    """`deploy:<id>:<list>` (without the part suffix) -> (id, list)."""
    parts = block_id.split(":")
    deploy = whole_number(parts[1]) if len(parts) == 3 and parts[0] == "deploy" else None
    if deploy is None or parts[2] not in set(Checklist):
        raise NotFound("That checklist does not belong to a deploy.")
    return deploy, Checklist(parts[2])


@dataclass(frozen=True)
class RollbackOffer:
    """The value of a rollback offer's confirm button: what was offered, so a changed environment is noticed."""

    env: str
    current: int
    target: str
    reason: str

    def value(self) -> str:
        # Unescaped: a reason in Hangul takes a character each, not six (a button value holds 2,000).
        offer = {"env": self.env, "current": self.current, "target": self.target, "reason": self.reason}
        return json.dumps(offer, ensure_ascii=False)

    @classmethod
    def parse(cls, value: str | None) -> RollbackOffer:
        try:
            offer = json.loads(value or "")
            env, current = str(offer["env"]), whole_number(str(offer["current"]))
            if current is None:
                raise ValueError("current is not a deploy id")
            return cls(env, current, str(offer.get("target") or ""), str(offer.get("reason") or ""))
        except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
            raise Invalid("That rollback button is damaged; run `/rollback &lt;env&gt;` again.") from None
