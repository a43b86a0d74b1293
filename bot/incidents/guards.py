"""What every incident story does: lock the row for the change, check it is still open, audit the change."""

from __future__ import annotations

from typing import Any

from bot import audit as audit_log
from bot.errors import NotFound, Refused
from bot.incidents import refusals, store
from bot.incidents.models import Incident


async def locked(conn: Any, incident_id: int) -> Incident:
    incident = await store.get(conn, incident_id, for_update=True)
    if incident is None:
        raise NotFound(refusals.NO_INCIDENT)
    return incident


async def locked_open(conn: Any, incident_id: int) -> Incident:
    """The incident, locked for a change that only an open incident takes."""
    incident = await locked(conn, incident_id)
    must_be_open(incident)
    return incident


def must_be_open(incident: Incident) -> None:
    if not incident.is_open:
        raise Refused(refusals.read_only(incident))


async def audit(
    conn: Any,
    action: str,
    actor: str,
    incident: Incident,
    /,
    *,
    channel: str | None = None,
    request_id: str | None = None,
    **detail: Any,
) -> None:
    """The audit row of a change to an incident, in the change's transaction; `detail` joins the incident's ref."""
    await audit_log.record(
        conn,
        kind="incident",
        action=action,
        outcome="ok",
        actor=actor,
        channel=channel,
        request_id=request_id,
        detail={"incident": incident.ref, **detail},
    )
