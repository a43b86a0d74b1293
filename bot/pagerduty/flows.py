"""PagerDuty as the pager beside the Slack DM (Events API v2).

Each change of an incident that PagerDuty must hear (declared, severity changed, acknowledged, resolved) is an
event of the incidents domain (bot/incidents/events.py); PagerDuty subscribes (jobs.py), and its subscriber run
writes one row in `pagerduty_events` with a SEND job, in one transaction. The job sends every unsent
event of the incident in order, under a per-incident lock, so each goes out once whatever the replicas and
retries; PagerDuty deduplicates on `dedup_key` (the incident's ref) besides. A 429 or 5xx is retried with the
job runner's backoff; a 400 is recorded and told in the incident channel, never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from bot import log
from bot.incidents import api as incidents
from bot.incidents import events
from bot.incidents.enums import Severity
from bot.incidents.models import Incident
from bot.jobs import JobRun
from bot.pagerduty import models, store
from bot.pagerduty.ids import Job
from bot.services import Services
from bot.slack.failures import attempt
from bot.slack.text import escape, plain

logger = log.get("zzik.pagerduty")
Outgoing = tuple[str, str, str, dict[str, Any]]  # an event to record: its key, action, severity and body
TIMEOUT = aiohttp.ClientTimeout(total=10)
SEND_LEASE = timedelta(seconds=15)  # a send a dead replica left resumes this soon after (heartbeats renew it)
# How long the declaration's subscriber has to send the trigger itself; its SEND run is the safety net.
SETUP_GRACE = timedelta(seconds=3)
# How long a change waits for the declaration's run to record the trigger it follows (see _after_the_declaration).
DECLARATION_WAIT = timedelta(seconds=5)
_from_pagerduty: ContextVar[bool] = ContextVar("from_pagerduty", default=False)


class PagerDutyUnavailable(Exception):
    """PagerDuty did not take an event (rate limit, 5xx, network): the job tries again later, no sooner than
    PagerDuty's Retry-After (`retry_after`, seconds) when it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def routing_key(services: Services, severity: str) -> str | None:
    key = services.config.pagerduty.routing_keys.get(severity)  # type: ignore[call-overload]
    if key:
        return key
    setting = services.settings.zzik_pagerduty_routing_key
    return setting.get_secret_value() if setting else None


def configured(services: Services) -> bool:
    return services.settings.zzik_pagerduty_routing_key is not None or bool(services.config.pagerduty.routing_keys)


@contextlib.contextmanager
def told_by_pagerduty() -> Iterator[None]:
    """While the bot applies a change PagerDuty told it (a webhook), that change is not sent back to PagerDuty."""
    token = _from_pagerduty.set(True)
    try:
        yield
    finally:
        _from_pagerduty.reset(token)


def channel_link(incident: Incident) -> str | None:
    return f"https://slack.com/app_redirect?channel={incident.channel_id}" if incident.channel_id else None


# -- the incidents' events (bot/incidents/events.py), PagerDuty a subscriber: urgent runs, started at once after
# the incident's commit, side by side with its page round ----------------------------------------------------------


async def on_declared(services: Services, event: events.IncidentDeclared) -> None:
    """The declaration's trigger, recorded with its SEND run (the safety net, due a little later), then sent here
    as soon as the incident channel exists (briefly waited for, so the trigger links it). What PagerDuty does not
    take now its SEND job retries (or tells, if refused)."""
    async with services.db.transaction() as conn:
        # The incident's row lock orders this with its changes: a change committed first is seen here (and
        # recorded after the trigger); one committed after finds the trigger recorded (and records itself).
        incident = await incidents.get(conn, event.incident_id, for_update=True)
        if incident is None or not incident.is_open:
            return  # resolved before PagerDuty heard of it: nothing to page
        if await incident_declared(services, conn, incident, incident.declared_at) is None:
            return  # PagerDuty does not page this incident
        if incident.acknowledged_at is not None:
            await _follow_up(services, conn, incident, "acknowledge", incident.acknowledged_at)
    if not configured(services):
        return
    await incidents.wait_for_channel(services, incident)
    with contextlib.suppress(PagerDutyUnavailable):
        await flush(services, incident.id)


