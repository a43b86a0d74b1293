"""Command of an incident: taken, asked for, handed over or kept."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from bot import policy
from bot.errors import AlreadyDone, Invalid, NotFound
from bot.incidents import channel, guards, messages, records, refusals, store
from bot.incidents.enums import CommandAnswer
from bot.incidents.models import CommandRequest, Incident
from bot.incidents.outcomes import AlreadyCommander, CommandAnswered, CommandAsked, CommanderChanged, CommandSettled
from bot.policy import Do, Subject
from bot.services import Services
from bot.slack.client import SLACK_FAILURES, slack_error

TakeCommand = AlreadyCommander | CommanderChanged | CommandAsked


async def take_command(services: Services, incident_id: int, actor: str) -> TakeCommand:
    """The on-call primary or a manager takes command at once; anyone else asks the commander, who hands
    over or keeps it (recorded either way)."""
    incident = await store.get(services.db, incident_id)
    if incident is None:
        raise NotFound(refusals.NO_INCIDENT)
    if incident.commander == actor:
        return AlreadyCommander(incident)
    guards.must_be_open(incident)
    subject = Subject(commander=incident.commander)
    if await policy.allows(services, Do.INCIDENT_COMMANDER, actor, subject):
        try:
            return CommanderChanged(await _hand_over(services, incident_id, actor, actor, " (took command)"))
        except AlreadyDone:  # a second click, or someone handed it to them meanwhile
            return AlreadyCommander(incident)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await guards.locked_open(conn, incident_id)
        request, created = await store.ask_command(conn, incident_id, actor, incident.commander, now)
        if created:
            entry = records.command_asked_entry(actor, incident.commander)
            await store.add_event(conn, incident_id, now, actor, "command_request", entry)
    if not created:
        return CommandAsked(incident, request.commander, already=True)
    who_may = await policy.who_may(services, Do.INCIDENT_COMMANDER, subject)
    text, blocks = messages.command_request(incident, actor, request.id)
    try:
        await services.slack.chat_postMessage(channel=incident.commander, text=text, blocks=blocks)
    except SLACK_FAILURES as exc:
        return CommandAsked(incident, incident.commander, who_may, error=slack_error(exc))
    return CommandAsked(incident, incident.commander, who_may)


async def answer_command_request(
    services: Services, request_id: int, actor: str, hand_over: bool
) -> CommandAnswered | CommandSettled:
    """The commander (or a manager) answers a request for command: Hand over or Keep."""
    request = await store.command_request(services.db, request_id)
    if request is None:
        raise NotFound(refusals.NO_COMMAND_REQUEST)
    incident = await store.get(services.db, request.incident_id)
    if incident is None:
        raise NotFound(refusals.NO_INCIDENT)
    await policy.require(services, Do.INCIDENT_HANDOVER_ANSWER, actor, Subject(commander=incident.commander))
    now = services.clock.now()
    answer = CommandAnswer.HANDED_OVER if hand_over else CommandAnswer.KEPT
    async with services.db.transaction() as conn:
        incident = await guards.locked(conn, request.incident_id)
        if request.answer is not None or incident.commander != request.commander or not incident.is_open:
            await store.answer_command(conn, request_id, CommandAnswer.MOOT, actor, now)
            return CommandSettled(incident)
        if not await store.answer_command(conn, request_id, answer, actor, now):
            return CommandSettled(incident)
        incident = await _record_answer(conn, incident, request, actor, hand_over, now)
    if hand_over:
        await asyncio.gather(
            channel.invite(services, incident, [request.requested_by]), channel.refresh(services, incident, topic=True)
        )
    answered = CommandAnswered(incident, request.requested_by, hand_over)
    try:
        await services.slack.chat_postMessage(
            channel=request.requested_by, text=messages.command_verdict(answered, actor)
        )
    except SLACK_FAILURES as exc:
        return CommandAnswered(incident, request.requested_by, hand_over, told_error=slack_error(exc))
    return answered


async def _record_answer(
    conn: Any, incident: Incident, request: CommandRequest, actor: str, hand_over: bool, now: datetime
) -> Incident:
    """The answer in the timeline; a hand-over changes the commander and settles the other waiting requests."""
    if not hand_over:
        entry = records.command_kept_entry(actor, request.requested_by)
        await store.add_event(conn, incident.id, now, actor, "command_kept", entry)
        return incident
    incident = await store.update(conn, incident.id, commander=request.requested_by)
    entry = records.commander_entry(request.commander, request.requested_by, " (handed over on request)")
    await store.add_event(conn, incident.id, now, actor, "commander", entry)
    await store.answer_open_command_requests(conn, incident.id, now)
    return incident


async def change_commander(services: Services, incident: Incident, actor: str, commander: str) -> CommanderChanged:
    """Hand over command: the commander, the on-call primary or a manager may (policy)."""
    guards.must_be_open(incident)
    await policy.require(services, Do.INCIDENT_COMMANDER, actor, Subject(commander=incident.commander))
    if await services.users.info(commander) is None:
        raise Invalid(refusals.not_a_user(commander))
    return CommanderChanged(await _hand_over(services, incident.id, actor, commander, ""))


async def _hand_over(services: Services, incident_id: int, actor: str, commander: str, why: str) -> Incident:
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await guards.locked_open(conn, incident_id)
        if commander == incident.commander:
            raise AlreadyDone(refusals.already_commands(incident, commander))
        previous = incident.commander
        incident = await store.update(conn, incident.id, commander=commander)
        await store.add_event(
            conn, incident.id, now, actor, "commander", records.commander_entry(previous, commander, why)
        )
        await store.answer_open_command_requests(conn, incident.id, now)
    await asyncio.gather(
        channel.invite(services, incident, [commander]), channel.refresh(services, incident, topic=True)
    )
    return incident
