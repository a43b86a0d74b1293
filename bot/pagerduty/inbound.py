"""PagerDuty's side coming back in (v3 webhooks): an acknowledgement or resolve done in PagerDuty does the same in
Slack, escalations and reassignments are told in the incident channel.

Receiving only stores the delivery (by PagerDuty's event id, so a redelivery is the same row; the body as PagerDuty
sent it, NUL made U+FFFD) with a WEBHOOK job, in one transaction; PagerDuty gets its 2xx once that committed. An
event type the bot does not follow is stored as `ignored`, with no job.

An event is about one of the bot's incidents (or paged alerts) only when its PagerDuty incident is the one the bot's
own trigger opened: its `incident_key` (the Events API's dedup key) is exactly the key the bot triggered with
(`INC-<n>`, `ALERT-<id>`), or its PagerDuty incident id was recorded (`pagerduty_matches`) from an earlier event
that had that key. Titles never match: anyone can open a PagerDuty incident called "INC-1 ...", and a merge's
`resolve_reason` names another incident, not this one. The job keeps what PagerDuty last said of the incident
(`pagerduty_incidents`): an event older than that is stale and changes nothing. What it does in Slack goes through
the incidents' own flows, which are idempotent (acknowledged twice is once); while they run, the bot does not echo
the change back to PagerDuty.

A try that fails is recorded on the delivery (`attempts`, `error`) and the job tries again; after MAX_ATTEMPTS, or
at once when the stored body no longer reads as an event, the delivery is `failed`, logged and audited, and left.
"""

from __future__ import annotations

import traceback
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from bot import audit, log
from bot.alerts import api as alerts
from bot.alerts import flows as alert_flows
from bot.alerts.ids import Acknowledged
from bot.errors import UserError
from bot.incidents import api as incidents
from bot.incidents import flows as incident_flows
from bot.incidents.models import Incident
from bot.jobs import MAX_ATTEMPTS
from bot.pagerduty import messages, models, store
from bot.pagerduty.flows import told_by_pagerduty
from bot.pagerduty.ids import Job
from bot.pagerduty.payloads import STATUS_AFTER, Event, EventType, Head, Webhook
from bot.policy import Do, Subject, allows, who_may
from bot.services import Services

logger = log.get("zzik.pagerduty")
IGNORED = "ignored"  # an event type the bot does not follow: recorded, never applied
UNMATCHED = "unmatched"  # not a PagerDuty incident the bot opened
FAILED = "failed"  # could not be applied: `error` says why


class StoredUnreadable(Exception):
    """A stored delivery that no longer reads as an event (stored by another version): no retry can help."""


async def receive(services: Services, head: Head, hook: Webhook | None, body: Any) -> bool:
    """Store one delivery (`body`, as read) and, for an event the bot follows (`hook`), its job, in one transaction.
    False when the event was already received."""
    now = services.clock.now()
    outcome = None if hook is not None else IGNORED
    async with services.db.transaction() as conn:
        new = await store.add_delivery(conn, head.id, head.event_type, head.occurred_at, body, now, outcome=outcome)
        if new and hook is not None:
            await services.jobs.schedule_once(conn, Job.WEBHOOK, head.id, now, {"event_id": head.id})
    if hook is None:
        logger.info("pagerduty webhook recorded, not followed", event_type=head.event_type, event_id=head.id)
    return new


async def process(services: Services, event_id: str) -> str | None:
    """The WEBHOOK job: apply one delivery, once. Returns what it did (None: nothing left to do)."""
    try:
        return await _process(services, event_id)
    except Exception as exc:
        if await _not_applied(services, event_id, exc):
            return FAILED
        raise  # the job tries again later


async def _process(services: Services, event_id: str) -> str | None:
    async with services.db.transaction() as conn:
        delivery = await store.claim_delivery(conn, event_id)
        if delivery is None:
            return None
        try:
            event = Webhook.model_validate(delivery.body).event
        except ValidationError as exc:
            raise StoredUnreadable(str(exc)) from exc
        owner = await _owner(conn, event, services.clock.now())
        incident_id = owner.incident_id if owner is not None else None
        fresh = incident_id is not None and await _note_status(conn, incident_id, event)
    if owner is None:
        outcome, notes = UNMATCHED, list[str]()
    elif owner.alert_id is not None:
        outcome, notes = await _alert_told(services, owner.alert_id, event), []
    elif not fresh or incident_id is None:
        outcome, notes = "stale", []
    else:
        outcome, notes = await _apply(services, incident_id, event)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        for text in notes:
            await incidents.add_event(conn, incident_id or 0, now, None, "pagerduty", text)
        await store.delivery_done(conn, event_id, incident_id, outcome, now)
        await audit.record(
            conn,
            kind="pagerduty",
            action=event.event_type,
            outcome=outcome,
            actor=f"pagerduty:{event.agent.id}" if event.agent and event.agent.id else "pagerduty",
            detail={
                "event": event_id,
                "incident": incident_id,
                "alert": owner.alert_id if owner is not None else None,
                "pagerduty_incident": event.data.id,
            },
        )
    logger.info("pagerduty webhook applied", event_type=event.event_type, event_id=event_id, outcome=outcome)
    return outcome


async def _owner(conn: Any, event: Event, now: datetime) -> models.Owner | None:
    """Whose PagerDuty incident the event is about: the owner recorded for its PagerDuty id, else the owner of the
    bot's trigger whose dedup key is its incident_key (recorded now, so later events match by id too)."""
    data = event.data
    owner = await store.matched(conn, data.id)
    if owner is None and data.incident_key:
        owner = await store.triggered_with(conn, data.incident_key)
        if owner is not None:
            await store.record_match(conn, data.id, data.incident_key, owner, now)
    return owner


