"""Paging: every page recorded (who, why, attempts, delivered) before it is sent; undelivered ones are retried by
the PAGE_RETRY job with a backoff, then given up on (the announcement says who was not reached)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from bot.incidents import guards, ids, messages, store
from bot.incidents.store import Incident
from bot.oncall.lookup import who_is_on_call
from bot.pagerduty import flows as pagerduty
from bot.services import Services
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.text import mention

PAGE_RETRY = "incidents.page_retry"
PAGE_BACKOFF = [timedelta(seconds=s) for s in (15, 30, 60, 120, 300)]  # then the page is given up on


def paged_roles(services: Services, severity: str) -> list[str]:
    return ["primary", "secondary", "manager"] if services.config.severity(severity).all_hands else ["primary"]


async def record_pages(
    services: Services, conn: Any, incident: Incident, roles: list[str], reason_key: str, reason: str
) -> None:
    on_call = await who_is_on_call(services, services.clock.now())
    people: list[tuple[str, str]] = []
    for role in roles:
        user = on_call.shift(role).user or f"nobody ({role})"
        if user not in [u for u, _ in people]:
            people.append((user, role))
    await store.add_pages(conn, incident.id, reason_key, reason, people, services.clock.now())


async def record_declared(services: Services, incident: Incident) -> None:
    lvl = services.config.severity(incident.severity)
    reason = "All hands" if lvl.all_hands else f"{incident.severity} incident declared"
    async with services.db.transaction() as conn:
        current = await guards.locked(conn, incident.id)
        if current.paged_at is not None:
            return
        await record_pages(services, conn, incident, paged_roles(services, incident.severity), "declared", reason)
        await store.update(conn, incident.id, paged_at=services.clock.now())


async def page_pagerduty(services: Services, incident_id: int) -> list[str]:
    """PagerDuty first, beside the DMs; what it does not take now its SEND job retries (or tells, if refused)."""
    if not pagerduty.configured(services):
        return []
    try:
        refused = await pagerduty.flush(services, incident_id)
    except pagerduty.PagerDutyUnavailable as exc:
        return [f"PagerDuty not reached yet ({exc}); retrying"]
    return [f"PagerDuty refused the {e.action}" for e in refused]


async def deliver(services: Services, incident: Incident) -> list[str]:
    """Send every undelivered page of the incident once; record each outcome; schedule a retry for what is
    still undelivered. Returns the failures, in words."""
    pending = [p for p in await store.pages(services.db, incident.id, undelivered=True) if p.reachable]
    lvl = services.config.severity(incident.severity)

    async def send(p: store.Page) -> str | None:
        try:
            await services.slack.chat_postMessage(
                channel=p.user_id, text=messages.page_text(incident, lvl, p.reason, services.config.channels.incidents)
            )
        except SLACK_FAILURES as exc:
            return slack_error(exc)
        return None

    outcomes = await asyncio.gather(*(send(p) for p in pending))
    now = services.clock.now()
    delivered = []
    async with services.db.transaction() as conn:
        for p, error in zip(pending, outcomes, strict=True):
            await store.page_tried(conn, p.id, error, now)
            if error is None:
                delivered.append(p)
        if delivered:
            await store.add_event(
                conn,
                incident.id,
                now,
                None,
                "paged",
                "paged " + ", ".join(f"@{p.user_id}" for p in delivered) + f" ({', '.join(p.role for p in delivered)})",
            )
        if len(delivered) < len(pending):
            await schedule_retry(services, conn, incident.id, now)
    failures = []
    for p in await store.pages(services.db, incident.id, undelivered=True):
        who = mention(p.user_id) if p.reachable else p.user_id
        failures.append(f"could not page {who}: {p.last_error or 'not tried yet'}")
    return failures


async def schedule_retry(services: Services, conn: Any, incident_id: int, now: datetime) -> None:
    tried = await services.jobs.count(conn, PAGE_RETRY, ids.prefix(incident_id))
    if tried >= len(PAGE_BACKOFF):
        return  # given up: the announcement and the reporter's answer say who was not reached
    if await services.jobs.pending(conn, PAGE_RETRY, ids.prefix(incident_id)):
        return
    await services.jobs.schedule_once(
        conn, PAGE_RETRY, ids.key(incident_id, tried + 1), now + PAGE_BACKOFF[tried], {"incident_id": incident_id}
    )


async def all_hands(services: Services, incident: Incident) -> list[str]:
    """Who joins the channel at once besides reporter and commander: on P1, everyone on call."""
    if not services.config.severity(incident.severity).all_hands:
        return []
    return (await who_is_on_call(services, incident.declared_at)).chain()
