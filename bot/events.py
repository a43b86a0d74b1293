"""Domain events: a domain says what happened; the domains that care subscribe. No domain calls another to
tell it: incidents publish `IncidentDeclared`, PagerDuty (a subscriber) triggers its incident.

Delivery is durable, an outbox in `job_runs`: `publish(conn, event)` adds one job run per subscriber in the
caller's transaction, so the change and its consequences commit together and a crash after the commit loses
nothing (any replica's job runner does the runs, retried on failure as every job is). A subscriber is a job
(`<subscriber domain>.<what it does>`), keyed by the event's `key()`: publishing the same occurrence twice
adds nothing. `after_commit(published)` runs the new runs here at once, side by side, so a consequence waits
for nobody's next pass (an urgent subscriber, one that pages, runs in the runner's own urgent slots).

A domain declares its events in its `events.py` (pydantic models: the payload is validated when the run
starts), and subscribes in its jobs' `register()`: `services.events.subscribe(services, IncidentDeclared,
Job.TRIGGER, flows.on_declared, urgent=True)`. The handler is `await handler(services, event)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

import asyncpg
from pydantic import BaseModel, ConfigDict

from bot import log
from bot.jobs import GaveUp, JobRun, JobRunner, RetryPolicy

logger = log.get("zzik.events")


class Event(BaseModel):
    """Something that happened in one domain. Subclasses name their `topic` ("incident.declared") and say
    which occurrence they are (`key()`: the subscribers' run key, unique per occurrence)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    topic: ClassVar[str]

    def key(self) -> str:
        raise NotImplementedError


E = TypeVar("E", bound=Event)
Subscriber = Callable[[Any, E], Awaitable[Any]]


@dataclass(frozen=True)
class Subscription:
    event: type[Event]
    job: str


@dataclass(frozen=True)
class Published:
    """The runs one publish added (job, key): what `after_commit` runs here at once."""

    runs: tuple[tuple[str, str], ...] = ()

    def __add__(self, other: Published) -> Published:
        return Published(self.runs + other.runs)


@dataclass
class Events:
    runner: JobRunner
    subscriptions: dict[type[Event], list[Subscription]] = field(default_factory=dict)

    def subscribe(
        self,
        services: Any,
        event: type[E],
        job: str,
        handler: Subscriber[E],
        *,
        lease: timedelta | None = None,
        retry: RetryPolicy | None = None,
        on_gave_up: GaveUp | None = None,
        urgent: bool = False,
        in_order: str | None = None,
    ) -> None:
        """Run `handler(services, event)` as job `job` for every `event` published from now on."""

        async def run(job_run: JobRun) -> None:
            await handler(services, event.model_validate(job_run.payload))

        run.__name__ = getattr(handler, "__name__", job)
        self.runner.handler(job, lease=lease, retry=retry, on_gave_up=on_gave_up, urgent=urgent, in_order=in_order)(run)
        self.subscriptions.setdefault(event, []).append(Subscription(event, job))

    def subscribers(self, event: type[Event]) -> list[str]:
        """The jobs that run for `event` (for tests and the layout check)."""
        return [s.job for s in self.subscriptions.get(event, [])]

    async def publish(self, conn: asyncpg.Connection, event: Event, *, due_at: datetime | None = None) -> Published:
        """One run per subscriber, in the caller's transaction (due now, or at `due_at`)."""
        key = event.key()
        payload = event.model_dump(mode="json")
        due = due_at or self.runner.clock.now()
        runs = []
        for subscription in self.subscriptions.get(type(event), []):
            if await self.runner.schedule_once(conn, subscription.job, key, due, payload):
                runs.append((subscription.job, key))
        logger.debug("event published", topic=event.topic, key=key, subscribers=[job for job, _ in runs])
        return Published(tuple(runs))

    async def after_commit(self, published: Published) -> None:
        """Run what a publish added, here and now, side by side (once the transaction has committed). A run a
        pass elsewhere got to first runs there; one that fails is retried by the runner, as every job."""
        if published.runs:
            await asyncio.gather(*(self.runner.run_now(job, key) for job, key in published.runs))
