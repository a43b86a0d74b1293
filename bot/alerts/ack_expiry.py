"""Acknowledgements that expire. An acknowledgement of a firing alert lasts `lasts()` (config: the row's
`ack_expires_after`, else `alerting.ack_expires_after`, else the row's response time, at least 30 min). When it
runs out and the alert still fires, nobody renewed or snoozed it and it is not silenced, the acknowledger is
reminded in the alert's thread (*Still on it*, *Snooze 1h*, *Snooze 4h*), and escalation resumes one role at a
time, a step apart (`step()`: the response time, at least 5 min), as `processing.escalation_plan` pages them, from
the role after the acknowledger's and never the acknowledger (`rota.lookup.resumed`).

Each window has one deadline (`alerts.ack_expires_at`); its expiry run and escalation steps are keyed by it
(`<alert>:<deadline>`, `<alert>:<deadline>:<step>`), so each deadline reminds once and pages each role once, on
any replica, and a renewal or snooze (a new deadline) leaves the old runs with nothing to do. A resolved alert
never reminds: the runs find it resolved. An alert linked to an incident is left to the incident's own
acknowledgement (its reminders are the incident's)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot import audit, log, policy
from bot.alerts import messages, store
from bot.alerts.ids import Job
from bot.alerts.models import Alert
from bot.alerts.processing import escalation_plan
from bot.alerts.sending import changed, wall
from bot.errors import Invalid, NotFound
from bot.jobs import JobRun
from bot.opsconfig import OpsConfig
from bot.rota.lookup import OnCall, resumed, who_is_on_call
from bot.services import Services, zone
from bot.slack.failures import attempt

logger = log.get("zzik.alerts")

MIN_LASTS = timedelta(minutes=30)  # the default acknowledgement never runs out sooner than this
MIN_STEP = timedelta(minutes=5)  # nor does escalation resume faster than one role per this
SNOOZE_HOURS = (1, 4)


def lasts(config: OpsConfig, alert: Alert) -> timedelta:
    """How long an acknowledgement of `alert` lasts."""
    row = next((r for r in config.alerts if r.name == alert.rule), None)
    if row is not None and row.ack_expires_after is not None:
        return row.ack_expires_after
    if config.alerting.ack_expires_after is not None:
        return config.alerting.ack_expires_after
    return max(alert.response_time, MIN_LASTS)


def step(alert: Alert) -> timedelta:
    """How long each role has before the next one is paged, once escalation resumes."""
    return max(alert.response_time, MIN_STEP)


def _key(alert_id: int, deadline: datetime) -> str:
    return f"{alert_id}:{deadline.isoformat()}"


def _current(alert: Alert | None, deadline: datetime) -> bool:
    """The alert still fires under the acknowledgement window that ends at `deadline` (none newer, not resolved)."""
    return (
        alert is not None
        and alert.firing
        and alert.acknowledged_at is not None
        and alert.ack_expires_at == deadline
        and alert.incident_id is None
    )


async def start(
    services: Services,
    conn: Any,
    alert: Alert,
    since: datetime,
    *,
    until: datetime | None = None,
    snoozed_by: str | None = None,
) -> Alert:
    """In the caller's transaction (an acknowledgement, a renewal, a snooze): a fresh window from `since`, ending
    at `until` or after `lasts()`; what the previous window left pending (its escalation steps) is cancelled."""
    deadline = until or since + lasts(services.config, alert)
    changed_alert = await store.change(
        conn,
        alert.id,
        since,
        ack_since=since,
        ack_expires_at=deadline,
        snoozed_until=until if snoozed_by else None,
        snoozed_by=snoozed_by,
        ack_reminder_ts=None,
    )
    await services.jobs.cancel_prefix(conn, Job.ACK_EXPIRED, f"{alert.id}:")
    await services.jobs.cancel_prefix(conn, Job.ACK_ESCALATE, f"{alert.id}:")
    payload = {"alert_id": alert.id, "deadline": deadline.isoformat()}
    await services.jobs.schedule_once(conn, Job.ACK_EXPIRED, _key(alert.id, deadline), deadline, payload)
    return changed_alert


async def expired(services: Services, alert_id: int, deadline_text: str) -> bool:
    """The ACK_EXPIRED job: remind the acknowledger in the thread and schedule the escalation steps (once per
    deadline); a Slack failure raises, so the reminder is retried, never counted as posted."""
    deadline = datetime.fromisoformat(deadline_text)
    alert = await store.get(services.db, alert_id)
    if alert is None or not _current(alert, deadline):
        return False
    now = services.clock.now()
    if alert.silenced_until and alert.silenced_until > wall():
        # Silenced meanwhile: someone is on it until the silence ends; the reminder waits for that.
        async with services.db.transaction() as conn:
            locked = await store.get(conn, alert_id, for_update=True)
            if locked is not None and _current(locked, deadline):
                until = now + (alert.silenced_until - wall())
                await start(services, conn, locked, locked.ack_since or now, until=until)
        return False
    on_call = await who_is_on_call(services, now)
    async with services.db.transaction() as conn:
        alert = await store.get(conn, alert_id, for_update=True)
        if alert is None or not _current(alert, deadline):
            return False
        plan = _plan(alert, on_call)
        first_try = not plan and not alert.ack_reminder_ts  # nobody left to page: no steps to tell a retry by
        for number, (role, after) in enumerate(plan, start=1):
            payload = {"alert_id": alert_id, "deadline": deadline_text, "role": role}
            if await services.jobs.schedule_once(
                conn, Job.ACK_ESCALATE, f"{_key(alert_id, deadline)}:{number}", now + after, payload
            ):
                first_try = True
        if first_try:  # the first try at this deadline (a retry finds the steps scheduled)
            detail = {"alert": alert_id, "acknowledged_by": alert.acknowledged_by, "deadline": deadline_text}
            await record(conn, "ack_expired", detail=detail)
    if alert.ack_reminder_ts:
        return True  # posted by an earlier try, which failed after it
    first: tuple[str | None, timedelta] = plan[0] if plan else (None, step(alert))
    text, blocks = messages.ack_reminder(alert, now, *first)
    where, thread = await _thread(services, alert)
    posted = await services.slack.chat_postMessage(channel=where, thread_ts=thread, text=text, blocks=blocks)
    async with services.db.transaction() as conn:
        await store.reminded(conn, alert_id, str(posted["ts"]))
    return True


def _plan(alert: Alert, on_call: OnCall) -> list[tuple[str, timedelta]]:
    """Who a resumed escalation pages, and when: the escalation plan's roles after the acknowledger's, one step
    apart, never the acknowledger (they were just reminded in the thread)."""
    roles = resumed(on_call, [role for role, _ in escalation_plan(alert.priority, step(alert))], alert.acknowledged_by)
    return [(role, step(alert) * number) for number, role in enumerate(roles, start=1)]


async def _thread(services: Services, alert: Alert) -> tuple[str, str | None]:
    """Where the alert's reminders go: its own message's thread, or (an alert of a storm, which has no message of
    its own) the storm digest's."""
    if alert.message_ts is None and alert.digest_id is not None:
        digest = await store.digest(services.db, alert.digest_id)
        if digest is not None and digest.message_ts:
            return digest.message_channel or digest.channel, digest.message_ts
    return alert.message_channel or alert.channel, alert.message_ts


