"""What the deploy flows answer and note in threads, in words (no I/O). User text is escaped."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.deploys.ids import Status
from bot.deploys.store import Deploy
from bot.slack.blocks import when
from bot.slack.text import escape, mention, mrkdwn

FORCE_NOT_STAGING = "`--force` only overrides the production gate; staging needs no override."
NO_DEPLOY = "That deploy does not exist."
CHECKLIST_CLOSED = "That checklist is closed: the deploy has moved on."
NO_WATCH = "That deploy has no watch window."
PICK_REASON = "Pick the reason for the rollback first (one of the manual's criteria)."


def not_validated(version: str) -> str:
    return (
        f"`{escape(version)}` is not validated on staging: deploy it there and complete the staging "
        'validation checklist first, or add `--force "&lt;reason&gt;"` (deployers only).'
    )


def locked(environment: str, holder: Deploy, zone: ZoneInfo) -> str:
    return (
        f"{environment} is locked by {holder.ref} ({holder.status}), requested by "
        f"{mention(holder.requested_by)} at {when(holder.created_at, zone)}. "
        "One deploy at a time; a deployer can release it with "
        f"`/deploy unlock {environment} &lt;reason&gt;`."
    )


def already_requested(deploy: Deploy) -> str:
    return f"That request was already made: {deploy.ref}."


def not_announced(deploy: Deploy, channel: str, error: str) -> str:
    return (
        f"{deploy.ref} could not be announced in {channel} ({error}), so it "
        f"is cancelled and {deploy.environment} stays unlocked. Try again in a minute."
    )


def announced(deploy: Deploy, channel: str) -> str:
    return f"{deploy.ref} is announced in {channel}: tick the pre-deployment checklist, then *Start deploy*."


def validated(version: str, actor: str) -> str:
    return f":white_check_mark: `{escape(version)}` is validated on staging by {mention(actor)}; it may go to prod."


def already_started(deploy: Deploy, status: str | None = None) -> str:
    return f"{deploy.ref} was already started" + (f" ({status})." if status else ".")


def run_by_hand(deploy: Deploy) -> str:
    return f"{deploy.ref} started: run the command shown in the announcement, then mark how it went."


def triggered(deploy: Deploy) -> str:
    return f"{deploy.ref} started: the pipeline was triggered."


def not_started(deploy: Deploy, error: str) -> str:
    return f"{deploy.ref} could not start: {error}. Nothing is deploying and {deploy.environment} is unlocked."


def marked(deploy: Deploy | None, status: str, outcome: str) -> str:
    """The answer to Mark deployed / Mark failed, from finish()'s outcome."""
    if outcome == "replayed":
        return f"{deploy.ref} was already marked {status}." if deploy else ""
    if outcome != "changed" or deploy is None:
        return f"{deploy.ref if deploy else 'That deploy'} is not running ({deploy.status if deploy else '?'})."
    return f"{deploy.ref} marked {status}."


def not_cancellable(deploy: Deploy) -> str:
    return f"{deploy.ref} can no longer be cancelled ({deploy.status})."


def cancelled(deploy: Deploy) -> str:
    return f"{deploy.ref} cancelled; {deploy.environment} is unlocked."


def not_locked(environment: str) -> str:
    return f"{environment} is not locked."


def unlocked(environment: str, holder: Deploy, reason: str) -> str:
    return f"{environment} unlocked: {holder.ref} cancelled ({mrkdwn(reason)})."


def watch_closed(deploy: Deploy) -> str:
    return f"The watch of {deploy.ref} is already closed: {deploy.watch_result}."


def marked_healthy(deploy: Deploy) -> str:
    return f"{deploy.ref} is marked healthy."


def outcome_unknown(deploy: Deploy) -> str:
    return (
        f":warning: {deploy.ref}: outcome unknown: check CI. The bot stopped while calling the pipeline, so it "
        f"cannot tell whether the pipeline started. {deploy.environment} stays locked until the pipeline reports "
        "back or a deployer marks it deployed or failed."
    )


def expiry_reason(status: str) -> str:
    if status == Status.PENDING:
        return "the checklist was not completed and started within 4 h"
    return "no result from the pipeline within 60 min: check it, then deploy again"


def expired(deploy: Deploy, why: str) -> str:
    return f":hourglass: {deploy.ref} expired: {why}. {deploy.environment} is unlocked."


# -- what the announcement records: who ended a deploy, and why ----------------------------------------------


def by(what: str, actor: str) -> str:
    """`cancelled by @U1`: who ended it, as the announcement shows (finished_by)."""
    return f"{what} by @{actor}"


def healthy(actor: str) -> str:
    """A watch window closed as healthy (watch_result)."""
    return f"healthy (@{actor})"


def detail(what: str, why: str) -> str:
    """`expired: <why>`: what happened to it, as the announcement shows (detail)."""
    return f"{what}: {why}"


# -- rollback answers --------------------------------------------------------------------------------------------


def nothing_deployed(environment: str) -> str:
    return f"Nothing has been deployed to {environment} through the bot, so there is nothing to roll back to."


def no_good_version(environment: str, current: Deploy) -> str:
    return (
        f"{environment} runs `{escape(current.version)}` and no earlier good version is known: "
        "there is nothing to roll back to."
    )


def rollback_what(environment: str) -> str:
    """Completes "Only … may <what>." for a rollback."""
    return f"roll back {environment}"


def rollback_question(environment: str) -> str:
    return f"Roll back {environment}?"


def rollback_reason(criterion: str | None, other: str) -> str:
    """The reason a rollback records: the manual's criterion (escaped config text) or what the user typed."""
    if criterion is not None:
        return escape(criterion) + (f" ({mrkdwn(other)})" if other else "")
    return mrkdwn(other)


def watch_rollback_reason(deploy: Deploy) -> str:
    return f"Post-deployment watch of {deploy.ref}"


def environment_changed(environment: str, current: Deploy) -> str:
    return (
        f"{environment} changed since this was offered (it now runs `{escape(current.version)}`); "
        f"run `/rollback {environment}` again."
    )


def rollback_locked(environment: str, holder: Deploy) -> str:
    return (
        f"{environment} is locked by {holder.ref} ({holder.status}); release it with "
        f"`/deploy unlock {environment} &lt;reason&gt;` first."
    )


def rollback_under_way(deploy: Deploy) -> str:
    return f"{deploy.ref} is already under way ({deploy.status})."


def rolling_back(actor: str, environment: str, current: Deploy, target: Deploy, reason: str) -> str:
    return (
        f":rewind: {mention(actor)} is rolling {environment} back from "
        f"`{escape(current.version)}` to `{escape(target.version)}`: {mrkdwn(reason)}"
    )


def rollback_finished(deploy: Deploy) -> str:
    return f":rewind: {deploy.ref} {deploy.status}."
