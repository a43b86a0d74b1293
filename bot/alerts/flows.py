"""Alert stories a person starts: the buttons on an alert (acknowledge, declare, runbook, roll back, silence),
/alerts, and receiving a delivery (stored only: the sender gets its 2xx once it is in PostgreSQL; the job runner
processes it, see processing.py, and sends at Slack's pace, see sending.py)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import audit, log, policy
from bot.alerts import ack_expiry, ingest, messages, rules, silences, store
from bot.alerts.events import AlertAcknowledged
from bot.alerts.ids import Acknowledged, Job, Source
from bot.alerts.models import Alert
from bot.alerts.sending import changed, wall
from bot.deploys import answers as deploy_answers
from bot.deploys import api as deploys
from bot.deploys import rollback as deploy_rollback
from bot.errors import AlreadyDone, Invalid, NotFound, Refused
from bot.incidents import api as incidents
from bot.incidents import forms as incident_forms
from bot.runbooks import flows as runbook_flows
from bot.services import Services, zone

logger = log.get("zzik.alerts")
SILENCE_HOURS = (1, 4)


NOTE_REPEAT = timedelta(hours=4)  # Alertmanager's default repeat_interval: a group still in trouble is said again
MAX_REJECTS = 100  # unreadable alerts of one delivery kept in full; the rest are counted
MAX_RAW = 8 * 1024
_POSITION = re.compile(r"^alerts\.\d+\.?")


@dataclass(frozen=True)
class Received:
    delivery_id: int | None  # None: nothing of the delivery could be stored
    note_id: int | None  # a note of what was left out, if anything was


async def receive(services: Services, admitted: ingest.Admitted) -> Received:
    """Store what was admitted of one delivery and the job that processes it, and a note of what was left out
    (unreadable alerts, alerts past the limits) with the job that says it, in one transaction. Raises when it
    could not be stored."""
    now = services.clock.now()
    source = admitted.source
    delivery_id = note_id = None
    async with services.db.transaction() as conn:
        body = admitted.stored_json
        if body is not None:
            delivery_id = await store.add_delivery(conn, source, now, admitted.group_key, admitted.accepted, body)
            await services.jobs.schedule_once(conn, Job.PROCESS, str(delivery_id), now, {"delivery_id": delivery_id})
        if admitted.noteworthy:
            note_id = await _note(services, conn, admitted, delivery_id, now)
    if delivery_id is not None:
        services.metrics.requests.labels("webhook", f"hooks/{source}", "stored").inc()
    if note_id is not None:
        logger.warning(
            "alert delivery not taken whole",
            source=source,
            alerts=admitted.total,
            **admitted.counts(),
            reasons=[u.reason for u in admitted.unreadable[:5]],
        )
    return Received(delivery_id, note_id)


def _repeat_key(admitted: ingest.Admitted) -> str:
    """The same trouble in the same group: the kinds of reasons (not which alert), the limit, the truncation."""
    reasons = sorted({_POSITION.sub("", u.reason) for u in admitted.unreadable})
    key = [
        admitted.source,
        admitted.receiver,
        admitted.group_key,
        reasons,
        admitted.limit_reason,
        admitted.truncated > 0,
    ]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


async def _note(
    services: Services, conn: Any, admitted: ingest.Admitted, delivery_id: int | None, now: datetime
) -> int:
    repeat_key = _repeat_key(admitted)
    said = not await store.said_lately(conn, repeat_key, now - NOTE_REPEAT)
    channel = services.config.channels.alerts
    note_id = await store.add_note(
        conn,
        source=admitted.source,
        delivery_id=delivery_id,
        received_at=now,
        alert_count=admitted.total,
        **admitted.counts(),
        limit_reason=admitted.limit_reason,
        repeat_key=repeat_key,
        said=said,
        channel=channel,
    )
    kept = admitted.unreadable[:MAX_REJECTS]
    await store.add_rejects(conn, note_id, [(u.position, u.reason, ingest.raw_text(u.raw, MAX_RAW)) for u in kept])
    if said:
        await services.jobs.schedule_once(conn, Job.INGEST_NOTE, str(note_id), now, {"note_id": note_id})
    return note_id


async def _alert(services: Services, alert_id: int) -> Alert:
    alert = await store.get(services.db, alert_id)
    if alert is None:
        raise NotFound(messages.NO_ALERT)
    return alert


async def acknowledge(services: Services, target: Acknowledged, actor: str, request_id: str) -> str:
    await policy.require(services, policy.Do.ALERT_ACKNOWLEDGE, actor)
    now = services.clock.now()
    if target.digest is not None:
        return await _acknowledge_digest(services, target.digest, actor, request_id)
    async with services.db.transaction() as conn:
        alert = await store.get(conn, target.alert or 0, for_update=True)
        if alert is None:
            raise NotFound(messages.NO_ALERT)
        if alert.acknowledged_at:
            return messages.already_acknowledged(alert.acknowledged_by)
        if not alert.firing:
            return messages.say(messages.ALREADY_RESOLVED, alert)
        alert = await store.change(conn, alert.id, now, acknowledged_at=now, acknowledged_by=actor)
        await services.jobs.cancel_prefix(conn, Job.ESCALATE, f"{alert.id}:")
        alert = await ack_expiry.start(services, conn, alert, now)  # it runs out unless renewed: a reminder
        published = await services.events.publish(
            conn,
            AlertAcknowledged(alert_id=alert.id, priority=alert.priority, actor=actor, at=now, request_id=request_id),
        )
        detail = {"alert": alert.id, "alertname": alert.alertname}
        await record(conn, "acknowledge", actor=actor, request_id=request_id, detail=detail)
    await services.events.after_commit(published)
    await changed(services, alert.channel, f"ack:{alert.id}")
    return messages.acknowledged(alert, now)


async def _acknowledge_digest(services: Services, digest_id: int, actor: str, request_id: str) -> str:
    now = services.clock.now()
    async with services.db.transaction() as conn:
        digest = await store.digest(conn, digest_id, for_update=True)
        if digest is None:
            raise NotFound(messages.NO_STORM)
        if digest.acknowledged_at:
            return messages.already_acknowledged(digest.acknowledged_by)
        acked = await store.acknowledge_digest_alerts(conn, digest_id, now, actor)
        for alert_id in acked:
            await services.jobs.cancel_prefix(conn, Job.ESCALATE, f"{alert_id}:")
            alert = await store.get(conn, alert_id)
            if alert is not None and alert.firing:  # it runs out unless renewed, as one acknowledged alone does
                await ack_expiry.start(services, conn, alert, now)
        await services.jobs.cancel_prefix(conn, Job.ESCALATE, f"d{digest_id}:")
        await store.touch_digest(conn, digest_id, now, acknowledged_at=now, acknowledged_by=actor)
        await record(
            conn, "acknowledge", actor=actor, request_id=request_id, detail={"digest": digest_id, "alerts": len(acked)}
        )
    await changed(services, digest.channel, f"ackd:{digest_id}")
    return messages.say(messages.STORM_ACKNOWLEDGED, count=len(acked))


async def declare_form(services: Services, alert_id: int, reporter: str, channel: str | None) -> dict[str, Any]:
    alert = await _alert(services, alert_id)
    if alert.incident_id:
        incident = await incidents.get(services.db, alert.incident_id)
        raise AlreadyDone(messages.say(messages.ALREADY_IN_INCIDENT, ref=incident.ref if incident else "an incident"))
    link = messages.permalink(alert)
    prefill = messages.declare_prefill(alert, link)
    return incident_forms.declare_modal(
        services.config,
        reporter,
        channel,
        title=prefill["title"],
        description=prefill["description"],
        source=link,
        severity=alert.priority,
        alert=alert.id,
    )


async def link_incident(services: Services, alert_id: int, incident_id: int, actor: str | None) -> None:
    """An incident was declared from this alert: its timeline gets the alert, the alert's message links it."""
    now = services.clock.now()
    async with services.db.transaction() as conn:
        alert = await store.get(conn, alert_id, for_update=True)
        if alert is None or alert.incident_id == incident_id:
            return
        alert = await store.change(conn, alert_id, now, incident_id=incident_id)
        await incidents.add_event(
            conn,
            incident_id,
            now,
            actor,
            "alert",
            messages.timeline_entry(alert),
        )
    await changed(services, alert.channel, f"inc:{alert_id}:{incident_id}")