async def reminder_lost(services: Services, run: JobRun, error: Exception) -> None:
    """The reminder's retries are spent (Slack kept refusing it): logged and audited. The escalation steps were
    scheduled before it, so the follow-through goes on."""
    alert_id = run.payload.get("alert_id")
    logger.error("acknowledgement reminder not posted", alert=alert_id, error=repr(error))
    await record(services.db, "ack_reminder", outcome="error", detail={"alert": alert_id, "error": str(error)[:500]})


async def escalate(services: Services, alert_id: int, deadline_text: str, role: str) -> bool:
    """The ACK_ESCALATE job: the acknowledgement ran out, nobody answered the reminder: DM the next role. A Slack
    failure raises (the runner retries the page); the note in the thread is best effort."""
    alert = await store.get(services.db, alert_id)
    if alert is None or not _current(alert, datetime.fromisoformat(deadline_text)):
        return False
    now = services.clock.now()
    acknowledged = alert.ack_since or alert.acknowledged_at or now
    waited = messages.duration(now - acknowledged)
    reason = messages.say(messages.ACK_EXPIRED_REASON, waited=waited, role=role)
    who = (await who_is_on_call(services, now)).shift(role).user
    user = who if who and "@" not in who else None
    why = None if user else messages.say(messages.NOBODY_ON_CALL, role=role)
    if user:
        await services.slack.chat_postMessage(channel=user, text=messages.page_text(alert, reason))
    await record(
        services.db,
        "ack_escalate",
        outcome="ok" if user else "error",
        detail={"alert": alert_id, "role": role, "paged": user, "error": why, "deadline": deadline_text},
    )
    where, thread = await _thread(services, alert)
    if thread:
        await attempt(
            "escalation note not posted",
            services.slack.chat_postMessage(
                channel=where,
                thread_ts=thread,
                text=messages.ack_escalation_note(waited, role, user, why),
            ),
        )
    return user is not None


