"""What the deploy flows answer and note in threads, in words (no I/O). User text is escaped."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.deploys.ids import Finished, Status
from bot.deploys.models import Deploy, Pin
from bot.slack.blocks import when
from bot.slack.text import escape, mention, mrkdwn

FORCE_NOT_STAGING = "`--force` only overrides the production gate; staging needs no override."
NO_DEPLOY = "That deploy does not exist."
CHECKLIST_CLOSED = "That checklist is closed: the deploy has moved on."
NO_WATCH = "That deploy has no watch window."
PICK_REASON = "Pick the reason for the rollback first (one of the manual's criteria)."

# Answers with blanks, filled by say(): {ref}, {status}, {environment}, {watch_result} of the deploy, the rest named.
ALREADY_REQUESTED = "That request was already made: {ref}."
ANNOUNCED = "{ref} is announced in {channel}: tick the pre-deployment checklist, then *Start deploy*."
ANNOUNCING = "{ref} is requested; its announcement in {channel} follows shortly."
NOT_ANNOUNCED = (
    "{ref} could not be announced in {channel} ({error}), so it is cancelled and {environment} stays unlocked. "
    "Try again in a minute."
)
RUN_BY_HAND = "{ref} started: run the command shown in the announcement, then mark how it went."
TRIGGERED = "{ref} started: the pipeline was triggered."
NOT_STARTED = "{ref} could not start: {error}. Nothing is deploying and {environment} is unlocked."
NOT_CANCELLABLE = "{ref} can no longer be cancelled ({status})."
CANCELLED = "{ref} cancelled; {environment} is unlocked."
NOT_LOCKED = "{environment} is not locked."
WATCH_CLOSED = "The watch of {ref} is already closed: {watch_result}."
MARKED_HEALTHY = "{ref} is marked healthy."
OUTCOME_UNKNOWN = (
    ":warning: {ref}: outcome unknown: check CI. The bot stopped while calling the pipeline, so it cannot tell "
    "whether the pipeline started. {environment} stays locked until the pipeline reports back or a deployer "
    "marks it deployed or failed."
)
EXPIRED = ":hourglass: {ref} expired: {why}. {environment} is unlocked."
NOTHING_DEPLOYED = "Nothing has been deployed to {environment} through the bot, so there is nothing to roll back to."
ROLL_BACK_WHAT = "roll back {environment}"  # completes "Only … may <what>."
ROLL_BACK_QUESTION = "Roll back {environment}?"
WATCH_ROLLBACK_REASON = "Post-deployment watch of {ref}"
ROLLBACK_UNDER_WAY = "{ref} is already under way ({status})."
ROLLBACK_FINISHED = ":rewind: {ref} {status}."
NO_GOOD_VERSION = (
    "{environment} runs `{version}` and no earlier good version is known: there is nothing to roll back to."
)
ENVIRONMENT_CHANGED = (
    "{environment} changed since this was offered (it now runs `{version}`); run `/rollback {environment}` again."
)
ROLLBACK_LOCKED = (
    "{environment} is locked by {ref} ({status}); release it with `/deploy unlock {environment} &lt;reason&gt;` first."
)
# What the announcement records: who ended a deploy (finished_by), what became of it (detail), a healthy watch.
BY = "{what} by @{actor}"
DETAIL = "{what}: {why}"
HEALTHY = "healthy (@{actor})"


def say(template: str, deploy: Deploy | None = None, **blanks: str) -> str:
    """An answer from its template. The deploy's blanks are safe mrkdwn (its version escaped); the named `blanks`
    must already be mrkdwn (a Slack error code, a channel, a reason the user typed)."""
    known = {}
    if deploy is not None:
        known = {"ref": deploy.ref, "status": deploy.status, "environment": deploy.environment}
        known |= {"version": escape(deploy.version), "watch_result": deploy.watch_result or ""}
    return template.format(**(known | blanks))


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


def validated(version: str, actor: str) -> str:
    return f":white_check_mark: `{escape(version)}` is validated on staging by {mention(actor)}; it may go to prod."


def already_started(deploy: Deploy, status: str | None = None) -> str:
    return f"{deploy.ref} was already started" + (f" ({status})." if status else ".")


def marked(deploy: Deploy | None, status: str, outcome: Finished) -> str:
    """The answer to Mark deployed / Mark failed, from finish()'s outcome."""
    if outcome == Finished.REPLAYED:
        return f"{deploy.ref} was already marked {status}." if deploy else ""
    if outcome != Finished.CHANGED or deploy is None:
        return f"{deploy.ref if deploy else 'That deploy'} is not running ({deploy.status if deploy else '?'})."
    return f"{deploy.ref} marked {status}."


def unlocked(environment: str, holder: Deploy, reason: str) -> str:
    return f"{environment} unlocked: {holder.ref} cancelled ({mrkdwn(reason)})."


def expiry_reason(status: str) -> str:
    if status == Status.PENDING:
        return "the checklist was not completed and started within 4 h"
    return "no result from the pipeline within 60 min: check it, then deploy again"


# -- rollback answers --------------------------------------------------------------------------------------------


def rollback_reason(criterion: str | None, other: str) -> str:
    """The reason a rollback records: the manual's criterion (escaped config text) or what the user typed."""
    if criterion is not None:
        return escape(criterion) + (f" ({mrkdwn(other)})" if other else "")
    return mrkdwn(other)


def rolling_back(actor: str, environment: str, current: Deploy, target: Deploy, reason: str) -> str:
    return (
        f":rewind: {mention(actor)} is rolling {environment} back from "
        f"`{escape(current.version)}` to `{escape(target.version)}`: {mrkdwn(reason)}"
    )


# -- pins: what a rollback leaves to do --------------------------------------------------------------------------


def fix_forward_note(pin: Pin) -> str:
    """No incident to hold the action item: the note in vY's deploy thread, naming its deployer."""
    return (
        f":memo: {mention(pin.owner)}: fix forward or revert `{escape(pin.from_version)}`. {pin.environment} is "
        f"rolled back to `{escape(pin.version)}` (Rollback #{pin.rollback_id}) and stays pinned there, shown in "
        "`/deploy status`, until a deploy of another version succeeds. No incident is open, so this note is the "
        "action item: that deploy closes it."
    )


def pin_cleared(pin: Pin, deploy: Deploy) -> str:
    """The fix forward, said in the thread of the deploy that cleared the pin."""
    closed = "" if pin.incident_ref else f" The fix-forward note for {mention(pin.owner)} is closed."
    return (
        f":pushpin: {pin.environment} is no longer pinned to `{escape(pin.version)}`: `{escape(deploy.version)}` "
        f"is deployed (fix forward of `{escape(pin.from_version)}`, rolled back by Rollback #{pin.rollback_id}"
        + (f", {pin.incident_ref}" if pin.incident_ref else "")
        + ")."
        + closed
    )