async def _after_the_declaration(services: Services, incident_id: int) -> None:
    """A change heard while the declaration's own run has not recorded its trigger yet (they start side by side
    when the change follows at once) waits for that run, briefly: what PagerDuty hears keeps the incident's order
    (an acknowledge before the trigger would be dropped)."""
    deadline = time.monotonic() + DECLARATION_WAIT.total_seconds()
    while time.monotonic() < deadline and not await _triggered(services.db, incident_id):
        if not await services.jobs.active(Job.INCIDENT_DECLARED, str(incident_id), exact=True):
            return
        await asyncio.sleep(0.05)


async def on_severity_changed(services: Services, event: events.SeverityChanged) -> None:
    await _after_the_declaration(services, event.incident_id)
    async with services.db.transaction() as conn:
        incident = await incidents.get(conn, event.incident_id, for_update=True)
        if incident is None or not incident.is_open or incident.severity != event.new:
            return  # resolved since (no page for a closed incident), or a later change supersedes this one
        changed = dataclasses.replace(incident, severity=Severity(event.new))
        run = await incident_severity_changed(services, conn, changed, event.at, event.change_id)
    await send_now(services, run)


async def on_acknowledged(services: Services, event: events.IncidentAcknowledged) -> None:
    await _on_follow_up(services, event.incident_id, "acknowledge", event.at, event.via)


async def on_resolved(services: Services, event: events.IncidentResolved) -> None:
    await _on_follow_up(services, event.incident_id, "resolve", event.at, event.via)


async def _on_follow_up(
    services: Services, incident_id: int, action: str, at: datetime | None, via: str | None
) -> None:
    if via == "pagerduty":
        return  # what PagerDuty told the bot is not sent back
    await _after_the_declaration(services, incident_id)
    async with services.db.transaction() as conn:
        incident = await incidents.get(conn, incident_id)
        if incident is None:
            return
        run = await _follow_up(services, conn, incident, action, at or services.clock.now())
    await send_now(services, run)


# -- what PagerDuty records of an incident, in a transaction; each returns the SEND run to start after the commit --


async def incident_declared(services: Services, conn: Any, incident: Incident, now: datetime) -> str | None:
    """The declaration's trigger. Its subscriber sends it as soon as the channel exists (so it links to it); the
    SEND run is the safety net, due a little later, for a subscriber that dies or stalls."""
    if incident.severity not in services.config.pagerduty.severities:
        return None
    return await _trigger(services, conn, incident, f"{incident.id}:trigger:declared", now, due=now + SETUP_GRACE)


async def incident_severity_changed(
    services: Services, conn: Any, incident: Incident, now: datetime, change: str
) -> str | None:
    """Re-trigger with the new severity: when PagerDuty already has the incident, or the new one pages. `change`:
    which change it is, so a rerun of its subscriber records it once."""
    triggered = await _triggered(conn, incident.id)
    if not triggered and incident.severity not in services.config.pagerduty.severities:
        return None
    return await _trigger(services, conn, incident, f"{incident.id}:trigger:severity:{change}", now)


async def send_now(services: Services, run_key: str | None) -> None:
    """After the commit: send at once here (a ticker elsewhere may get there first; it sends then)."""
    if run_key is not None:
        await services.jobs.run_now(Job.SEND, run_key)


async def _triggered(conn: Any, incident_id: int) -> bool:
    return any(e.action == "trigger" for e in await store.events(conn, incident_id))


async def _trigger(
    services: Services, conn: Any, incident: Incident, event_key: str, now: datetime, *, due: datetime | None = None
) -> str | None:
    if routing_key(services, incident.severity) is None:
        return None
    custom: dict[str, Any] = {"incident": incident.ref, "severity": incident.severity}
    body = {
        "event_action": "trigger",
        "dedup_key": incident.ref,
        "payload": {
            "summary": f"{incident.ref} {incident.severity}: {plain(incident.title)}"[:1024],  # PagerDuty's is plain
            "source": services.config.pagerduty.source,
            "severity": services.config.pagerduty.severity_map.get(incident.severity, "error"),  # type: ignore[call-overload]
            "timestamp": now.isoformat(),
            "component": "incident",
            "custom_details": custom,
        },
        "client": "ZZIK Ops Bot",
    }
    about = {"incident_id": incident.id}
    return await record(services, conn, about, (event_key, "trigger", incident.severity, body), now, due=due)


