"""The one table from error kind to answer (bot/errors.py): no bot, no database."""

from __future__ import annotations

import pytest

from bot.errors import (
    ANSWERS,
    UNAVAILABLE,
    AlreadyDone,
    DatabaseUnavailable,
    Invalid,
    NotFound,
    Refused,
    UsageError,
    UserError,
    answer_for,
    answer_text,
)

USAGE = "`/x thing` does the thing."


@pytest.mark.parametrize(
    ("error", "outcome", "text"),
    [
        (UsageError("`zz` is not a /x command"), "usage_error", "`zz` is not a /x command\n\n" + USAGE),
        (Invalid("too long"), "usage_error", "too long"),
        (NotFound("That incident does not exist."), "usage_error", "That incident does not exist."),
        (AlreadyDone("INC-1 is already P2."), "usage_error", "INC-1 is already P2."),
        (Refused("Only the commander may do that.", rule="x"), "refused", "Only the commander may do that."),
        (DatabaseUnavailable("pool is not open"), "unavailable", UNAVAILABLE),
    ],
)
def test_each_kind_has_its_answer(error: Exception, outcome: str, text: str) -> None:
    answer = answer_for(error)
    assert answer is not None
    assert answer.outcome == outcome
    assert answer_text(error, answer, USAGE) == text


def test_a_subclass_takes_its_nearest_kind_and_a_bug_has_none() -> None:
    class NoSuchRunbook(NotFound):
        pass

    assert answer_for(NoSuchRunbook("no")) is ANSWERS[NotFound]
    assert answer_for(ValueError("a bug")) is None
    assert answer_for(UserError("bare")) is None  # only the named kinds are answered


def test_every_user_error_kind_is_caught_as_a_user_error() -> None:
    for kind in (UsageError, Invalid, NotFound, AlreadyDone, Refused):
        assert issubclass(kind, UserError)
    assert not issubclass(DatabaseUnavailable, UserError)
