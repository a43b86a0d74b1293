"""bot/events.py, the durable outbox between domains: a publish adds one job run per subscriber in the caller's
transaction (none if it rolls back, none for an occurrence already published), `after_commit` runs them here at
once, and what it did not run (a crash in between) the runner does on its next pass; a failing subscriber is
retried without holding its neighbours back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import pytest

from bot.clock import FrozenClock
from bot.events import Event, Events, Published
from bot.jobs import Retry
from tests.conftest import RunningBot

RUNS = "SELECT job, status FROM job_runs WHERE job LIKE 'test.%' ORDER BY job"


class Pinged(Event):
    """A test-only event: one occurrence per `n`."""

    topic: ClassVar[str] = "test.pinged"
    n: int

    def key(self) -> str:
        return f"pinged:{self.n}"


class Boom(Exception):
    pass


def subscribe(bot: RunningBot, *names: str, failing: set[str] | None = None) -> dict[str, list[int]]:
    """Subscribers `test.<name>` that note each event they ran for; those in `failing` fail their first try."""
    events: Events = bot.services.events
    calls: dict[str, list[int]] = {name: [] for name in names}
    to_fail = set(failing or ())

    def subscriber(name: str) -> Any:
        async def on_pinged(services: Any, event: Pinged) -> None:
            if name in to_fail:
                to_fail.discard(name)
                raise Boom(name)
            calls[name].append(event.n)

        return on_pinged

    for name in names:
        retry = Retry(first=timedelta(seconds=1), cap=timedelta(seconds=1), max_attempts=3)
        events.subscribe(bot.services, Pinged, f"test.{name}", subscriber(name), retry=retry)
    return calls


async def publish(bot: RunningBot, event: Event) -> Published:
    async with bot.db.transaction() as conn:
        return await bot.services.events.publish(conn, event)


async def runs(bot: RunningBot) -> list[tuple[str, str]]:
    return [(r["job"], r["status"]) for r in await bot.db.fetch(RUNS)]


async def test_a_publish_in_a_transaction_that_rolls_back_adds_no_run(bot: RunningBot) -> None:
    calls = subscribe(bot, "a", "b")
    with pytest.raises(Boom):
        async with bot.db.transaction() as conn:
            published = await bot.services.events.publish(conn, Pinged(n=1))
            assert len(published.runs) == 2  # in the transaction, until it rolls back
            raise Boom("the change failed")
    assert await runs(bot) == []
    assert await bot.tick() == 0
    assert calls == {"a": [], "b": []}


async def test_after_commit_runs_each_subscriber_once(bot: RunningBot) -> None:
    calls = subscribe(bot, "a", "b")
    published = await publish(bot, Pinged(n=1))
    assert sorted(job for job, _ in published.runs) == ["test.a", "test.b"]
    await bot.services.events.after_commit(published)
    assert calls == {"a": [1], "b": [1]}
    assert await runs(bot) == [("test.a", "done"), ("test.b", "done")]
    await bot.tick()  # nothing left for a pass
    assert calls == {"a": [1], "b": [1]}


async def test_a_second_publish_of_the_same_occurrence_adds_nothing(bot: RunningBot) -> None:
    calls = subscribe(bot, "a", "b")
    await bot.services.events.after_commit(await publish(bot, Pinged(n=1)))
    again = await publish(bot, Pinged(n=1))
    assert again.runs == ()
    await bot.services.events.after_commit(again)
    await bot.tick()
    assert calls == {"a": [1], "b": [1]}
    assert len(await runs(bot)) == 2
    # Another occurrence is another run.
    await bot.services.events.after_commit(await publish(bot, Pinged(n=2)))
    assert calls == {"a": [1, 2], "b": [1, 2]}


async def test_a_run_left_pending_without_after_commit_is_done_by_the_next_pass(bot: RunningBot) -> None:
    calls = subscribe(bot, "a", "b")
    await publish(bot, Pinged(n=1))  # committed; the process "crashed" before after_commit
    assert calls == {"a": [], "b": []}
    assert await runs(bot) == [("test.a", "pending"), ("test.b", "pending")]
    assert await bot.tick() == 2
    assert calls == {"a": [1], "b": [1]}
    assert await runs(bot) == [("test.a", "done"), ("test.b", "done")]


async def test_a_failing_subscriber_is_retried_and_its_neighbours_run(bot: RunningBot, clock: FrozenClock) -> None:
    calls = subscribe(bot, "a", "b", "c", failing={"b"})
    await bot.services.events.after_commit(await publish(bot, Pinged(n=1)))
    assert calls == {"a": [1], "b": [], "c": [1]}
    assert await runs(bot) == [("test.a", "done"), ("test.b", "pending"), ("test.c", "done")]
    clock.advance(timedelta(seconds=2))  # past its retry delay
    await bot.tick()
    assert calls == {"a": [1], "b": [1], "c": [1]}
    assert await runs(bot) == [("test.a", "done"), ("test.b", "done"), ("test.c", "done")]