async def start_runbook(services: Services, alert_id: int, slug: str, actor: str) -> str:
    alert = await _alert(services, alert_id)
    runbook = next((r for r in services.config.runbooks if r.slug == slug), None)
    if runbook is None:
        raise NotFound(messages.say(messages.NO_RUNBOOK, slug=slug))
    channel = alert.message_channel or alert.channel
    if alert.incident_id:
        incident = await incidents.get(services.db, alert.incident_id)
        if incident and incident.channel_id:
            channel = incident.channel_id
    said = await runbook_flows.start(services, actor, channel, runbook, f"alert:{alert.id}:{slug}")
    return said or messages.say(messages.RUNBOOK_STARTED, name=runbook.name)


async def rollback_offer(services: Services, alert_id: int, actor: str) -> tuple[str, list[dict[str, Any]]]:
    alert = await _alert(services, alert_id)
    deploy = await deploys.get(services.db, alert.deploy_id) if alert.deploy_id else None
    if deploy is None:
        raise NotFound(messages.NOT_IN_WATCH)
    criterion = rules.rollback_criterion(services.config, alert.labels)
    prompt = deploy_rollback.Prompt(criterion=criterion, note=messages.rollback_note(alert))
    blocks = await deploy_rollback.offer(services, actor, deploy.environment, prompt)
    return deploy_answers.say(deploy_answers.ROLL_BACK_QUESTION, environment=deploy.environment), blocks


