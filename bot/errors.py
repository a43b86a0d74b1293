"""Errors a user can cause, the ones that are nobody's fault, and the one table of how each is answered.

A flow raises the kind that says what happened; the Slack listener wrapper (bot/slack/middleware.py) looks the
kind up in ANSWERS (nearest class first, as Starlette maps exception classes to handlers) and answers once,
ephemerally. Anything not in the table is a bug: an apology with the request id, and the log has the rest.

- `UsageError`: the input does not parse; the command's usage follows the message.
- `Invalid`: the input parses but cannot be done as asked (a date in the past, text too long for a form).
- `NotFound`: what the input names does not exist (an incident, a deploy, a button's stale target).
- `Refused`: the user may not do this; the message says who may (bot/policy.py).
- `AlreadyDone`: it is already so (already the commander, already cancelled, nothing to reopen).

All of them are `UserError`s: catch that to handle any of them.
"""

from __future__ import annotations

from dataclasses import dataclass

UNAVAILABLE = "The database is unavailable right now, so nothing was done. Try again in a minute."
# The ack of a change not yet committed when Slack's wait runs out: true whichever way the work ends.
STILL_WORKING = "Still working on it: I'll confirm here when it is recorded."
# After a commit nothing may say "nothing was done": the change is stored, what followed it was cut short.
RECORDED_BUT_UNAVAILABLE = (
    "Recorded, but the database became unavailable before I could finish. It is stored: check before doing it again."
)


class UserError(Exception):
    """Something the user asked that cannot be done: answered with `message`, and nothing changes."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(UserError):
    """Bad input: answered with the message and the command's usage."""


class Invalid(UserError):
    """Input that parses but cannot be done as asked. No usage is shown."""


class NotFound(UserError):
    """What the user named (or a button points at) does not exist. No usage is shown."""


class AlreadyDone(UserError):
    """What the user asked for is already the case. No usage is shown."""


class Refused(UserError):
    """The user may not do this; the message says who may. No usage is shown."""

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule  # the policy action that refused, for the audit row


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached right now."""


class DatabaseMisconfigured(Exception):
    """The database answers but refuses the configured database name, role or password: no retry helps."""


class MigrationError(Exception):
    """The migrations cannot be applied (a missing, renamed or edited file, or one that fails)."""


@dataclass(frozen=True)
class Answer:
    """How one kind of error is answered."""

    outcome: str  # audit_log.outcome and the requests metric's label
    usage: bool = False  # the command's usage follows the message
    text: str | None = None  # a fixed answer; None: the error's own message


ANSWERS: dict[type[Exception], Answer] = {
    UsageError: Answer("usage_error", usage=True),
    Invalid: Answer("usage_error"),
    NotFound: Answer("usage_error"),
    AlreadyDone: Answer("usage_error"),
    Refused: Answer("refused"),
    DatabaseUnavailable: Answer("unavailable", text=UNAVAILABLE),
}


# How an error is answered once the request's change has committed (bot/slack/context.py `Ctx.committed`).
AFTER_COMMIT: dict[type[Exception], Answer] = {
    DatabaseUnavailable: Answer("unavailable_after_commit", text=RECORDED_BUT_UNAVAILABLE),
}


def answer_for(exc: BaseException, *, committed: bool = False) -> Answer | None:
    """The answer of the nearest class of `exc` in ANSWERS (AFTER_COMMIT first once the change is stored);
    None for a bug."""
    for cls in type(exc).__mro__:
        answer = AFTER_COMMIT.get(cls) if committed else None
        if answer is not None:
            return answer
        answer = ANSWERS.get(cls)
        if answer is not None:
            return answer
    return None


def answer_text(exc: BaseException, answer: Answer, usage: str | None) -> str:
    """The text the user gets: the fixed text or the error's message, then the usage when the kind shows it."""
    text = answer.text or getattr(exc, "message", None) or str(exc)
    if usage and answer.usage:
        text += "\n\n" + usage
    return text
