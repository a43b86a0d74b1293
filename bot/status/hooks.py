"""What the incidents domain tells the status domain, inside its own transactions: declared, severity changed,
resolved, reopened. Kept apart from flows.py so the incidents flows can call it without importing the status flows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.incidents import store as incidents
from bot.incidents.models import Incident
from bot.services import Services
from bot.status import store
from bot.status import text as slacktext
from bot.status.ids import Public, Told
from bot.status.models import Draft

STAKEHOLDERS, REMIND = "status.stakeholders", "status.remind"


# -- what incidents tell us (called inside their transactions) --------------------------------------------------


async def incident_declared(services: Services, conn: Any, incident: Incident, now: datetime) -> None:
    if incident.severity in services.config.stakeholders.severities:
        await services.jobs.schedule_once(
            conn, STAKEHOLDERS, f"{incident.id}:declared", now, {"incident_id": incident.id, "what": Told.DECLARED}
        )
    await schedule_reminder(services, conn, incident, incident.declared_at, now)


async def incident_severity_changed(services: Services, conn: Any, incident: Incident, now: datetime) -> None:
    last = await store.last_update_at(conn, incident.id) or incident.declared_at
    await schedule_reminder(services, conn, incident, last, now)


async def incident_resolved(services: Services, conn: Any, incident: Incident, actor: str, now: datetime) -> None:
    """The page says resolved too (if anything was published), the stakeholders hear it, the reminders stop."""
    published = await store.published(conn, incident.id, for_update=True)
    if published is not None and not published.is_resolved:
        await _publish(conn, incident, actor, now, Public.RESOLVED, "This incident has been resolved.")
    await _tell_stakeholders(services, conn, incident, Told.RESOLVED, now)
    await services.jobs.cancel_prefix(conn, REMIND, f"{incident.id}:")


async def incident_reopened(services: Services, conn: Any, incident: Incident, actor: str, now: datetime) -> None:
    """The page is open again (if it said resolved), the stakeholders hear it, the reminders start again."""
    published = await store.published(conn, incident.id, for_update=True)
    if published is not None and published.is_resolved:
        text = "This incident has been reopened; we are investigating again."
        await _publish(conn, incident, actor, now, Public.INVESTIGATING, text)
    await _tell_stakeholders(services, conn, incident, Told.REOPENED, now)
    await schedule_reminder(services, conn, incident, now, now)


async def _publish(conn: Any, incident: Incident, actor: str, now: datetime, status: Public, text: str) -> None:
    """An update the bot publishes itself when the incident resolves or reopens (each time: keyed by when)."""
    draft = Draft(f"{status}:{incident.id}:{now.isoformat()}", status, slacktext.from_plain(text))
    await store.publish(conn, incident.id, now, actor, draft)
    await incidents.add_event(conn, incident.id, now, actor, "public", f"published on the status page ({status})")


async def _tell_stakeholders(services: Services, conn: Any, incident: Incident, what: Told, now: datetime) -> None:
    """The stakeholders' post of a resolution or a reopening: one for each time it happens (keyed by when)."""
    if incident.severity in services.config.stakeholders.severities:
        at = now.isoformat()
        payload = {"incident_id": incident.id, "what": what, "at": at}
        await services.jobs.schedule_once(conn, STAKEHOLDERS, f"{incident.id}:{what}:{at}", now, payload)


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
        conn, REMIND, f"{incident.id}:{due.isoformat()}", due, {"incident_id": incident.id}
    )
