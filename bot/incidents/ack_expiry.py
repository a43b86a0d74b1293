"""Acknowledgements that expire. An acknowledgement of an open incident lasts `lasts()` without activity (config:
the severity's `ack_expires_after`, else `incidents.ack_expires_after`, else its ack_within, at least 30 min;
next_business_day: 24 h). Activity is any timeline entry a person made after the window began (an update, a
stage, severity or commander change, a checklist tick, an action item, a status page update: every entry with
an actor; the bot's own entries, pages, escalations and nudges, have none). With activity, the window runs from
the last of it; without, the acknowledger is reminded in the announcement's thread (*Still on it*, *Snooze 1h*,
*Snooze 4h*), then escalation resumes one role at a time (the secondary, then the manager), `step()` apart
(ack_within, at least 5 min), unless someone acts meanwhile: from the role after the acknowledger's, never the
acknowledger (`rota.lookup.resumed`).

Each window has one deadline (`incidents.ack_expires_at`); its expiry run and escalation steps are keyed by it, so
each deadline reminds once and pages each role once, on any replica; a renewal, a snooze or activity (a new
deadline) leaves the old runs with nothing to do. A resolved incident never reminds (the runs find it resolved);
reopening one that was acknowledged starts a fresh window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot import log, policy
from bot.errors import Invalid, NotFound
from bot.incidents import channel, guards, ids, messages, models, paging, records, refusals, store
from bot.incidents.ids import Job
from bot.incidents.models import Incident
from bot.jobs import JobRun
from bot.policy import Do, Subject
from bot.rota.lookup import resumed
from bot.services import Services, zone
from bot.slack.blocks import clock_time

logger = log.get("zzik.incidents")

MIN_LASTS = timedelta(minutes=30)  # the default acknowledgement never runs out sooner than this
MIN_STEP = timedelta(minutes=5)  # nor does escalation resume faster than one role per this
NEXT_BUSINESS_DAY = timedelta(hours=24)  # what next_business_day counts as here
ROLES = ("secondary", "manager")  # the incidents' escalation chain (scheduled.escalation_times)
SNOOZE_HOURS = (1, 4)


def lasts(services: Services, incident: Incident) -> timedelta:
    """How long an acknowledgement of `incident` lasts without activity."""
    level = services.config.severity(incident.severity)
    if level.ack_expires_after is not None:
        return level.ack_expires_after
    if services.config.incidents.ack_expires_after is not None:
        return services.config.incidents.ack_expires_after
    within = level.ack_within
    return max(within, MIN_LASTS) if isinstance(within, timedelta) else NEXT_BUSINESS_DAY


def step(services: Services, incident: Incident) -> timedelta:
    """How long each role has before the next one is paged, once escalation resumes."""
    within = services.config.severity(incident.severity).ack_within
    return max(within, MIN_STEP) if isinstance(within, timedelta) else NEXT_BUSINESS_DAY


def _current(incident: Incident | None, deadline: datetime) -> bool:
    """Open under the acknowledgement window that ends at `deadline` (none newer, not resolved)."""
    return (
        incident is not None
        and incident.is_open
        and incident.acknowledged_at is not None
        and incident.ack_expires_at == deadline
    )


async def start(
    services: Services,
    conn: Any,
    incident: Incident,
    since: datetime,
    *,
    until: datetime | None = None,
    snoozed_by: str | None = None,
) -> Incident:
    """In the caller's transaction (an acknowledgement, a renewal, a snooze, activity, a reopen): a fresh window
    from `since`, ending at `until` or after `lasts()`; the previous window's pending runs are cancelled."""
    deadline = until or since + lasts(services, incident)
    incident = await store.update(
        conn,
        incident.id,
        ack_since=since,
        ack_expires_at=deadline,
        snoozed_until=until if snoozed_by else None,
        snoozed_by=snoozed_by,
        ack_reminder_ts=None,
    )
    await services.jobs.cancel_prefix(conn, Job.ACK_EXPIRED, ids.prefix(incident.id))
    await services.jobs.cancel_prefix(conn, Job.ACK_ESCALATE, ids.prefix(incident.id))
    payload = {"incident_id": incident.id, "deadline": deadline.isoformat()}
    key = ids.key(incident.id, deadline.isoformat())
    await services.jobs.schedule_once(conn, Job.ACK_EXPIRED, key, deadline, payload)
    return incident


async def _active(services: Services, conn: Any, incident: Incident) -> bool:
    """Someone did something since the window began: the window runs again from the last of it."""
    since = incident.ack_since or incident.acknowledged_at or incident.declared_at
    last = await store.last_activity(conn, incident.id, since)
    if last is None:
        return False
    await start(services, conn, incident, last)
    return True


