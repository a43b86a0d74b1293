"""Incident channels hear of rollbacks: the deploys domain's events (bot/deploys/events.py), subscribed here.

Each note is a subscriber run, stored with the rollback's own transaction: a crash after the rollback was recorded
leaves the note to the next pass. One channel failing does not stop the others, and is logged rather than retried
(a retry would tell the channels that did hear it again)."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Any

from bot import log
from bot.deploys import answers
from bot.deploys import api as deploys
from bot.deploys.events import DeployFinished, RollbackStarted
from bot.deploys.ids import Kind
from bot.incidents import api as incidents
from bot.services import Services

logger = log.get("zzik.deploys")  # the logger these notes were logged on when the deploys domain sent them


class Job(StrEnum):
    ROLLBACK_STARTED = "incidents.rollback_started_note"  # key <rollback id>
    ROLLBACK_FINISHED = "incidents.rollback_finished_note"  # key <rollback id>:<status>


def register(runner: Any, services: Services) -> None:
    """Subscribe to the deploy events the open incidents' channels hear of (called from jobs.register)."""
    services.events.subscribe(services, RollbackStarted, Job.ROLLBACK_STARTED, rollback_started)
    services.events.subscribe(services, DeployFinished, Job.ROLLBACK_FINISHED, rollback_finished)


async def rollback_started(services: Services, event: RollbackStarted) -> None:
    current, target = await deploys.get(services.db, event.replaced_id), await deploys.get(services.db, event.deploy_id)
    if current is None or target is None:
        return
    await tell(services, answers.rolling_back(event.actor, event.environment, current, target, event.reason or ""))


async def rollback_finished(services: Services, event: DeployFinished) -> None:
    if event.kind != Kind.ROLLBACK:
        return
    rollback = await deploys.get(services.db, event.deploy_id)
    if rollback is not None:
        await tell(services, answers.say(answers.ROLLBACK_FINISHED, rollback))


async def tell(services: Services, text: str) -> None:
    """Every open incident's channel hears of a rollback (one channel failing does not stop the others)."""
    channels = [i.channel_id for i in await incidents.open_incidents(services.db) if i.channel_id]
    results = await asyncio.gather(
        *(services.slack.chat_postMessage(channel=c, text=text) for c in channels), return_exceptions=True
    )
    for channel, result in zip(channels, results, strict=True):
        if isinstance(result, BaseException):
            logger.warning("incident channel not told of the rollback", channel=channel, error=repr(result))