async def _not_applied(services: Services, event_id: str, exc: Exception) -> bool:
    """Record on the delivery why a try failed; True when that is final (given up on: the job stops trying)."""
    error = "".join(traceback.format_exception_only(exc)).strip()[:2000]
    now = services.clock.now()
    async with services.db.transaction() as conn:
        failed = await store.delivery_failed(conn, event_id, error)
        if failed is None:
            return True  # the delivery is gone (pruned): nothing left to try
        attempts, event_type = failed
        final = isinstance(exc, StoredUnreadable) or attempts >= MAX_ATTEMPTS
        if final:
            await store.delivery_done(conn, event_id, None, FAILED, now)
            await audit.record(
                conn,
                kind="pagerduty",
                action=event_type,
                outcome=FAILED,
                actor="pagerduty",
                detail={"event": event_id, "attempts": attempts, "error": error},
            )
    report = logger.error if final else logger.warning
    report("pagerduty webhook not applied", event_id=event_id, attempts=attempts, final=final, error=error)
    return final


async def _note_status(conn, incident_id: int, event: Event) -> bool:
    """Keep the PagerDuty incident's status; False when the event is older than what is known (stale)."""
    known = await store.mirror(conn, incident_id, for_update=True)
    if known is not None and event.occurred_at < known.status_at:
        return False
    status = STATUS_AFTER.get(event.event_type)
    if status is not None:
        await store.set_mirror(conn, incident_id, event.data.id, event.data.html_url, status, event.occurred_at)
    elif known is None:
        await store.set_mirror(conn, incident_id, event.data.id, event.data.html_url, "triggered", event.occurred_at)
    return True


async def _apply(services: Services, incident_id: int, event: Event) -> tuple[str, list[str]]:
    """(outcome, timeline notes) of a fresh event for one of the bot's incidents."""
    incident = await incidents.get(services.db, incident_id)
    if incident is None or not incident.is_open:
        return "already", []
    match event.event_type:
        case EventType.ACKNOWLEDGED:
            return await _acknowledged(services, incident, event)
        case EventType.RESOLVED:
            return await _resolved(services, incident, event)
        case EventType.ESCALATED | EventType.REASSIGNED:
            text = (messages.escalated if event.event_type == EventType.ESCALATED else messages.reassigned)(
                incident, event
            )
            await _post(services, incident, text)
            return "posted", [messages.note(event)]
    return "recorded", []


async def _slack_user(services: Services, event: Event) -> str | None:
    """The Slack user the PagerDuty user is (`pagerduty.users` in the ops config), if known."""
    if event.agent is None or event.agent.type not in ("user_reference", "user"):
        return None
    member = services.config.pagerduty.users.get(event.agent.id)
    return await services.users.resolve(member) if member else None


async def _acknowledged(services: Services, incident: Incident, event: Event) -> tuple[str, list[str]]:
    if incident.acknowledged_at is not None:
        return "already", []  # acknowledged in Slack first: PagerDuty only echoes it
    actor = await _slack_user(services, event)
    with told_by_pagerduty():
        await incident_flows.acknowledge(services, incident.id, actor, via="pagerduty")
    return "acknowledged", [messages.acknowledged_note(event)]


async def _resolved(services: Services, incident: Incident, event: Event) -> tuple[str, list[str]]:
    """Resolved in Slack only when the PagerDuty user may resolve it here (the commander or a manager, the
    resolve rule); otherwise the channel is told and the commander asked."""
    actor = await _slack_user(services, event)
    subject = Subject(commander=incident.commander)
    if actor is not None and await allows(services, Do.INCIDENT_RESOLVE, actor, subject):
        try:
            with told_by_pagerduty():
                await incident_flows.resolve(
                    services,
                    incident,
                    actor,
                    messages.resolved_summary(event),
                    f"pagerduty:{event.id}",
                    via="pagerduty",
                )
        except UserError:
            return "already", []  # resolved in Slack meanwhile
        return "resolved", []
    rule = f"only {await who_may(services, Do.INCIDENT_RESOLVE, subject)} may resolve it."
    await _post(services, incident, messages.resolve_asked(incident, event, rule))
    return "asked", [messages.resolve_asked_note(event)]


async def _post(services: Services, incident: Incident, text: str) -> None:
    """A failure raises: the job is retried with backoff."""
    channel = incident.channel_id or services.config.channels.incidents
    await services.slack.chat_postMessage(channel=channel, text=text)


async def _alert_told(services: Services, alert_id: int, event: Event) -> str:
    """An event about a P1 alert the bot paged: acknowledged in PagerDuty by someone the bot knows in Slack
    acknowledges the alert there (its escalation stops); by anyone else it is said in the alert's thread. Anything
    else about an alert is only recorded."""
    alert = await alerts.get(services.db, alert_id)
    if alert is None:
        return UNMATCHED
    if event.event_type != EventType.ACKNOWLEDGED:
        return "alert:recorded"
    if alert.acknowledged_at or not alert.firing:
        return "already"  # acknowledged in Slack first (PagerDuty echoes it), or over
    actor = await _slack_user(services, event)
    if actor is not None:
        with told_by_pagerduty():
            await alert_flows.acknowledge(services, Acknowledged(alert=alert.id), actor, f"pagerduty:{event.id}")
        return "alert:acknowledged"
    if alert.message_channel and alert.message_ts:
        text = messages.alert_acknowledged(event)
        await services.slack.chat_postMessage(channel=alert.message_channel, thread_ts=alert.message_ts, text=text)
    return "alert:told"
