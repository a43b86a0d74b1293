"""Checks every incident story makes: the row locked for the change, and still open."""

from __future__ import annotations

from typing import Any

from bot.errors import Refused, UsageError
from bot.incidents import store
from bot.incidents.store import Incident


async def locked(conn: Any, incident_id: int) -> Incident:
    incident = await store.get(conn, incident_id, for_update=True)
    if incident is None:
        raise UsageError("That incident does not exist.", usage=False)
    return incident


def must_be_open(incident: Incident) -> None:
    if not incident.is_open:
        raise Refused(
            f"{incident.ref} is resolved, so it is read-only: `timeline`, `postmortem` and action items still "
            "work. If it is back, its commander or a manager can `reopen` it."
        )
