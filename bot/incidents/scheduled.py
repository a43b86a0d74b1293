"""Incidents' timed work: escalation when nobody acknowledges, nudges for status updates, late pages, and the
incidents' part of the week in review."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

from bot.incidents import ids, messages, models, paging, records, store
from bot.incidents.ids import Job
from bot.incidents.models import Incident
from bot.services import Services, zone


def _business_day_at(after: datetime, services: Services, at: time = time(10, 0)) -> datetime:
    """The next Monday-to-Friday 10:00 in the team's zone strictly after `after`."""
    local = after.astimezone(zone(services))
    day = local.date()
    while True:
        candidate = datetime.combine(day, at, tzinfo=zone(services))
        if candidate > local and candidate.weekday() < 5:
            return candidate
        day += timedelta(days=1)


def escalation_times(services: Services, severity: str, since: datetime) -> list[tuple[str, datetime]]:
    """When the next people in the chain are paged if nobody acknowledges: secondary, then manager."""
    within = services.config.severity(severity).ack_within
    if isinstance(within, timedelta):
        return [("secondary", since + within), ("manager", since + 2 * within)]
    first = _business_day_at(since, services)  # "next_business_day", the only other value config allows
    return [("secondary", first), ("manager", _business_day_at(first, services))]


async def cancel(services: Services, conn: Any, incident_id: int, *jobs: Job) -> None:
    """In a change's transaction: the incident's pending runs of `jobs` (escalation steps, nudges) are cancelled."""
    for job in jobs:
        await services.jobs.cancel_prefix(conn, job, ids.prefix(incident_id))


async def schedule_escalations(services: Services, conn: Any, incident: Incident, since: datetime) -> None:
    """One chain for the incident's current severity. Each chain has keys of its own: a chain cancelled by a
    severity change (p1 -> p2 -> p1) must never block the new one."""
    chain = uuid.uuid4().hex[:12]
    for step, (role, due) in enumerate(escalation_times(services, incident.severity, since), start=1):
        await services.jobs.schedule_once(
            conn,
            Job.ESCALATE,
            ids.key(incident.id, incident.severity, chain, step),
            due,
            {"incident_id": incident.id, "role": role, "severity": incident.severity},
        )


async def schedule_nudge(services: Services, conn: Any, incident: Incident, since: datetime) -> None:
    every = services.config.severity(incident.severity).update_every
    if every is not None:
        due = since + every
        await services.jobs.schedule_once(
            conn, Job.NUDGE, ids.key(incident.id, due.isoformat()), due, {"incident_id": incident.id}
        )


async def escalate(services: Services, incident_id: int, role: str, severity: str, run_key: str) -> bool:
    incident = await store.get(services.db, incident_id)
    if incident is None or not incident.is_open or incident.acknowledged_at or incident.severity != severity:
        return False
    now = services.clock.now()
    waited = models.duration(incident.declared_at, now)
    reason, reason_key = messages.not_acknowledged(waited), f"escalate:{run_key}"
    on_call = await paging.on_call_now(services)
    async with services.db.transaction() as conn:
        await paging.record_pages(services, conn, incident, [role], reason_key, reason, on_call)
    return await paging.escalation_sent(services, incident, role, reason_key, waited, now, records.escalated_entry)


async def nudge(services: Services, incident_id: int) -> bool:
    incident = await store.get(services.db, incident_id)
    if incident is None or not incident.is_open:
        return False
    every = services.config.severity(incident.severity).update_every
    if every is None:
        return False
    now = services.clock.now()
    if now - incident.last_update_at < every:
        due = incident.last_update_at + every  # an update came in: wait a full interval from it
        async with services.db.transaction() as conn:
            await services.jobs.schedule_once(
                conn, Job.NUDGE, ids.key(incident_id, due.isoformat()), due, {"incident_id": incident_id}
            )
        return False
    if incident.channel_id:
        await services.slack.chat_postMessage(
            channel=incident.channel_id, text=messages.nudge(incident, incident.last_update_at, now)
        )
    due = now + every
    async with services.db.transaction() as conn:
        await store.add_event(conn, incident_id, now, None, "nudge", "reminded the commander to post an update")
        await services.jobs.schedule_once(
            conn, Job.NUDGE, ids.key(incident_id, due.isoformat()), due, {"incident_id": incident_id}
        )
    return True


async def week_in_review(services: Services, starts: datetime, ends: datetime) -> list[str]:
    """The incidents' lines of the on-call handoff summary."""
    week = await store.declared_between(services.db, starts, ends)
    return records.week_in_review(
        declared=[i for i in week if starts <= i.declared_at < ends],
        resolved=[i for i in week if i.resolved_at and starts <= i.resolved_at < ends],
        still_open=await store.open_incidents(services.db),
        open_actions=await store.open_actions(services.db),
    )
