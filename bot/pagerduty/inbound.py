"""PagerDuty's side coming back in (v3 webhooks): an acknowledgement or resolve done in PagerDuty does the same in
Slack, escalations and reassignments are told in the incident channel.

Receiving only stores the delivery (by PagerDuty's event id, so a redelivery is the same row) with a WEBHOOK job,
in one transaction; PagerDuty gets its 2xx once that committed. The job matches the bot's incident by the
dedup key PagerDuty calls `incident_key` (the incident's ref), else by a title starting with the ref, and keeps
what PagerDuty last said of it (`pagerduty_incidents`): an event older than that is stale and changes nothing.
What it does in Slack goes through the incidents' own flows, which are idempotent (acknowledged twice is once);
while they run, the bot does not echo the change back to PagerDuty.
"""

from __future__ import annotations

import re

from bot import audit, log
from bot.alerts import flows as alert_flows
from bot.alerts import store as alerts
from bot.alerts.ids import Acknowledged
from bot.errors import UserError
from bot.incidents import flows as incident_flows
from bot.incidents import store as incidents
from bot.incidents.store import Incident
from bot.pagerduty import messages, store
from bot.pagerduty.flows import told_by_pagerduty
from bot.pagerduty.payloads import STATUS_AFTER, Event, EventType, Webhook
from bot.policy import Do, Subject, allows, who_may
from bot.services import Services

logger = log.get("zzik.pagerduty")
WEBHOOK = "pagerduty.webhook"
_REF = re.compile(r"^\s*INC-(\d{1,9})(?!\d)", re.ASCII)
_ALERT = re.compile(r"^ALERT-(\d{1,18})$", re.ASCII)  # alert_pages.dedup_key


def numbers(event: Event) -> list[int]:
    """The incident numbers an event may be about: its dedup key first, then its title."""
    found = []
    for text in (event.data.incident_key or "", event.data.title):
        match = _REF.match(text)
        if match and int(match[1]) not in found:
            found.append(int(match[1]))
    return found


async def receive(services: Services, hook: Webhook) -> bool:
    """Store one delivery and its job, in one transaction. False when the event was already received."""
    event = hook.event
    now = services.clock.now()
    async with services.db.transaction() as conn:
        new = await store.add_delivery(
            conn, event.id, event.event_type, event.occurred_at, hook.model_dump(mode="json"), now
        )
        if new:
            await services.jobs.schedule_once(conn, WEBHOOK, event.id, now, {"event_id": event.id})
    return new


async def process(services: Services, event_id: str) -> str | None:
    """The WEBHOOK job: apply one delivery, once. Returns what it did (None: nothing left to do)."""
    async with services.db.transaction() as conn:
        delivery = await store.claim_delivery(conn, event_id)
        if delivery is None:
            return None
        event = Webhook.model_validate(delivery.body).event
        incident_id = await store.triggered_incident(conn, numbers(event))
        fresh = incident_id is not None and await _note_status(conn, incident_id, event)
    if incident_id is None:
        outcome, notes = await _alert_told(services, event), []
    elif not fresh:
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
            detail={"event": event_id, "incident": incident_id, "pagerduty_incident": event.data.id},
        )
    logger.info("pagerduty webhook applied", event_type=event.event_type, event_id=event_id, outcome=outcome)
    return outcome


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
        await incident_flows.acknowledge(services, incident.id, actor)  # type: ignore[arg-type]
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
                    services, incident, actor, messages.resolved_summary(event), f"pagerduty:{event.id}"
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


async def _alert_told(services: Services, event: Event) -> str:
    """An event about a P1 alert the bot paged (dedup key `ALERT-<id>`): acknowledged in PagerDuty by someone the
    bot knows in Slack acknowledges the alert there (its escalation stops); by anyone else it is said in the
    alert's thread. Anything else about an alert is only recorded."""
    match = _ALERT.match(event.data.incident_key or "")
    alert = await alerts.get(services.db, int(match[1])) if match else None
    if alert is None or not await store.alert_events(services.db, alert.id):
        return "unmatched"
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