async def _follow_up(services: Services, conn: Any, incident: Incident, action: str, now: datetime) -> str | None:
    """Acknowledge/resolve only what the bot triggered (PagerDuty ignores an unknown dedup_key anyway), and not
    what PagerDuty itself told the bot."""
    if _from_pagerduty.get() or not await _triggered(conn, incident.id):
        return None
    body = {"event_action": action, "dedup_key": incident.ref}
    event = (f"{incident.id}:{action}", action, incident.severity, body)
    return await record(services, conn, {"incident_id": incident.id}, event, now)


async def record(
    services: Services, conn: Any, about: dict[str, int], event: Outgoing, now: datetime, *, due: datetime | None = None
) -> str | None:
    """Record an event (its key, action, severity and body) of an incident or an alert (`about`: {"incident_id": n}
    or {"alert_id": n}) with its SEND run, due at once or at `due`, in the caller's transaction. The run's key, or
    None when the event was already recorded."""
    event_id = await store.add(conn, about, *event, now)
    if event_id is None:
        return None
    prefix = str(about["incident_id"]) if "incident_id" in about else f"a{about['alert_id']}"
    run_key = f"{prefix}:{event_id}"
    await services.jobs.schedule_once(conn, Job.SEND, run_key, due or now, about)
    return run_key


# -- sending --------------------------------------------------------------------------------------------------------


def _as_sent(event: models.Event, incident: Incident | None) -> dict[str, Any]:
    """A trigger says who commands and where, as things stand when it is sent (the channel comes after the
    declaration)."""
    body = dict(event.body)
    if event.action != "trigger" or incident is None:
        return body
    payload = dict(body["payload"])
    payload["custom_details"] = {**payload.get("custom_details", {}), "commander": incident.commander}
    link = channel_link(incident)
    if link:
        payload["custom_details"]["channel"] = link
        body["links"] = [{"href": link, "text": f"Slack channel #{incident.channel_name or incident.channel_id}"}]
    body["payload"] = payload
    return body


async def flush(services: Services, incident_id: int) -> list[models.Event]:
    """Send the incident's unsent events in order; stop at the first PagerDuty did not take. Returns the events
    PagerDuty refused (400) in this pass. Raises PagerDutyUnavailable when one is left to retry."""
    async with services.db.transaction() as conn, aiohttp.ClientSession(timeout=TIMEOUT) as http:
        await store.lock_incident(conn, incident_id)
        incident = await incidents.get(conn, incident_id)
        refused, unavailable = await _send_pending(
            services, conn, http, await store.events(conn, incident_id), incident
        )
    for event in refused:
        await _tell_refused(services, incident_id, event)
    if unavailable is not None:
        raise unavailable
    return refused


async def flush_alert(services: Services, alert_id: int) -> list[models.Event]:
    """flush() for the events of a P1 alert paged without an incident (refusals are logged, not posted)."""
    async with services.db.transaction() as conn, aiohttp.ClientSession(timeout=TIMEOUT) as http:
        await store.lock_alert(conn, alert_id)
        refused, unavailable = await _send_pending(services, conn, http, await store.alert_events(conn, alert_id))
    if unavailable is not None:
        raise unavailable
    return refused


async def _send_pending(
    services: Services,
    conn: Any,
    http: aiohttp.ClientSession,
    events: list[models.Event],
    incident: Incident | None = None,
) -> tuple[list[models.Event], PagerDutyUnavailable | None]:
    """Send the unsent events in order, under the caller's lock: (refused, why the first not taken was not)."""
    refused: list[models.Event] = []
    for event in (e for e in events if not e.settled):
        key = routing_key(services, event.severity)
        if key is None:
            await store.rejected(conn, event.id, "no routing key configured", services.clock.now())
            refused.append(event)
            continue
        status, answer, retry_after = await _post(services, http, {"routing_key": key, **_as_sent(event, incident)})
        if status == 202:
            await store.sent(conn, event.id, services.clock.now())
            logger.info("pagerduty event sent", action=event.action, dedup_key=event.body["dedup_key"])
        elif status == 400:
            await store.rejected(conn, event.id, answer, services.clock.now())
            refused.append(event)
            logger.warning("pagerduty refused an event", action=event.action, error=answer)
        else:
            await store.failed(conn, event.id, answer)
            return refused, PagerDutyUnavailable(answer, retry_after)
    return refused, None


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None  # absent, or an HTTP date (PagerDuty sends seconds): the job's own backoff then


