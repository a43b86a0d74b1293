"""Slack calls that fail: the error codes the bot handles, and what the user is told.

A Slack call fails in one of the ways `SLACK_FAILURES` lists: Slack refused it (a `SlackApiError` with an error
code such as `name_taken`, or an HTTP status), it timed out, or Slack could not be reached. Every domain turns
such a failure into the same kind of sentence, `<what was not done>: <why>`, with `failure()`; `attempt()` makes
one call and gives that sentence instead of raising; `update_in_place()` refreshes a message the bot keeps up to
date (chat.update) and reports a failure instead of staying silent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiohttp import ServerDisconnectedError
from slack_sdk.errors import SlackApiError

from bot import log

logger = log.get("zzik.slack")


class SlackErrorCode(StrEnum):
    """The Web API error codes the bot tells apart (https://api.slack.com/methods, each method's Errors)."""

    # conversations.create / conversations.invite / pins.add: the state asked for is already there, or no such name
    NAME_TAKEN = "name_taken"
    INVALID_NAME = "invalid_name"  # also invalid_name_specials, invalid_name_punctuation, …: see `code()`
    ALREADY_IN_CHANNEL = "already_in_channel"
    CANT_INVITE_SELF = "cant_invite_self"
    ALREADY_PINNED = "already_pinned"
    # chat.postMessage: a public channel the bot has not joined yet
    NOT_IN_CHANNEL = "not_in_channel"
    CHANNEL_NOT_FOUND = "channel_not_found"
    # chat.update: the message is gone or frozen (a new one is posted in its place)
    MESSAGE_NOT_FOUND = "message_not_found"
    CANT_UPDATE_MESSAGE = "cant_update_message"
    EDIT_WINDOW_CLOSED = "edit_window_closed"
    # users.info / users.lookupByEmail
    USER_NOT_FOUND = "user_not_found"
    USERS_NOT_FOUND = "users_not_found"
    # transient: trying again later can help
    RATELIMITED = "ratelimited"
    FATAL_ERROR = "fatal_error"
    INTERNAL_ERROR = "internal_error"
    SERVICE_UNAVAILABLE = "service_unavailable"
    REQUEST_TIMEOUT = "request_timeout"
    # the token will never work
    INVALID_AUTH = "invalid_auth"
    NOT_AUTHED = "not_authed"
    TOKEN_REVOKED = "token_revoked"
    TOKEN_EXPIRED = "token_expired"
    ACCOUNT_INACTIVE = "account_inactive"
    NOT_ALLOWED_TOKEN_TYPE = "not_allowed_token_type"


# chat.update refusals that mean the message is gone or frozen: post it again rather than give up.
MESSAGE_GONE = frozenset(
    {SlackErrorCode.MESSAGE_NOT_FOUND, SlackErrorCode.CANT_UPDATE_MESSAGE, SlackErrorCode.EDIT_WINDOW_CLOSED}
)
# Refusals no retry mends.
TOKEN_REFUSED = frozenset(
    {
        SlackErrorCode.INVALID_AUTH,
        SlackErrorCode.NOT_AUTHED,
        SlackErrorCode.TOKEN_REVOKED,
        SlackErrorCode.TOKEN_EXPIRED,
        SlackErrorCode.ACCOUNT_INACTIVE,
    }
)
TRANSIENT = frozenset(
    {
        SlackErrorCode.RATELIMITED,
        SlackErrorCode.FATAL_ERROR,
        SlackErrorCode.INTERNAL_ERROR,
        SlackErrorCode.SERVICE_UNAVAILABLE,
        SlackErrorCode.REQUEST_TIMEOUT,
    }
)

SLACK_FAILURES: tuple[type[BaseException], ...] = (
    SlackApiError,
    TimeoutError,
    OSError,
    ServerDisconnectedError,
)


def code(exc: BaseException) -> SlackErrorCode | str | None:
    """The error code of a Slack refusal (a `SlackErrorCode` when the bot knows it, else Slack's own string);
    None for an HTTP error status, a timeout or an unreachable Slack. `invalid_name_*` codes read as INVALID_NAME."""
    if not isinstance(exc, SlackApiError) or exc.response.status_code >= 400:
        return None
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    raw = str(data.get("error") or "unknown_error")
    if raw.startswith(SlackErrorCode.INVALID_NAME):
        return SlackErrorCode.INVALID_NAME
    try:
        return SlackErrorCode(raw)
    except ValueError:
        return raw


def slack_error(exc: BaseException) -> str:
    """A short, human reason for a failed Slack call (Slack's error code when it refused the call)."""
    if isinstance(exc, SlackApiError):
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        if exc.response.status_code >= 400:
            return f"HTTP {exc.response.status_code} from Slack"
        return str(data.get("error") or "unknown error")
    if isinstance(exc, TimeoutError):
        return "Slack did not answer in time"
    return f"Slack could not be reached ({type(exc).__name__})"


@dataclass(frozen=True)
class Failure:
    """One Slack call that did not go through: what was not done, and why. `str()` is the sentence for the user."""

    what: str
    reason: str
    code: SlackErrorCode | str | None = None

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"

    @property
    def gone(self) -> bool:
        """The message to update is gone or frozen (post a new one instead)."""
        return self.code in MESSAGE_GONE


def failure(what: str, exc: BaseException) -> Failure:
    """A Slack failure (one of SLACK_FAILURES) as a sentence for the user: `<what>: <reason>`.

    `what` says what was not done, e.g. "kickoff message not posted"."""
    return Failure(what, slack_error(exc), code(exc))


async def attempt(what: str, call: Awaitable[Any], *, harmless: Collection[str] = ()) -> Failure | None:
    """Await one Slack call: None when it went through (or Slack refused it with a `harmless` code, e.g.
    already_pinned), else the Failure, logged. Anything but a Slack failure is raised."""
    try:
        await call
    except SLACK_FAILURES as exc:
        failed = failure(what, exc)
        if failed.code is not None and failed.code in harmless:
            return None
        logger.warning(what, error=failed.reason)
        return failed
    return None


async def update_in_place(
    slack: Any, what: str, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None = None
) -> Failure | None:
    """Refresh a message the bot keeps up to date (chat.update): None when it is updated, else the Failure,
    logged (`Failure.gone` when the message is gone or frozen, so the caller may post it again)."""
    return await attempt(f"{what} not updated", slack.chat_update(channel=channel, ts=ts, text=text, blocks=blocks))