async def expired(services: Services, incident_id: int, deadline_text: str) -> bool:
    """The ACK_EXPIRED job: with no activity since the window began, remind the acknowledger in the thread and
    schedule the escalation steps (once per deadline). A Slack failure raises: the reminder is retried."""
    deadline = datetime.fromisoformat(deadline_text)
    if not _current(await store.get(services.db, incident_id), deadline):
        return False
    now = services.clock.now()
    on_call = await paging.on_call_now(services)
    async with services.db.transaction() as conn:
        incident = await guards.locked(conn, incident_id)
        if not _current(incident, deadline) or await _active(services, conn, incident):
            return False
        every = step(services, incident)
        roles = resumed(on_call, list(ROLES), incident.acknowledged_by or incident.commander)
        first_try = not roles and not incident.ack_reminder_ts  # nobody left to page: no steps to tell a retry by
        for number, role in enumerate(roles, start=1):
            key = ids.key(incident_id, "ack", deadline_text, number)
            payload = {"incident_id": incident_id, "deadline": deadline_text, "role": role}
            first_try |= await services.jobs.schedule_once(conn, Job.ACK_ESCALATE, key, now + every * number, payload)
        if first_try:
            who = incident.acknowledged_by or incident.commander
            await store.add_event(conn, incident_id, now, None, "ack_reminder", records.ack_reminder_entry(who))
    if incident.ack_reminder_ts:
        return True  # posted by an earlier try, which failed after it
    text, blocks = messages.ack_reminder(incident, now, roles[0] if roles else None, every)
    if incident.announcement_ts:
        where, thread = incident.announced_in, incident.announcement_ts
    else:
        where, thread = incident.channel_id or services.config.channels.incidents, None
    posted = await services.slack.chat_postMessage(channel=where, thread_ts=thread, text=text, blocks=blocks)
    async with services.db.transaction() as conn:
        await store.update(conn, incident_id, ack_reminder_ts=str(posted["ts"]))
    return True


async def reminder_lost(services: Services, run: JobRun, error: Exception) -> None:
    """The reminder's retries are spent (Slack kept refusing it): logged and on the timeline. The escalation steps
    were scheduled before it, so the follow-through goes on."""
    incident_id = run.payload.get("incident_id")
    logger.error("acknowledgement reminder not posted", incident=incident_id, error=repr(error))
    if isinstance(incident_id, int):
        entry = records.ack_reminder_lost_entry(str(error)[:300])
        await store.add_event(services.db, incident_id, services.clock.now(), None, "ack_reminder", entry)


async def escalate(services: Services, incident_id: int, deadline_text: str, role: str, run_key: str) -> bool:
    """The ACK_ESCALATE job: nobody answered the reminder and nothing happened: page the next role (recorded first,
    sent by the incidents' paging, which retries what Slack does not take)."""
    deadline = datetime.fromisoformat(deadline_text)
    incident = await store.get(services.db, incident_id)
    if incident is None or not _current(incident, deadline):
        return False
    now = services.clock.now()
    waited = models.duration(incident.ack_since or incident.acknowledged_at or now, now)
    reason, reason_key = messages.ack_ran_out(waited), f"ackx:{run_key}"
    on_call = await paging.on_call_now(services)
    async with services.db.transaction() as conn:
        incident = await guards.locked(conn, incident_id)
        if not _current(incident, deadline) or await _active(services, conn, incident):
            return False
        await paging.record_pages(services, conn, incident, [role], reason_key, reason, on_call)
    return await paging.escalation_sent(services, incident, role, reason_key, waited, now, records.ack_escalated_entry)


async def _acknowledged_open(conn: Any, incident_id: int) -> Incident:
    incident = await guards.locked_open(conn, incident_id)
    if incident.acknowledged_at is None:
        raise Invalid(messages.not_acknowledged_yet(incident))
    return incident


async def _may_postpone(services: Services, incident_id: int, actor: str, what: str) -> None:
    """Snooze and *Still on it* both put the escalation off: the incident exists and Do.INCIDENT_SNOOZE allows
    `actor` (`what` names the act, `{ref}` the incident, for a refusal)."""
    incident = await store.get(services.db, incident_id)
    if incident is None:
        raise NotFound(refusals.NO_INCIDENT)
    subject = Subject(commander=incident.commander)
    await policy.require(services, Do.INCIDENT_SNOOZE, actor, subject, what=what.format(ref=incident.ref))


async def snooze(services: Services, incident_id: int, hours: int, actor: str, request_id: str) -> str:
    """*Snooze 1h / 4h*: the reminder (and the escalation after it) waits; a timeline entry, shown on the
    announcement. Who may: Do.INCIDENT_SNOOZE."""
    if hours not in SNOOZE_HOURS:
        raise Invalid(messages.SNOOZE_HOURS)
    await _may_postpone(services, incident_id, actor, "snooze {ref}'s reminder")
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await _acknowledged_open(conn, incident_id)
        until = max(now + timedelta(hours=hours), incident.ack_expires_at or now)
        incident = await start(services, conn, incident, now, until=until, snoozed_by=actor)
        shown = clock_time(until, zone(services))
        await store.add_event(conn, incident_id, now, actor, "ack_snoozed", records.ack_snoozed_entry(shown))
        await guards.audit(conn, "snooze", actor, incident, request_id=request_id, until=until.isoformat())
    await channel.refresh(services, incident)
    return messages.ack_snoozed(incident, shown)


async def still_on_it(services: Services, incident_id: int, actor: str, request_id: str) -> str:
    """*Still on it*: acknowledged again (by whoever pressed it), a fresh window. It postpones the escalation as a
    snooze does, so the same people may: Do.INCIDENT_SNOOZE."""
    await _may_postpone(services, incident_id, actor, "renew {ref}'s acknowledgement")
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await _acknowledged_open(conn, incident_id)
        incident = await store.update(conn, incident_id, acknowledged_by=actor)
        incident = await start(services, conn, incident, now)
        await store.add_event(conn, incident_id, now, actor, "ack_renewed", records.ACK_RENEWED)
        await guards.audit(conn, "still_on_it", actor, incident, request_id=request_id)
    await channel.refresh(services, incident)
    shown = clock_time(incident.ack_expires_at or now, zone(services))
    return messages.ack_renewed(incident, shown)
