"""Checks every incident story makes: the row locked for the change, and still open."""

from __future__ import annotations

from typing import Any

from bot.errors import NotFound, Refused
from bot.incidents import messages, store
from bot.incidents.store import Incident


async def locked(conn: Any, incident_id: int) -> Incident:
    incident = await store.get(conn, incident_id, for_update=True)
    if incident is None:
        raise NotFound(messages.NO_INCIDENT)
    return incident


def must_be_open(incident: Incident) -> None:
    if not incident.is_open:
        raise Refused(messages.read_only(incident))
