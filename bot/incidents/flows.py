"""Incident stories, each told top to bottom: check, write to Postgres in one transaction, then talk to Slack.
Each returns a value (outcomes.py) that messages.answer puts into words. The Slack set-up is in setup.py, paging
in paging.py, timed work in scheduled.py, command of an incident in commander.py."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from bot import log, policy
from bot.errors import AlreadyDone, Invalid, NotFound, UsageError
from bot.events import Published
from bot.incidents import (
    ack_expiry,
    channel,
    events,
    guards,
    ids,
    messages,
    models,
    paging,
    records,
    refusals,
    scheduled,
    setup,
    store,
)
from bot.incidents.enums import Severity
from bot.incidents.ids import Job
from bot.incidents.models import Incident
from bot.incidents.outcomes import Acknowledged, Declared, Joined, Reopened, Resolved, SeverityChanged, StageChanged
from bot.policy import Do, Subject
from bot.rota.lookup import OnCall
from bot.services import Services, zone
from bot.slack.blocks import message_parts, selection_change
from bot.slack.client import SLACK_FAILURES, slack_error

logger = log.get("zzik.incidents")


async def declare(
    services: Services,
    *,
    key: str,
    title: str,
    severity: Severity,
    reporter: str,
    commander: str | None = None,
    description: str | None = None,
    origin_channel: str | None = None,
    request_id: str | None = None,
    response_url: str | None = None,
    shortened: bool = False,
    set_up: bool = True,
    alert_id: int | None = None,
) -> Declared:
    """The incident row and its set-up job in one transaction; then (`set_up`) the set-up runs here at once (or,
    after a crash, on whichever replica ticks next). A repeated key declares nothing.

    A Slack handler passes set_up=False: it acks once the incident is stored, then calls `start_setup`.
    `alert_id`: the alert it is declared from (IncidentDeclared carries it; the alerts domain links them)."""
    now = services.clock.now()
    on_call = await paging.on_call_now(services)  # read before the transaction: see on_call_now
    commander = commander or await default_commander(services, reporter, on_call)
    async with services.db.transaction() as conn:
        incident, created = await store.declare(
            conn,
            key=key,
            title=title,
            description=description,
            severity=severity,
            stage=services.config.incidents.stages[0].name,
            commander=commander,
            reporter=reporter,
            origin_channel=origin_channel,
            at=now,
        )
        published = None
        if created:
            reply = setup.Reply(reporter, response_url, "declare", shortened)
            published = await _declared(services, conn, incident, reply, request_id, on_call, alert_id)
    declared = Declared(incident, created, published)
    if set_up:
        await start_setup(services, declared)
    return declared


async def declare_durably(services: Services, *, key: str, **declaration: Any) -> bool:
    """Store the declaration to make (`declare`'s keywords) as a job run: one INSERT on the pool, which commits by
    itself, so Slack's ack waits one round trip, not the declaration's transaction. Then `run_now(DECLARE, key)`
    declares and sets up at once; a crash after the ack leaves it to whichever replica ticks next.
    (Job.DECLARE: `/incident p1 …`'s declaration as a durable job, key: the declare key.)
    False if this key's declaration is stored already (its run answers)."""
    declaration["severity"] = str(declaration["severity"])
    # one statement on the pool, not a transaction: Database has the connection's fetchval
    return await services.jobs.schedule_once(
        services.db,  # type: ignore[arg-type]
        Job.DECLARE,
        key,
        services.clock.now(),
        {"key": key, **declaration},
    )


async def run_declare(services: Services, declaration: dict[str, Any]) -> Declared:
    """The DECLARE run: the declaration stored by `declare_durably`, then its set-up."""
    values = dict(declaration)
    values["severity"] = Severity(values["severity"])
    return await declare(services, **values)


async def start_setup(services: Services, declared: Declared) -> None:
    """Run a new incident's first page round, its set-up and the subscribers of its declaration (PagerDuty's
    trigger among them) here, now and side by side (a ticker that got to one first runs it there instead)."""
    if declared.created:
        await setup.start(services, declared.incident.id, declared.published)


async def _declared(
    services: Services,
    conn: Any,
    incident: Incident,
    reply: setup.Reply,
    request_id: str | None,
    on_call: OnCall,
    alert_id: int | None,
) -> Published:
    """What a new incident brings along in its transaction: the timeline, timers, the set-up job, the pages,
    the audit and IncidentDeclared (its subscribers: PagerDuty, the status page, the alert it came from)."""
    now = incident.declared_at
    await store.add_event(conn, incident.id, now, incident.reporter, "declared", records.declared_entry(incident))
    await scheduled.schedule_escalations(services, conn, incident, now)
    await scheduled.schedule_nudge(services, conn, incident, now)
    await services.jobs.schedule_once(
        conn, Job.SETUP, ids.key(incident.id, 1), now, {"incident_id": incident.id, "reply": reply.payload()}
    )
    await paging.record_declared(services, conn, incident, on_call)
    await guards.audit(
        conn,
        "declare",
        incident.reporter,
        incident,
        channel=incident.origin_channel,
        request_id=request_id,
        severity=incident.severity,
        title=incident.title,
    )
    declared = events.IncidentDeclared(
        incident_id=incident.id, severity=incident.severity, actor=incident.reporter, alert_id=alert_id
    )
    return await services.events.publish(conn, declared)


async def default_commander(services: Services, reporter: str, on_call: OnCall) -> str:
    """The manual: "Primary: first responder, incident commander". Config `incidents.default_commander`."""
    if services.config.incidents.default_commander == "reporter":
        return reporter
    primary = on_call.primary.user
    resolved = await services.users.resolve(primary) if primary else None
    return resolved or reporter


async def listing(services: Services) -> str:
    """/incident list: the open incidents, most severe first."""
    return messages.listing(await store.open_incidents(services.db), services.clock.now())


async def in_channel(services: Services, channel_id: str | None) -> Incident:
    incident = await store.by_channel(services.db, channel_id) if channel_id else None
    if incident is None:
        raise UsageError(refusals.NOT_IN_INCIDENT_CHANNEL)
    return incident


async def post_update(services: Services, incident: Incident, actor: str, text: str) -> Incident:
    guards.must_be_open(incident)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await store.update(conn, incident.id, last_update_at=now)
        await store.add_event(conn, incident.id, now, actor, "update", text)
    message = messages.update(incident, actor, text)
    posts = [services.slack.chat_postMessage(channel=incident.slack_channel, text=message)]
    if incident.announcement_ts:
        posts.append(
            services.slack.chat_postMessage(
                channel=incident.announced_in,
                thread_ts=incident.announcement_ts,
                reply_broadcast=True,
                text=message,
            )
        )
    results = await asyncio.gather(*posts, channel.refresh(services, incident), return_exceptions=True)
    _raise_unexpected(results)
    return incident


def _raise_unexpected(results: list[Any]) -> None:
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, SLACK_FAILURES):
            raise result
        if isinstance(result, SLACK_FAILURES):
            logger.warning("slack call failed after the change was recorded", error=slack_error(result))


async def change_severity(services: Services, incident: Incident, actor: str, severity: Severity) -> SeverityChanged:
    now = services.clock.now()
    on_call = await paging.on_call_now(services)
    async with services.db.transaction() as conn:
        # The row lock serializes changes: of simultaneous identical changes one happens, the rest are told.
        incident = await guards.locked_open(conn, incident.id)
        if severity == incident.severity:
            raise AlreadyDone(refusals.already_severity(incident))
        escalation = severity.worse_than(incident.severity)
        old = incident.severity
        incident = await store.update(conn, incident.id, severity=severity)
        await store.add_event(conn, incident.id, now, actor, "severity", records.severity_entry(old, severity))
        await scheduled.cancel(services, conn, incident.id, Job.ESCALATE, Job.NUDGE)
        if incident.acknowledged_at is None:
            await scheduled.schedule_escalations(services, conn, incident, now)
        await scheduled.schedule_nudge(services, conn, incident, now)
        changed = events.SeverityChanged(incident_id=incident.id, old=old, new=severity, actor=actor, at=now)
        reason_key = f"severity:{changed.change_id}"
        published = await services.events.publish(conn, changed)
        if escalation:
            # Recorded with the change, so a crash before they are sent leaves them to the retry job.
            await paging.record_pages(
                services,
                conn,
                incident,
                paging.paged_roles(services, severity),
                reason_key,
                messages.escalated_to(severity),
                on_call,
            )
            # The page job is the safety net (a crash before the send below); this request sends them at once.
            await paging.schedule_round(services, conn, incident.id, now, delay=paging.PAGE_LEASE)
    await services.events.after_commit(published)
    paged = await _page_escalation(services, incident, reason_key) if escalation else None
    await channel.refresh(services, incident, topic=True)
    return SeverityChanged(incident, old, paged)


async def _page_escalation(services: Services, incident: Incident, reason_key: str) -> list[models.Page]:
    """Send the pages a severity escalation recorded; who was reached joins the channel. Returns those pages."""
    await paging.deliver(services, incident)
    mine = [
        p
        for p in await store.pages(services.db, incident.id)
        if p.page_key.startswith(ids.prefix(incident.id, reason_key))
    ]
    await channel.invite(services, incident, [p.user_id for p in mine if p.delivered_at])
    return mine


def _stage_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


async def change_stage(services: Services, incident: Incident, actor: str, name: str) -> StageChanged:
    guards.must_be_open(incident)
    stages = [s.name for s in services.config.incidents.stages]
    wanted = _stage_key(name)
    matches = [s for s in stages if _stage_key(s) == wanted] or [s for s in stages if _stage_key(s).startswith(wanted)]
    if len(matches) != 1:
        raise Invalid(refusals.not_a_stage(name, stages))
    stage = matches[0]
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await guards.locked_open(conn, incident.id)
        if stage == incident.stage:
            raise AlreadyDone(refusals.already_stage(incident))
        previous = incident.stage
        incident = await store.update(conn, incident.id, stage=stage)
        await store.add_event(conn, incident.id, now, actor, "stage", records.stage_entry(previous, stage))
    await asyncio.gather(channel.refresh(services, incident, topic=True), channel.refresh_kickoff(services, incident))
    return StageChanged(incident)


async def may_resolve(services: Services, incident: Incident, actor: str) -> None:
    await policy.require(
        services, Do.INCIDENT_RESOLVE, actor, Subject(commander=incident.commander), what=f"resolve {incident.ref}"
    )


async def reopen(services: Services, incident: Incident, actor: str, request_id: str) -> Reopened:
    """A resolved incident back to work (its commander or a manager): open again at triage, reminders resumed."""
    await policy.require(
        services, Do.INCIDENT_REOPEN, actor, Subject(commander=incident.commander), what=f"reopen {incident.ref}"
    )
    now = services.clock.now()
    stages = services.config.incidents.stages
    async with services.db.transaction() as conn:
        incident = await guards.locked(conn, incident.id)
        if incident.is_open:
            raise AlreadyDone(refusals.still_open(incident))
        incident = await store.reopen(conn, incident.id, stages[min(1, len(stages) - 1)].name, now)
        await store.add_event(conn, incident.id, now, actor, "reopened", "reopened")
        await scheduled.schedule_nudge(services, conn, incident, now)
        if incident.acknowledged_at is not None:  # a fresh acknowledgement window
            incident = await ack_expiry.start(services, conn, incident, now)
        reopened = events.IncidentReopened(incident_id=incident.id, actor=actor, at=now)
        published = await services.events.publish(conn, reopened)
        await guards.audit(conn, "reopen", actor, incident, channel=incident.channel_id, request_id=request_id)
    await services.events.after_commit(published)
    await asyncio.gather(channel.refresh(services, incident, topic=True), channel.refresh_kickoff(services, incident))
    return Reopened(incident)


async def resolve(
    services: Services, incident: Incident, actor: str, summary: str | None, request_id: str, *, via: str | None = None
) -> Resolved:
    """Resolve it (`via`: the outside system it was resolved in, whose subscriber need not hear it back)."""
    guards.must_be_open(incident)
    await may_resolve(services, incident, actor)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        await guards.locked_open(conn, incident.id)
        incident = await store.resolve(
            conn, incident.id, actor, summary, services.config.incidents.stages[-1].name, now
        )
        ttr, tta = messages.times_to_resolve(incident)
        await store.add_event(conn, incident.id, now, actor, "resolved", records.resolved_entry(incident, ttr, tta))
        await scheduled.cancel(services, conn, incident.id, Job.ESCALATE, Job.NUDGE)
        resolved = events.IncidentResolved(incident_id=incident.id, actor=actor, at=now, via=via)
        published = await services.events.publish(conn, resolved)
        where = incident.channel_id
        await guards.audit(conn, "resolve", actor, incident, channel=where, request_id=request_id, ttr=ttr, tta=tta)
    await services.events.after_commit(published)
    text, blocks = messages.resolved(incident, services.config)
    results = await asyncio.gather(
        services.slack.chat_postMessage(channel=incident.slack_channel, text=text, blocks=blocks),
        channel.refresh(services, incident, topic=True),
        channel.refresh_kickoff(services, incident),
        return_exceptions=True,
    )
    _raise_unexpected(list(results))
    return Resolved(incident)


async def acknowledge(
    services: Services, incident_id: int, actor: str | None, *, via: str | None = None
) -> Acknowledged:
    """The Acknowledge button (and, through PagerDuty, an acknowledgement there: `via` "pagerduty", whose actor
    may be unknown): escalation stops."""
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await guards.locked(conn, incident_id)
        if incident.acknowledged_at is not None:
            return Acknowledged(incident, already=True)
        guards.must_be_open(incident)
        incident = await store.update(conn, incident_id, acknowledged_at=now, acknowledged_by=actor)
        incident = await ack_expiry.start(services, conn, incident, now)  # it runs out without activity
        await store.add_event(conn, incident_id, now, actor, "acknowledged", records.acknowledged_entry(incident, now))
        await scheduled.cancel(services, conn, incident_id, Job.ESCALATE)
        acknowledged = events.IncidentAcknowledged(incident_id=incident_id, actor=actor, at=now, via=via)
        published = await services.events.publish(conn, acknowledged)
    await services.events.after_commit(published)
    await channel.refresh(services, incident)
    return Acknowledged(incident)


async def join(services: Services, incident_id: int, actor: str) -> Joined:
    incident = await store.get(services.db, incident_id)
    if incident is None or not incident.channel_id:
        raise NotFound(refusals.NO_CHANNEL_YET)
    return Joined(incident, await channel.invite(services, incident, [actor]))


async def tick_stage(
    services: Services, incident_id: int, stage: int, selected: set[int], actor: str, scope: set[int] | None = None
) -> None:
    """Checkboxes report the whole selection: apply the difference, so a double click changes nothing."""
    stages = services.config.incidents.stages
    if not 0 <= stage < len(stages):
        raise NotFound(refusals.NO_CHECKLIST)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await guards.locked_open(conn, incident_id)
        current = [i for (s, i) in await store.checks(conn, incident_id) if s == stage]
        change = selection_change(selected, current, scope)
        name, items = stages[stage].name, stages[stage].items
        for item in change.tick:
            if item < len(items) and await store.tick(conn, incident_id, stage, item, actor, now):
                entry = records.check_entry(name, items[item], ticked=True)
                await store.add_event(conn, incident_id, now, actor, "check", entry)
        for item in change.untick:
            if await store.untick(conn, incident_id, stage, item):
                entry = records.check_entry(name, items[item], ticked=False)
                await store.add_event(conn, incident_id, now, actor, "check", entry)
    await channel.refresh_kickoff(services, incident)


async def post_postmortem(services: Services, incident: Incident) -> None:
    """The draft in as many messages as Slack's 50 blocks need: a long P1's is split, never cut."""
    parts = message_parts(await postmortem(services, incident))
    for n, part in enumerate(parts, start=1):
        text = messages.postmortem_part(incident, n, len(parts))
        await services.slack.chat_postMessage(channel=incident.slack_channel, text=text, blocks=part)


async def timeline(services: Services, incident: Incident) -> tuple[str, list[dict[str, Any]]]:
    return records.timeline(incident, await store.events(services.db, incident.id), zone(services))


async def postmortem(services: Services, incident: Incident) -> list[dict[str, Any]]:
    events = await store.events(services.db, incident.id)
    items = await store.actions(services.db, incident.id)
    text = records.postmortem(
        services.config.incidents.postmortem_template,
        incident,
        events,
        items,
        zone(services),
        services.clock.now(),
    )
    return records.split_text(text)