async def silence(services: Services, alert_id: int, hours: int, actor: str, request_id: str) -> str:
    base = services.settings.zzik_alertmanager_url
    if not base:
        raise Invalid(messages.NO_ALERTMANAGER)
    if hours not in SILENCE_HOURS:
        raise Invalid(messages.SILENCE_HOURS)
    await policy.require(services, policy.Do.ALERT_SILENCE, actor)
    alert = await _alert(services, alert_id)
    if alert.source != Source.ALERTMANAGER:
        raise Invalid(messages.NOT_SILENCEABLE)
    if not alert.firing:
        return messages.say(messages.ALREADY_RESOLVED, alert)
    if alert.silence_id and alert.silenced_until and alert.silenced_until > wall():
        return messages.already_silenced(alert.silenced_until, zone(services))
    starts = wall()
    ends = starts + timedelta(hours=hours)
    try:
        silence_id = await silences.create(
            base, alert.labels, starts, ends, actor, messages.say(messages.SILENCE_COMMENT, alert, hours=hours)
        )
    except silences.SilenceError as exc:
        detail = {"alert": alert.id, "error": str(exc)}
        await record(services.db, "silence", outcome="error", actor=actor, request_id=request_id, detail=detail)
        raise Refused(messages.say(messages.NOT_SILENCED, error=exc)) from None
    async with services.db.transaction() as conn:
        alert = await store.change(
            conn, alert.id, services.clock.now(), silence_id=silence_id, silenced_until=ends, silenced_by=actor
        )
        detail = {"alert": alert.id, "silence": silence_id, "hours": hours}
        await record(conn, "silence", actor=actor, request_id=request_id, detail=detail)
    await changed(services, alert.channel, f"silence:{silence_id}")
    return messages.say(messages.SILENCED, alert, hours=hours, silence=silence_id)


async def unsilence(services: Services, alert_id: int, actor: str, request_id: str) -> str:
    base = services.settings.zzik_alertmanager_url
    if not base:
        raise Invalid(messages.NO_ALERTMANAGER)
    await policy.require(services, policy.Do.ALERT_SILENCE, actor)
    alert = await _alert(services, alert_id)
    if not alert.silence_id:
        return messages.say(messages.NOT_SILENCED_NOW, alert)
    try:
        await silences.expire(base, alert.silence_id)
    except silences.SilenceError as exc:
        raise Refused(messages.say(messages.NOT_EXPIRED, error=exc)) from None
    async with services.db.transaction() as conn:
        await store.change(conn, alert.id, services.clock.now(), silence_id=None, silenced_until=None, silenced_by=None)
        detail = {"alert": alert.id, "silence": alert.silence_id}
        await record(conn, "unsilence", actor=actor, request_id=request_id, detail=detail)
    await changed(services, alert.channel, f"unsilence:{alert.silence_id}")
    return messages.say(messages.UNSILENCED, alert, silence=alert.silence_id)


async def record(
    db: Any, action: str, *, outcome: str = "ok", actor: str = "bot", request_id: str | None = None, detail: dict
) -> None:
    """One audit row of the alerts domain (kind `alert`)."""
    await audit.record(
        db, kind="alert", action=action, outcome=outcome, actor=actor, request_id=request_id, detail=detail
    )


async def firing_now(services: Services) -> str:
    return messages.listing(await store.firing(services.db), services.clock.now())


async def history(services: Services, limit: int) -> str:
    return messages.history(await store.recent(services.db, limit), zone(services))
