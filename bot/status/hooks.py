"""What the incidents domain tells the status domain, inside its own transactions: declared, severity changed,
resolved. Kept apart from flows.py so the incidents flows can call it without importing the status flows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.incidents import store as incidents
from bot.incidents.store import Incident
from bot.services import Services
from bot.status import store
from bot.status import text as slacktext
from bot.status.ids import Public, Told
from bot.status.store import Draft

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
        body = slacktext.from_plain("This incident has been resolved.")
        await store.publish(conn, incident.id, now, actor, Draft(f"resolve:{incident.id}", Public.RESOLVED, body))
        await incidents.add_event(conn, incident.id, now, actor, "public", "published on the status page (resolved)")
    if incident.severity in services.config.stakeholders.severities:
        await services.jobs.schedule_once(
            conn, STAKEHOLDERS, f"{incident.id}:resolved", now, {"incident_id": incident.id, "what": Told.RESOLVED}
        )
    await services.jobs.cancel_prefix(conn, REMIND, f"{incident.id}:")


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
