"""Incident stories, each told top to bottom: check, write to Postgres in one transaction, then talk to Slack.
The Slack set-up is in setup.py, paging in paging.py, timed work in scheduled.py, command in command.py."""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import audit, log, policy
from bot.errors import UsageError
from bot.incidents import channel, guards, messages, paging, scheduled, setup, store
from bot.incidents.store import Incident
from bot.oncall.lookup import who_is_on_call
from bot.pagerduty import flows as pagerduty
from bot.policy import Do, Subject
from bot.services import Services
from bot.slack.blocks import message_parts
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.text import escape, mention, mrkdwn
from bot.status import hooks as status

logger = log.get("zzik.incidents")
SEVERITY_RANK = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}


@dataclass
class Declared:
    incident: Incident
    created: bool


async def declare(
    services: Services,
    *,
    key: str,
    title: str,
    severity: str,
    reporter: str,
    commander: str | None = None,
    description: str | None = None,
    origin_channel: str | None = None,
    request_id: str | None = None,
    response_url: str | None = None,
    shortened: bool = False,
) -> Declared:
    """The incident row and its set-up job in one transaction; then the set-up runs here at once (or, after a
    crash, on whichever replica ticks next). A repeated key declares nothing."""
    now = services.clock.now()
    commander = commander or await default_commander(services, reporter, now)
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
        if created:
            await store.add_event(
                conn,
                incident.id,
                now,
                reporter,
                "declared",
                f"declared {severity}: {title}" + (f" (commander {commander})" if commander != reporter else ""),
            )
            await scheduled.schedule_escalations(services, conn, incident, now)
            await scheduled.schedule_nudge(services, conn, incident, now)
            reply = setup.Reply(reporter, response_url, "declare", shortened)
            await services.jobs.schedule_once(
                conn, setup.SETUP, f"{incident.id}:1", now, {"incident_id": incident.id, "reply": reply.payload()}
            )
            await status.incident_declared(services, conn, incident, now)
            await pagerduty.incident_declared(services, conn, incident, now)
            await audit.record(
                conn,
                kind="incident",
                action="declare",
                outcome="ok",
                actor=reporter,
                channel=origin_channel,
                request_id=request_id,
                detail={"incident": incident.ref, "severity": severity, "title": title},
            )
    if created:
        await services.jobs.run_now(setup.SETUP, f"{incident.id}:1")
    return Declared(incident, created)


async def default_commander(services: Services, reporter: str, at: datetime) -> str:
    """The manual: "Primary: first responder, incident commander". Config `incidents.default_commander`."""
    if services.config.incidents.default_commander == "reporter":
        return reporter
    primary = (await who_is_on_call(services, at)).primary.user
    resolved = await services.users.resolve(primary) if primary else None
    return resolved or reporter


def already_declared(incident: Incident) -> str:
    return f"That declaration was already made: {incident.ref}, {messages.channel_ref(incident)}."


async def listing(services: Services) -> str:
    """/incident list: the open incidents, most severe first."""
    return messages.listing(await store.open_incidents(services.db), services.clock.now())


async def in_channel(services: Services, channel_id: str | None) -> Incident:
    incident = await store.by_channel(services.db, channel_id) if channel_id else None
    if incident is None:
        raise UsageError("Run this in an incident's channel (`/incident list` shows the open ones).")
    return incident


