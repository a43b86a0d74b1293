"""The Slack helpers every domain shares: failures as sentences, updates in place, checkbox differences.

No bot, no database: a Slack client stand-in that raises what a real one raises.
"""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from bot.slack.blocks import selection_change
from bot.slack.failures import (
    MESSAGE_GONE,
    SlackErrorCode,
    attempt,
    code,
    failure,
    slack_error,
    update_in_place,
)


def refused(error: str, status: int = 200) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.test/api/chat.update",
        req_args={},
        data={"ok": False, "error": error},
        headers={},
        status_code=status,
    )
    return SlackApiError(error, response)


def test_codes_the_bot_knows_are_enum_members_and_others_stay_strings() -> None:
    assert code(refused("name_taken")) is SlackErrorCode.NAME_TAKEN
    assert code(refused("invalid_name_specials")) is SlackErrorCode.INVALID_NAME
    assert code(refused("some_new_code")) == "some_new_code"
    assert code(refused("ratelimited", status=429)) is None
    assert code(TimeoutError()) is None


def test_a_failure_is_one_sentence_saying_what_and_why() -> None:
    assert str(failure("kickoff message not posted", refused("channel_not_found"))) == (
        "kickoff message not posted: channel_not_found"
    )
    assert str(failure("topic not set", refused("x", status=502))) == "topic not set: HTTP 502 from Slack"
    assert str(failure("topic not set", TimeoutError())) == "topic not set: Slack did not answer in time"
    assert slack_error(ConnectionResetError()) == "Slack could not be reached (ConnectionResetError)"


class Slack:
    """Answers chat.update with what it is told to raise (or not)."""

    def __init__(self, raises: BaseException | None = None) -> None:
        self.raises = raises
        self.calls: list[dict[str, Any]] = []

    async def chat_update(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.raises is not None:
            raise self.raises
        return {"ok": True}


async def test_update_in_place_reports_a_refusal_and_says_when_the_message_is_gone() -> None:
    assert await update_in_place(Slack(), "announcement", "C1", "1.2", "text", []) is None
    gone = await update_in_place(Slack(refused("message_not_found")), "announcement", "C1", "1.2", "text", [])
    assert gone is not None and gone.gone and str(gone) == "announcement not updated: message_not_found"
    down = await update_in_place(Slack(TimeoutError()), "checklist", "C1", "1.2", "text")
    assert down is not None and not down.gone and str(down) == "checklist not updated: Slack did not answer in time"
    assert SlackErrorCode.EDIT_WINDOW_CLOSED in MESSAGE_GONE


async def test_attempt_ignores_harmless_codes_and_raises_what_is_not_a_slack_failure() -> None:
    async def pin(exc: BaseException) -> None:
        raise exc

    assert await attempt("not pinned", pin(refused("already_pinned")), harmless={SlackErrorCode.ALREADY_PINNED}) is None
    assert str(await attempt("not pinned", pin(refused("not_in_channel")))) == "not pinned: not_in_channel"
    with pytest.raises(KeyError):
        await attempt("not pinned", pin(KeyError("bug")))


def test_a_selection_becomes_the_difference_and_a_double_click_changes_nothing() -> None:
    change = selection_change({1, 3}, {2, 3})
    assert (change.tick, change.untick) == ([1], [2])
    again = selection_change({1, 3}, {1, 3})
    assert (again.tick, again.untick) == ([], [])


def test_only_the_part_shown_is_touched() -> None:
    # items 0..9 are on the first part; 12 was ticked on the second part and 99 is not on the list
    change = selection_change({4, 99}, {2, 12}, shown=range(10))
    assert (change.tick, change.untick) == ([4], [2])
    names = selection_change({"b"}, {"a", "z"}, shown={"a", "b"})
    assert (names.tick, names.untick) == (["b"], ["a"])
