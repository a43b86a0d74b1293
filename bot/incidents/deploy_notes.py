"""Incident channels hear of rollbacks: the deploys domain's events (bot/deploys/events.py), subscribed here. A
rollback that belongs to an incident (`incident_for`, the rule the deploys domain asks through
services.incident_for) gives that incident the action item "Fix forward or revert vY", owned by vY's deployer,
once the rollback succeeded (its pin is held): a rollback that failed left vY running, nothing to fix forward.

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
from bot.deploys.ids import PROD, Kind, Status
from bot.incidents import api as incidents
from bot.incidents import records, store
from bot.incidents.enums import Severity
from bot.incidents.models import Incident
from bot.services import Services
from bot.slack.client import SLACK_FAILURES

logger = log.get("zzik.deploys")  # the logger these notes were logged on when the deploys domain sent them


class Job(StrEnum):
    ROLLBACK_STARTED = "incidents.rollback_started_note"  # key <rollback id>
    ROLLBACK_FINISHED = "incidents.rollback_finished_note"  # key <rollback id>:<status>
    FIX_FORWARD_ITEM = "incidents.fix_forward_item_pinned"  # key <rollback id>:<status>


# The open incidents a prod rollback confirmed outside any incident channel belongs to: the most severe of these.
ROLLBACK_SEVERITIES = (Severity.P1, Severity.P2)


def register(runner: Any, services: Services) -> None:
    """Subscribe to the deploy events the open incidents' channels hear of (called from jobs.register), and
    answer the deploys domain which incident a rollback belongs to."""
    services.events.subscribe(services, RollbackStarted, Job.ROLLBACK_STARTED, rollback_started)
    services.events.subscribe(services, DeployFinished, Job.ROLLBACK_FINISHED, rollback_finished)
    services.events.subscribe(services, DeployFinished, Job.FIX_FORWARD_ITEM, fix_forward_item)
    services.incident_for = incident_for


async def incident_for(services: Services, channel: str | None, environment: str) -> tuple[int, str] | None:
    """The incident a rollback of `environment` started now from `channel` belongs to: the incident whose channel
    it is (the kickoff's *Roll back* button, `/rollback` typed there); else, for prod, the most severe open P1 or
    P2, the latest declared of equals; else none (a staging rollback elsewhere gets the deploy thread's note)."""
    here = await store.by_channel(services.db, channel) if channel else None
    if here is None and environment == PROD:
        candidates = [i for i in await store.open_incidents(services.db) if i.severity in ROLLBACK_SEVERITIES]
        candidates.sort(key=lambda i: (i.severity, -i.declared_at.timestamp()))
        here = candidates[0] if candidates else None
    return (here.id, here.ref) if here else None


async def fix_forward_item(services: Services, event: DeployFinished) -> None:
    """A rollback succeeded and pinned its environment: the incident it belongs to (named on the pin when it
    started) gets "Fix forward or revert vY", owned by vY's deployer (once per rollback), in its timeline, and said
    in its channel."""
    if event.kind != Kind.ROLLBACK or event.status != Status.SUCCEEDED:
        return  # a failed rollback pins nothing: vY still runs
    pin = await deploys.pin(services.db, event.deploy_id)
    if pin is None or pin.pinned_at is None or pin.incident_id is None:
        return  # not held (another version was deployed first), or no incident: the deploy thread's note
    incident, rollback = await store.get(services.db, pin.incident_id), await deploys.get(services.db, pin.rollback_id)
    if incident is None:
        return
    actor = rollback.requested_by if rollback else pin.owner  # who rolled back
    now = services.clock.now()
    text = records.fix_forward_text(pin.environment, pin.from_version, pin.version)
    async with services.db.transaction() as conn:
        item, made = await store.add_keyed_action(
            conn, incident.id, text, pin.owner, actor, now, f"rollback:{pin.rollback_id}"
        )
        if made:
            await store.add_event(conn, incident.id, now, actor, "action", records.action_entry(item))
    if item.done_at is None:
        await _say_item(services, incident, records.fix_forward_said(incident, item))


async def _say_item(services: Services, incident: Incident, text: str) -> None:
    if not incident.channel_id:
        return
    try:
        await services.slack.chat_postMessage(channel=incident.channel_id, text=text)
    except SLACK_FAILURES:
        logger.warning("fix-forward item not said in the incident channel", incident=incident.ref)
        raise  # retried: the item is made once, the words are said when Slack takes them


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