async def _post(
    services: Services, http: aiohttp.ClientSession, event: dict[str, Any]
) -> tuple[int, str, float | None]:
    """PagerDuty's answer as (status, words, Retry-After seconds); a network failure is (0, why, None)."""
    try:
        async with http.post(services.settings.zzik_pagerduty_events_url, json=event) as response:
            text = await response.text()
            if response.status == 202:
                return 202, "", None
            if response.status == 400:
                try:
                    data = json.loads(text)
                    errors = "; ".join(str(e) for e in data.get("errors") or []) or data.get("message") or text
                except (ValueError, AttributeError):
                    errors = text
                return 400, f"HTTP 400: {errors}"[:500], None
            return response.status, f"HTTP {response.status} from PagerDuty", _retry_after(response)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return 0, f"PagerDuty unreachable ({type(exc).__name__})", None


async def _tell_refused(services: Services, incident_id: int, event: models.Event) -> None:
    incident = await incidents.get(services.db, incident_id)
    if incident is None:
        return
    error = next((e.last_error for e in await store.events(services.db, incident_id) if e.id == event.id), None)
    text = f":warning: PagerDuty refused the {event.action} of {incident.ref}: {escape(error or 'no reason given')}."
    if event.action == "trigger":
        text += " Nobody was paged through PagerDuty; page by phone if the Slack DMs go unanswered."
    await _post_to_incident(services, incident, text)


async def _post_to_incident(services: Services, incident: Incident, text: str) -> None:
    channel = incident.channel_id or services.config.channels.incidents
    async with services.db.transaction() as conn:
        await incidents.add_event(conn, incident.id, services.clock.now(), None, "pagerduty", text)
    await attempt(
        "PagerDuty note not posted in the incident channel", services.slack.chat_postMessage(channel=channel, text=text)
    )


async def run_send(services: Services, run: JobRun) -> None:
    """The SEND job. Its last failed attempt is told in the incident channel before it is given up on."""
    if "alert_id" in run.payload:
        await flush_alert(services, run.payload["alert_id"])
        return
    incident_id = run.payload["incident_id"]
    try:
        await flush(services, incident_id)
    except PagerDutyUnavailable as exc:
        if run.final_attempt:
            incident = await incidents.get(services.db, incident_id)
            if incident is not None:
                await _post_to_incident(
                    services,
                    incident,
                    f":warning: PagerDuty could not be reached for {incident.ref} after {run.attempts} tries "
                    f"({escape(str(exc))}); page by phone if the Slack DMs go unanswered.",
                )
        raise


# -- what the announcement says (services.paging_providers) ----------------------------------------------------


async def paging_settled(services: Services, incident_id: int) -> bool:
    """The declaration's trigger was tried once (or will not be: PagerDuty does not page this incident)."""
    if not configured(services):
        return True
    triggers = [e for e in await store.events(services.db, incident_id) if e.action == "trigger"]
    if triggers:
        return any(e.sent_at or e.rejected_at or e.last_error for e in triggers)
    return not await services.jobs.active(Job.INCIDENT_DECLARED, str(incident_id), exact=True)


async def paging_state(services: Services, incident_id: int) -> str | None:
    """How the PagerDuty page stands, in words for the announcement; None when PagerDuty is not paged."""
    if not configured(services):
        return None
    triggers = [e for e in await store.events(services.db, incident_id) if e.action == "trigger"]
    if not triggers:
        return None
    if any(e.sent_at for e in triggers):
        return "Paged in PagerDuty"
    last = triggers[-1]
    if last.rejected_at:
        return f"PagerDuty refused the page ({escape(last.last_error or '?')})"
    if last.last_error:
        return f"PagerDuty not reached yet ({escape(last.last_error)}), retrying"
    return "PagerDuty page queued"
