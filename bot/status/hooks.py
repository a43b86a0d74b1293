"""The status domain as a subscriber of the incidents' events (bot/incidents/events.py, subscribed in jobs.py):
declared, severity changed, resolved, reopened. Each runs as a durable job run after the incident's commit, in
a transaction of its own, and is safe to run again (a run repeated after a crash): what it schedules is keyed,
what it publishes is keyed and checked against the page's state, and the transaction is all or nothing.

The page's and the reminders' state of one incident follows the incident's state when the run happens (its row
is read locked): a resolution whose run comes after the incident was reopened publishes no "resolved" and stops
no reminder, so runs that finish out of order leave the page and the reminders as the incident is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.incidents import api as incidents
from bot.incidents.events import IncidentDeclared, IncidentReopened, IncidentResolved, SeverityChanged
from bot.incidents.models import Incident
from bot.services import Services
from bot.status import store
from bot.status import text as slacktext
from bot.status.ids import Job, Public, Told
from bot.status.models import Draft

REOPENED_TEXT = "This incident has been reopened; we are investigating again."
RESOLVED_TEXT = "This incident has been resolved."


# -- the subscribers (jobs.py subscribes them) -------------------------------------------------------------------


async def on_declared(services: Services, event: IncidentDeclared) -> None:
    """The stakeholders hear of it (severities they follow, as declared); the manager's reminder is set."""
    await _with_incident(
        services, event.incident_id, lambda conn, i: _declared(services, conn, i, event.severity, i.declared_at)
    )


async def on_severity_changed(services: Services, event: SeverityChanged) -> None:
    """The manager's reminder follows the new severity (for an incident still open)."""
    await _with_incident(services, event.incident_id, lambda conn, i: _severity_changed(services, conn, i, event.at))


async def on_resolved(services: Services, event: IncidentResolved) -> None:
    await _with_incident(
        services, event.incident_id, lambda conn, i: _resolved(services, conn, i, event.actor, event.at), lock=True
    )


async def on_reopened(services: Services, event: IncidentReopened) -> None:
    await _with_incident(
        services, event.incident_id, lambda conn, i: _reopened(services, conn, i, event.actor, event.at), lock=True
    )


async def _with_incident(
    services: Services, incident_id: int, work: Callable[[Any, Incident], Awaitable[None]], *, lock: bool = False
) -> None:
    """`work(conn, incident)` in a transaction of its own, the incident read in it (`lock`: its row locked, so
    the runs of one incident's resolutions and reopenings take turns and each reads the incident as it is)."""
    async with services.db.transaction() as conn:
        if lock:
            # The page's row first, then the incident's: the order a publication takes them in (flows.publish
            # updates the page, then adds to the incident's timeline), so neither waits on the other in a circle.
            await store.published(conn, incident_id, for_update=True)
        incident = await incidents.get(conn, incident_id, for_update=lock)
        if incident is not None:
            await work(conn, incident)


# -- what each does, in the caller's transaction -------------------------------------------------------------------


async def _declared(services: Services, conn: Any, incident: Incident, severity: str, now: datetime) -> None:
    if severity in services.config.stakeholders.severities:
        payload = {"incident_id": incident.id, "what": Told.DECLARED}
        await services.jobs.schedule_once(conn, Job.STAKEHOLDERS, f"{incident.id}:declared", now, payload)
    await schedule_reminder(services, conn, incident, incident.declared_at, now)


async def _severity_changed(services: Services, conn: Any, incident: Incident, now: datetime) -> None:
    if not incident.is_open:  # resolved since its run was due: no reminder
        return
    last = await store.last_update_at(conn, incident.id) or incident.declared_at
    await schedule_reminder(services, conn, incident, last, now)


async def _resolved(services: Services, conn: Any, incident: Incident, actor: str, now: datetime) -> None:
    """The page says resolved too (if anything was published), the stakeholders hear it, the reminders stop."""
    published = await store.published(conn, incident.id, for_update=True)
    if incident.is_open:
        # Reopened since (this run came late): the page, the reminders and the stakeholders' last word are the
        # reopening's; a "resolved" posted now would be the last thing they read of an open incident.
        return
    if published is not None and not published.is_resolved:
        await _publish(conn, incident, actor, now, Public.RESOLVED, RESOLVED_TEXT)
    await _tell_stakeholders(services, conn, incident, Told.RESOLVED, now)
    await services.jobs.cancel_prefix(conn, Job.REMIND, f"{incident.id}:")


async def _reopened(services: Services, conn: Any, incident: Incident, actor: str, now: datetime) -> None:
    """The page is open again (if it said resolved), the stakeholders hear it, the reminders start again."""
    published = await store.published(conn, incident.id, for_update=True)
    if not incident.is_open:
        # Resolved again since (this run came late): the page, the reminders and the stakeholders' last word are
        # that resolution's.
        return
    if published is not None and published.is_resolved:
        await _publish(conn, incident, actor, now, Public.INVESTIGATING, REOPENED_TEXT)
    await _tell_stakeholders(services, conn, incident, Told.REOPENED, now)
    await schedule_reminder(services, conn, incident, now, now)


async def _publish(conn: Any, incident: Incident, actor: str, now: datetime, status: Public, text: str) -> None:
    """An update the bot publishes itself when the incident resolves or reopens (each time: keyed by when)."""
    draft = Draft(f"{status}:{incident.id}:{now.isoformat()}", status, slacktext.from_plain(text))
    if await store.publish(conn, incident.id, now, actor, draft) is not None:
        await incidents.add_event(conn, incident.id, now, actor, "public", f"published on the status page ({status})")


async def _tell_stakeholders(services: Services, conn: Any, incident: Incident, what: Told, now: datetime) -> None:
    """The stakeholders' post of a resolution or a reopening: one for each time it happens (keyed by when)."""
    if incident.severity in services.config.stakeholders.severities:
        at = now.isoformat()
        payload = {"incident_id": incident.id, "what": what, "at": at}
        await services.jobs.schedule_once(conn, Job.STAKEHOLDERS, f"{incident.id}:{what}:{at}", now, payload)


def _next_reminder(last: datetime, every: timedelta, now: datetime) -> datetime:
    """The first multiple of `every` after the last stakeholder update that is strictly later than now: whoever
    schedules it (declaration, severity change, the reminder itself) computes the same key, so there is one chain."""
    due = last + every
    if due <= now:
        due += every * ((now - due) // every + 1)
    return due


async def schedule_reminder(services: Services, conn: Any, incident: Incident, last: datetime, now: datetime) -> None:
    rules = services.config.stakeholders
    if incident.severity not in rules.remind_severities:
        return
    due = _next_reminder(last, rules.remind_after, now)
    await services.jobs.schedule_once(
        conn, Job.REMIND, f"{incident.id}:{due.isoformat()}", due, {"incident_id": incident.id}
    )
