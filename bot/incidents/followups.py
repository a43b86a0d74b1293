"""Post-mortem action items: added with an owner and a due date, closed with `action done` or the Done button,
and a DM to the owner on the morning they are due."""

from __future__ import annotations

from datetime import date, datetime, time

from bot import policy
from bot.errors import Invalid, NotFound
from bot.incidents import guards, records, refusals, store
from bot.incidents.ids import Job
from bot.incidents.models import Incident
from bot.incidents.outcomes import ActionAdded, ActionClosed
from bot.services import Services, zone

REMIND_AT = time(9, 0)  # the owner hears about a due item at 09:00 in the team's time zone


def due_at(services: Services, due: date) -> datetime:
    return datetime.combine(due, REMIND_AT, tzinfo=zone(services))


async def add(
    services: Services, incident: Incident, actor: str, text: str, owner: str | None, due: date | None
) -> ActionAdded:
    now = services.clock.now()
    if due is not None and due < now.astimezone(zone(services)).date():
        raise Invalid(refusals.past_due(due))
    if owner is not None and await services.users.info(owner) is None:
        raise Invalid(refusals.not_a_user(owner))
    async with services.db.transaction() as conn:
        item = await store.add_action(conn, incident.id, text, owner, actor, now, due)
        await store.add_event(conn, incident.id, now, actor, "action", records.action_entry(item))
        if due is not None and owner is not None:
            await services.jobs.schedule_once(
                conn, Job.ACTION_DUE, str(item.id), max(due_at(services, due), now), {"action_id": item.id}
            )
    return ActionAdded(incident, item, due)


async def close(services: Services, actor: str, action_id: int, incident: Incident | None = None) -> ActionClosed:
    """Close an item (its owner, the commander or a manager). In an incident channel it must be that incident's."""
    item = await store.action(services.db, action_id)
    if item is None or (incident is not None and item.incident_id != incident.id):
        raise NotFound(refusals.no_action_item(action_id, incident))
    owner_of = await store.get(services.db, item.incident_id or 0)
    if owner_of is None:
        raise NotFound(refusals.no_action_item(action_id, listed=False))
    await policy.require(
        services, policy.Do.ACTION_DONE, actor, policy.Subject(commander=owner_of.commander, owner=item.owner)
    )
    now = services.clock.now()
    async with services.db.transaction() as conn:
        item = await store.action(conn, action_id, for_update=True)
        if item is None:
            raise NotFound(refusals.no_action_item(action_id, listed=False))
        if item.done_at is not None:
            return ActionClosed(owner_of, item, already=True)
        item = await store.close_action(conn, action_id, actor, now)
        await store.add_event(conn, owner_of.id, now, actor, "action_done", records.action_done_entry(item))
        await services.jobs.cancel(conn, Job.ACTION_DUE, str(item.id))
        await guards.audit(conn, "action.done", actor, owner_of, channel=owner_of.channel_id, action=item.id)
    return ActionClosed(owner_of, item)


async def remind(services: Services, action_id: int) -> bool:
    """The due-date DM to the owner; nothing if the item was closed meanwhile. A Slack failure is retried."""
    item = await store.action(services.db, action_id)
    if item is None or item.done_at is not None or item.owner is None:
        return False
    incident = await store.get(services.db, item.incident_id or 0)
    if incident is None:
        return False
    text, blocks = records.action_due(incident, item)
    await services.slack.chat_postMessage(channel=item.owner, text=text, blocks=blocks)
    await store.set_reminded(services.db, action_id, services.clock.now())
    return True