async def post_update(services: Services, incident: Incident, actor: str, text: str) -> Incident:
    guards.must_be_open(incident)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await store.update(conn, incident.id, last_update_at=now)
        await store.add_event(conn, incident.id, now, actor, "update", text)
    message = f":mega: *{incident.ref} update* from {mention(actor)}: {mrkdwn(text)}"
    posts = [services.slack.chat_postMessage(channel=incident.channel_id, text=message)]
    if incident.announcement_ts:
        posts.append(
            services.slack.chat_postMessage(
                channel=incident.announcement_channel,
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


async def change_severity(services: Services, incident: Incident, actor: str, severity: str) -> str:
    now = services.clock.now()
    async with services.db.transaction() as conn:
        # The row lock serializes changes: of simultaneous identical changes one happens, the rest are told.
        incident = await guards.locked(conn, incident.id)
        guards.must_be_open(incident)
        if severity == incident.severity:
            raise UsageError(f"{incident.ref} is already {severity}.", usage=False)
        escalation = SEVERITY_RANK[severity] < SEVERITY_RANK[incident.severity]
        old = incident.severity
        incident = await store.update(conn, incident.id, severity=severity)
        await store.add_event(conn, incident.id, now, actor, "severity", f"severity {old} → {severity}")
        await services.jobs.cancel_prefix(conn, scheduled.ESCALATE, f"{incident.id}:")
        await services.jobs.cancel_prefix(conn, scheduled.NUDGE, f"{incident.id}:")
        if incident.acknowledged_at is None:
            await scheduled.schedule_escalations(services, conn, incident, now)
        await scheduled.schedule_nudge(services, conn, incident, now)
        await status.incident_severity_changed(services, conn, incident, now)
        pd_run = await pagerduty.incident_severity_changed(services, conn, incident, now)
        reason_key = f"severity:{uuid.uuid4().hex[:12]}"
        if escalation:
            # Recorded with the change, so a crash before they are sent leaves them to the retry job.
            await paging.record_pages(
                services, conn, incident, paging.paged_roles(services, severity), reason_key, f"Escalated to {severity}"
            )
            await paging.schedule_retry(services, conn, incident.id, now)
    await pagerduty.send_now(services, pd_run)
    answer = f"{incident.ref} is now {severity} (was {old})."
    if escalation:
        await paging.deliver(services, incident)
        prefix = f"{incident.id}:{reason_key}:"
        mine = [p for p in await store.pages(services.db, incident.id) if p.page_key.startswith(prefix)]
        await channel.invite(services, incident, [p.user_id for p in mine if p.delivered_at])
        answer += " " + messages.paged_line(mine)
    await channel.refresh(services, incident, topic=True)
    return answer.strip()


def _stage_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


async def change_stage(services: Services, incident: Incident, actor: str, name: str) -> str:
    guards.must_be_open(incident)
    stages = [s.name for s in services.config.incidents.stages]
    wanted = _stage_key(name)
    matches = [s for s in stages if _stage_key(s) == wanted] or [s for s in stages if _stage_key(s).startswith(wanted)]
    if len(matches) != 1:
        raise UsageError(f"`{mrkdwn(name)}` is not a stage; the stages are: {', '.join(stages)}.", usage=False)
    stage = matches[0]
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await guards.locked(conn, incident.id)
        guards.must_be_open(incident)
        if stage == incident.stage:
            raise UsageError(f"{incident.ref} is already at {stage}.", usage=False)
        previous = incident.stage
        incident = await store.update(conn, incident.id, stage=stage)
        await store.add_event(conn, incident.id, now, actor, "stage", f"stage {escape(previous)} → {escape(stage)}")
    await asyncio.gather(channel.refresh(services, incident, topic=True), channel.refresh_kickoff(services, incident))
    return f"{incident.ref} moved to *{stage}*."


async def may_resolve(services: Services, incident: Incident, actor: str) -> None:
    await policy.require(
        services, Do.INCIDENT_RESOLVE, actor, Subject(commander=incident.commander), what=f"resolve {incident.ref}"
    )


async def reopen(services: Services, incident: Incident, actor: str, request_id: str) -> str:
    """A resolved incident back to work (its commander or a manager): open again at triage, reminders resumed."""
    await policy.require(
        services, Do.INCIDENT_REOPEN, actor, Subject(commander=incident.commander), what=f"reopen {incident.ref}"
    )
    now = services.clock.now()
    stages = services.config.incidents.stages
    async with services.db.transaction() as conn:
        incident = await guards.locked(conn, incident.id)
        if incident.is_open:
            raise UsageError(f"{incident.ref} is open; there is nothing to reopen.", usage=False)
        incident = await store.update(
            conn,
            incident.id,
            status="open",
            resolved_at=None,
            resolved_by=None,
            stage=stages[min(1, len(stages) - 1)].name,
            last_update_at=now,
        )
        await store.add_event(conn, incident.id, now, actor, "reopened", "reopened")
        await scheduled.schedule_nudge(services, conn, incident, now)
        await audit.record(
            conn,
            kind="incident",
            action="reopen",
            outcome="ok",
            actor=actor,
            channel=incident.channel_id,
            request_id=request_id,
            detail={"incident": incident.ref},
        )
    await asyncio.gather(channel.refresh(services, incident, topic=True), channel.refresh_kickoff(services, incident))
    return f"{incident.ref} is reopened, back at *{incident.stage}*; {mention(incident.commander)} has command."


async def resolve(services: Services, incident: Incident, actor: str, summary: str | None, request_id: str) -> str:
    guards.must_be_open(incident)
    await may_resolve(services, incident, actor)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        current = await store.get(conn, incident.id, for_update=True)
        assert current is not None
        guards.must_be_open(current)
        incident = await store.update(
            conn,
            incident.id,
            status="resolved",
            resolved_at=now,
            resolved_by=actor,
            summary=summary,
            stage=services.config.incidents.stages[-1].name,
        )
        tta = (
            store.duration(incident.declared_at, incident.acknowledged_at)
            if incident.acknowledged_at
            else "never acknowledged"
        )
        ttr = store.duration(incident.declared_at, now)
        await store.add_event(
            conn,
            incident.id,
            now,
            actor,
            "resolved",
            f"resolved after {ttr} (time to acknowledge: {tta})" + (f": {summary}" if summary else ""),
        )
        await services.jobs.cancel_prefix(conn, scheduled.ESCALATE, f"{incident.id}:")
        await services.jobs.cancel_prefix(conn, scheduled.NUDGE, f"{incident.id}:")
        await status.incident_resolved(services, conn, incident, actor, now)
        pd_run = await pagerduty.incident_resolved(services, conn, incident, now)
        await audit.record(
            conn,
            kind="incident",
            action="resolve",
            outcome="ok",
            actor=actor,
            channel=incident.channel_id,
            request_id=request_id,
            detail={"incident": incident.ref, "ttr": ttr, "tta": tta},
        )
    await pagerduty.send_now(services, pd_run)
    results = await asyncio.gather(
        services.slack.chat_postMessage(
            channel=incident.channel_id,
            text=f"{incident.ref} resolved",
            blocks=messages.resolved_checklist(incident, services.config),
        ),
        channel.refresh(services, incident, topic=True),
        channel.refresh_kickoff(services, incident),
        return_exceptions=True,
    )
    _raise_unexpected(list(results))
    return f"{incident.ref} resolved after {ttr} (time to acknowledge: {tta})."


async def acknowledge(services: Services, incident_id: int, actor: str) -> str:
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await store.get(conn, incident_id, for_update=True)
        if incident is None:
            raise UsageError("That incident does not exist.", usage=False)
        if incident.acknowledged_at is not None:
            return (
                f"{incident.ref} was already acknowledged by "
                f"{mention(incident.acknowledged_by) if incident.acknowledged_by else 'someone in PagerDuty'} "
                f"at {messages.when(incident.acknowledged_at, services.config.oncall.zone)}."
            )
        guards.must_be_open(incident)
        incident = await store.update(conn, incident_id, acknowledged_at=now, acknowledged_by=actor)
        await store.add_event(
            conn,
            incident_id,
            now,
            actor,
            "acknowledged",
            f"acknowledged after {store.duration(incident.declared_at, now)}",
        )
        await services.jobs.cancel_prefix(conn, scheduled.ESCALATE, f"{incident_id}:")
        pd_run = await pagerduty.incident_acknowledged(services, conn, incident, now)
    await pagerduty.send_now(services, pd_run)
    await channel.refresh(services, incident)
    return f"You acknowledged {incident.ref}."


async def join(services: Services, incident_id: int, actor: str) -> str:
    incident = await store.get(services.db, incident_id)
    if incident is None or not incident.channel_id:
        raise UsageError("That incident has no channel yet; its reporter can retry the set-up.", usage=False)
    failures = await channel.invite(services, incident, [actor])
    if failures:
        return failures[0]
    return f"You are in {messages.channel_ref(incident)}."


async def tick_stage(
    services: Services, incident_id: int, stage: int, selected: set[int], actor: str, scope: set[int] | None = None
) -> None:
    """Checkboxes report the whole selection: apply the difference, so a double click changes nothing."""
    stages = services.config.incidents.stages
    if not 0 <= stage < len(stages):
        raise UsageError("That checklist is not part of this incident any more.", usage=False)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await guards.locked(conn, incident_id)
        guards.must_be_open(incident)
        current = {
            i for (s, i) in await store.checks(conn, incident_id) if s == stage and (scope is None or i in scope)
        }
        items = stages[stage].items
        for item in sorted(selected - current):
            if item < len(items) and await store.tick(conn, incident_id, stage, item, actor, now):
                await store.add_event(
                    conn, incident_id, now, actor, "check", f"✓ {escape(stages[stage].name)}: {escape(items[item])}"
                )
        for item in sorted(current - selected):
            if await store.untick(conn, incident_id, stage, item):
                await store.add_event(
                    conn,
                    incident_id,
                    now,
                    actor,
                    "check",
                    f"unticked {escape(stages[stage].name)}: {escape(items[item])}",
                )
    await channel.refresh_kickoff(services, incident)


async def post_postmortem(services: Services, incident: Incident) -> None:
    """The draft in as many messages as Slack's 50 blocks need: a long P1's is split, never cut."""
    parts = message_parts(await postmortem(services, incident))
    for n, part in enumerate(parts, start=1):
        suffix = f" (part {n} of {len(parts)})" if len(parts) > 1 else ""
        await services.slack.chat_postMessage(
            channel=incident.channel_id, text=f"Post-mortem draft of {incident.ref}{suffix}", blocks=part
        )


async def timeline(services: Services, incident: Incident) -> tuple[str, list[dict[str, Any]]]:
    return messages.timeline(incident, await store.events(services.db, incident.id), services.config.oncall.zone)


async def postmortem(services: Services, incident: Incident) -> list[dict[str, Any]]:
    events = await store.events(services.db, incident.id)
    items = await store.actions(services.db, incident.id)
    text = messages.postmortem(
        services.config.incidents.postmortem_template,
        incident,
        events,
        items,
        services.config.oncall.zone,
        services.clock.now(),
    )
    return messages.split_text(text)