async def _locked_acknowledged(conn: Any, alert_id: int) -> Alert | str:
    """The alert, locked, if it fires under an acknowledgement; else what to answer."""
    alert = await store.get(conn, alert_id, for_update=True)
    if alert is None:
        raise NotFound(messages.NO_ALERT)
    if not alert.firing:
        return messages.say(messages.ALREADY_RESOLVED, alert)
    if alert.acknowledged_at is None:
        return messages.say(messages.NOT_ACKNOWLEDGED, alert)
    return alert


async def snooze(services: Services, alert_id: int, hours: int, actor: str, request_id: str) -> str:
    """*Snooze 1h / 4h*: the reminder (and the escalation after it) waits; recorded (audit) and shown."""
    if hours not in SNOOZE_HOURS:
        raise Invalid(messages.SNOOZE_HOURS)
    await policy.require(services, policy.Do.ALERT_SNOOZE, actor)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        alert = await _locked_acknowledged(conn, alert_id)
        if isinstance(alert, str):
            return alert
        until = max(now + timedelta(hours=hours), alert.ack_expires_at or now)
        alert = await start(services, conn, alert, now, until=until, snoozed_by=actor)
        detail = {"alert": alert_id, "hours": hours, "until": until.isoformat()}
        await record(conn, "snooze", actor=actor, request_id=request_id, detail=detail)
    await changed(services, alert.channel, f"snooze:{alert_id}:{int(until.timestamp())}")
    return messages.snoozed(alert, until, zone(services))


async def still_on_it(services: Services, alert_id: int, actor: str, request_id: str) -> str:
    """*Still on it*: acknowledged again (by whoever pressed it), a fresh window from now."""
    await policy.require(services, policy.Do.ALERT_ACKNOWLEDGE, actor)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        alert = await _locked_acknowledged(conn, alert_id)
        if isinstance(alert, str):
            return alert
        alert = await store.change(conn, alert_id, now, acknowledged_by=actor)
        alert = await start(services, conn, alert, now)
        detail = {"alert": alert_id, "until": (alert.ack_expires_at or now).isoformat()}
        await record(conn, "still_on_it", actor=actor, request_id=request_id, detail=detail)
    await changed(services, alert.channel, f"renew:{alert_id}:{int(now.timestamp())}")
    return messages.renewed(alert, zone(services))


async def record(
    db: Any, action: str, *, outcome: str = "ok", actor: str = "bot", request_id: str | None = None, detail: dict
) -> None:
    """One audit row of the alerts domain (kind `alert`), as flows.record writes them."""
    await audit.record(
        db, kind="alert", action=action, outcome=outcome, actor=actor, request_id=request_id, detail=detail
    )
