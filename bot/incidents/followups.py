"""Post-mortem action items: added with an owner and a due date, closed with `action done` or the Done button,
and a DM to the owner on the morning they are due."""

from __future__ import annotations

from datetime import date, datetime, time

from bot import audit, policy
from bot.errors import UsageError
from bot.incidents import messages, store
from bot.incidents.store import Incident
from bot.services import Services
from bot.slack.blocks import when
from bot.slack.text import mention, mrkdwn

ACTION_DUE = "incidents.action_due"
REMIND_AT = time(9, 0)  # the owner hears about a due item at 09:00 in the team's time zone


def due_at(services: Services, due: date) -> datetime:
    return datetime.combine(due, REMIND_AT, tzinfo=services.config.oncall.zone)


async def add(
    services: Services, incident: Incident, actor: str, text: str, owner: str | None, due: date | None
) -> str:
    now = services.clock.now()
    if due is not None and due < now.astimezone(services.config.oncall.zone).date():
        raise UsageError(f"{due.isoformat()} is in the past: give a due date from today on.", usage=False)
    if owner is not None and await services.users.info(owner) is None:
        raise UsageError(f"`{owner}` is not a user in this workspace.", usage=False)
    async with services.db.transaction() as conn:
        item = await store.add_action(conn, incident.id, text, owner, actor, now, due)
        said = f"action item #{item.id}: {text}" + (f" (owner @{owner})" if owner else "")
        await store.add_event(
            conn, incident.id, now, actor, "action", said + (f", due {due.isoformat()}" if due else "")
        )
        if due is not None and owner is not None:
            await services.jobs.schedule_once(
                conn, ACTION_DUE, str(item.id), max(due_at(services, due), now), {"action_id": item.id}
            )
    answer = f"Action item #{item.id} added to {incident.ref}" + (f", owner {mention(owner)}" if owner else "")
    if due is not None:
        answer += f", due {due.isoformat()}" + ("" if owner else " (name an owner to have them reminded)")
    return answer + "."


async def close(services: Services, actor: str, action_id: int, incident: Incident | None = None) -> str:
    """Close an item (its owner, the commander or a manager). In an incident channel it must be that incident's."""
    item = await store.action(services.db, action_id)
    if item is None or (incident is not None and item.incident_id != incident.id):
        where = f" of {incident.ref}" if incident else ""
        raise UsageError(f"There is no action item #{action_id}{where}; `/incident actions` lists them.", usage=False)
    owner_of = await store.get(services.db, item.incident_id or 0)
    if owner_of is None:
        raise UsageError(f"There is no action item #{action_id}.", usage=False)
    await policy.require(
        services, policy.Do.ACTION_DONE, actor, policy.Subject(commander=owner_of.commander, owner=item.owner)
    )
    now = services.clock.now()
    async with services.db.transaction() as conn:
        item = await store.action(conn, action_id, for_update=True)
        if item is None:
            raise UsageError(f"There is no action item #{action_id}.", usage=False)
        if item.done_at is not None:
            return (
                f"Action item #{item.id} was already done ({mention(item.done_by or '?')}, "
                f"{when(item.done_at, services.config.oncall.zone)})."
            )
        item = await store.close_action(conn, action_id, actor, now)
        await store.add_event(conn, owner_of.id, now, actor, "action_done", f"action item #{item.id} done: {item.text}")
        await services.jobs.cancel(conn, ACTION_DUE, str(item.id))
        await audit.record(
            conn,
            kind="incident",
            action="action.done",
            outcome="ok",
            actor=actor,
            channel=owner_of.channel_id,
            detail={"incident": owner_of.ref, "action": item.id},
        )
    return f"Action item #{item.id} of {owner_of.ref} is done: {mrkdwn(item.text)}"


async def remind(services: Services, action_id: int) -> bool:
    """The due-date DM to the owner; nothing if the item was closed meanwhile. A Slack failure is retried."""
    item = await store.action(services.db, action_id)
    if item is None or item.done_at is not None or item.owner is None:
        return False
    incident = await store.get(services.db, item.incident_id or 0)
    if incident is None:
        return False
    text, blocks = messages.action_due(incident, item)
    await services.slack.chat_postMessage(channel=item.owner, text=text, blocks=blocks)
    await store.set_reminded(services.db, action_id, services.clock.now())
    return True
