"""Command of an incident: taken, asked for, handed over or kept."""

from __future__ import annotations

import asyncio

from bot import policy
from bot.errors import UsageError
from bot.incidents import channel, guards, messages, store
from bot.incidents.store import Incident
from bot.policy import Do, Subject
from bot.services import Services
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.text import escape, mention


async def take_command(services: Services, incident_id: int, actor: str) -> str:
    """The on-call primary or a manager takes command at once; anyone else asks the commander, who hands
    over or keeps it (recorded either way)."""
    incident = await store.get(services.db, incident_id)
    if incident is None:
        raise UsageError("That incident does not exist.", usage=False)
    if incident.commander == actor:
        return f"You are already the commander of {incident.ref}."
    guards.must_be_open(incident)
    subject = Subject(commander=incident.commander)
    if await policy.allows(services, Do.INCIDENT_COMMANDER, actor, subject):
        try:
            incident = await _hand_over(services, incident_id, actor, actor, " (took command)")
        except UsageError:
            return f"You are already the commander of {incident.ref}."
        return f"{mention(actor)} is now the commander of {incident.ref}."
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await guards.locked(conn, incident_id)
        guards.must_be_open(incident)
        request, created = await store.ask_command(conn, incident_id, actor, incident.commander, now)
        if created:
            await store.add_event(
                conn, incident_id, now, actor, "command_request", f"@{actor} asked @{incident.commander} for command"
            )
    if not created:
        return f"You already asked {mention(request.commander)} for command of {incident.ref}; waiting for the answer."
    text, blocks = messages.command_request(incident, actor, request.id)
    try:
        await services.slack.chat_postMessage(channel=incident.commander, text=text, blocks=blocks)
    except SLACK_FAILURES as exc:
        return (
            f"Only {await policy.who_may(services, Do.INCIDENT_COMMANDER, subject)} may hand over command, and "
            f"the request could not be sent to {mention(incident.commander)} ({slack_error(exc)}): ask them in "
            f"{messages.channel_ref(incident)}."
        )
    return (
        f"Only {await policy.who_may(services, Do.INCIDENT_COMMANDER, subject)} may hand over command, so "
        f"{mention(incident.commander)} is asked to hand it over to you; you will get a DM with the answer."
    )


async def answer_command_request(services: Services, request_id: int, actor: str, hand_over: bool) -> str:
    """The commander (or a manager) answers a request for command: Hand over or Keep."""
    request = await store.command_request(services.db, request_id)
    if request is None:
        raise UsageError("That request for command does not exist.", usage=False)
    incident = await store.get(services.db, request.incident_id)
    if incident is None:
        raise UsageError("That incident does not exist.", usage=False)
    await policy.require(services, Do.INCIDENT_HANDOVER_ANSWER, actor, Subject(commander=incident.commander))
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await guards.locked(conn, request.incident_id)
        if request.answer is not None or incident.commander != request.commander or not incident.is_open:
            await store.answer_command(conn, request_id, "moot", actor, now)
            return f"That request for command of {incident.ref} is already settled."
        if not await store.answer_command(conn, request_id, "handed_over" if hand_over else "kept", actor, now):
            return f"That request for command of {incident.ref} is already settled."
        if hand_over:
            incident = await store.update(conn, incident.id, commander=request.requested_by)
            await store.add_event(
                conn,
                incident.id,
                now,
                actor,
                "commander",
                f"commander @{request.commander} → @{request.requested_by} (handed over on request)",
            )
            await store.answer_open_command_requests(conn, incident.id, now)
        else:
            await store.add_event(
                conn,
                incident.id,
                now,
                actor,
                "command_kept",
                f"@{actor} kept command (asked by @{request.requested_by})",
            )
    if hand_over:
        await asyncio.gather(
            channel.invite(services, incident, [request.requested_by]), channel.refresh(services, incident, topic=True)
        )
    verdict = "handed command of" if hand_over else "kept command of"
    try:
        await services.slack.chat_postMessage(
            channel=request.requested_by, text=f"{mention(actor)} {verdict} {incident.ref}."
        )
    except SLACK_FAILURES as exc:
        return f"You {verdict} {incident.ref}; {mention(request.requested_by)} could not be told ({slack_error(exc)})."
    return f"You {verdict} {incident.ref}" + (f" to {mention(request.requested_by)}." if hand_over else ".")


async def change_commander(services: Services, incident: Incident, actor: str, commander: str) -> str:
    """Hand over command: the commander, the on-call primary or a manager may (policy)."""
    guards.must_be_open(incident)
    await policy.require(services, Do.INCIDENT_COMMANDER, actor, Subject(commander=incident.commander))
    if await services.users.info(commander) is None:
        raise UsageError(f"`{escape(commander)}` is not a user in this workspace.", usage=False)
    incident = await _hand_over(services, incident.id, actor, commander, "")
    return f"{mention(commander)} is now the commander of {incident.ref}."


async def _hand_over(services: Services, incident_id: int, actor: str, commander: str, why: str) -> Incident:
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await guards.locked(conn, incident_id)
        guards.must_be_open(incident)
        if commander == incident.commander:
            raise UsageError(f"{mention(commander)} is already the commander of {incident.ref}.", usage=False)
        previous = incident.commander
        incident = await store.update(conn, incident.id, commander=commander)
        await store.add_event(conn, incident.id, now, actor, "commander", f"commander @{previous} → @{commander}{why}")
        await store.answer_open_command_requests(conn, incident.id, now)
    await asyncio.gather(
        channel.invite(services, incident, [commander]), channel.refresh(services, incident, topic=True)
    )
    return incident
