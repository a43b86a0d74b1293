"""Incident stories, each told top to bottom: check, write to Postgres in one transaction, then talk to Slack."""

from __future__ import annotations

import asyncio
import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import audit, log, policy
from bot.errors import Refused, UsageError
from bot.incidents import messages, parse, store
from bot.incidents.store import Incident
from bot.oncall.lookup import who_is_on_call
from bot.oncall.paging import page
from bot.opsconfig import SeverityLevel
from bot.policy import Do, Subject
from bot.services import Services
from bot.slack.blocks import message_parts
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.text import escape, mention, mrkdwn, plain, slug
from bot.status import hooks as status

logger = log.get("zzik.incidents")
ESCALATE, NUDGE = "incidents.escalate", "incidents.nudge"
SEVERITY_RANK = {"P1": 1, "P2": 2, "P3": 3, "P4": 4}


def level(services: Services, severity: str) -> SeverityLevel:
    return services.config.severity(severity)


def zone(services: Services):
    return services.config.oncall.zone


# -- declaring -----------------------------------------------------------------------------------


@dataclass
class Declared:
    incident: Incident
    created: bool
    failures: list[str] = field(default_factory=list)
    paged: list[str] = field(default_factory=list)


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
) -> Declared:
    """The incident row first (numbered INC-<n>), then the Slack set-up. A repeated key declares nothing."""
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
            await _schedule_escalations(services, conn, incident, now)
            await _schedule_nudge(services, conn, incident, now)
            await status.incident_declared(services, conn, incident, now)
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
    if not created:
        return Declared(incident, False)
    failures, paged = await setup(services, incident.id)
    refreshed = await store.get(services.db, incident.id)
    assert refreshed is not None
    return Declared(refreshed, True, failures or [], paged)


async def default_commander(services: Services, reporter: str, at: datetime) -> str:
    """The manual: "Primary: first responder, incident commander". Config `incidents.default_commander`."""
    if services.config.incidents.default_commander == "reporter":
        return reporter
    primary = (await who_is_on_call(services, at)).primary.user
    resolved = await services.users.resolve(primary) if primary else None
    return resolved or reporter


def _business_day_at(after: datetime, services: Services, at: time = time(10, 0)) -> datetime:
    """The next Monday-to-Friday 10:00 in the team's zone strictly after `after`."""
    local = after.astimezone(zone(services))
    day = local.date()
    while True:
        candidate = datetime.combine(day, at, tzinfo=zone(services))
        if candidate > local and candidate.weekday() < 5:
            return candidate
        day += timedelta(days=1)


def escalation_times(services: Services, severity: str, since: datetime) -> list[tuple[str, datetime]]:
    """When the next people in the chain are paged if nobody acknowledges: secondary, then manager."""
    within = level(services, severity).ack_within
    if within == "next_business_day":
        first = _business_day_at(since, services)
        return [("secondary", first), ("manager", _business_day_at(first, services))]
    assert isinstance(within, timedelta)
    return [("secondary", since + within), ("manager", since + 2 * within)]


async def _schedule_escalations(services: Services, conn: Any, incident: Incident, since: datetime) -> None:
    """One chain for the incident's current severity. Each chain has keys of its own: a chain cancelled by a
    severity change (p1 -> p2 -> p1) must never block the new one."""
    chain = uuid.uuid4().hex[:12]
    for step, (role, due) in enumerate(escalation_times(services, incident.severity, since), start=1):
        await services.jobs.schedule_once(
            conn,
            ESCALATE,
            f"{incident.id}:{incident.severity}:{chain}:{step}",
            due,
            {"incident_id": incident.id, "role": role, "severity": incident.severity},
        )


async def _schedule_nudge(services: Services, conn: Any, incident: Incident, since: datetime) -> None:
    every = level(services, incident.severity).update_every
    if every is not None:
        due = since + every
        await services.jobs.schedule_once(
            conn, NUDGE, f"{incident.id}:{due.isoformat()}", due, {"incident_id": incident.id}
        )


# -- the Slack set-up: each piece recorded as it lands, so Retry only does what is missing -------------


async def setup(services: Services, incident_id: int) -> tuple[list[str] | None, list[str]]:
    """The channel first (every later message links to it), then at once: paging, topic, invites, the pinned
    kickoff and the announcement. Returns (failures, paged); failures is None when another set-up of this
    incident is already running."""
    now = services.clock.now()
    if not await store.claim_setup(services.db, incident_id, now):
        return None, []
    failures: list[str] = []
    paged: list[str] = []
    try:
        incident = await store.get(services.db, incident_id)
        assert incident is not None
        if not incident.channel_id:
            channel_error = await _ensure_channel(services, incident)
            if channel_error:
                failures.append(channel_error)
            incident = await store.get(services.db, incident_id)
            assert incident is not None
        steps = [_ensure_announcement(services, incident)]
        if incident.channel_id:
            members = [incident.reporter, incident.commander, *await _all_hands(services, incident)]
            steps += [
                _set_topic(services, incident),
                _invite(services, incident, list(dict.fromkeys(members))),
                _ensure_kickoff(services, incident),
            ]
        page_step = _page_declared(services, incident) if incident.paged_at is None else _noop()
        page_result, *results = await asyncio.gather(page_step, *steps)
        if page_result:
            paged, page_failures = page_result
            failures.extend(page_failures)
        for result in results:
            failures.extend(result)
        if failures:
            await store.add_event(
                services.db,
                incident_id,
                services.clock.now(),
                None,
                "setup_failed",
                "Slack set-up incomplete: " + "; ".join(failures),
            )
    finally:
        await store.release_setup(services.db, incident_id, "; ".join(failures) or None)
    return failures, paged


async def _all_hands(services: Services, incident: Incident) -> list[str]:
    """Who joins the channel at once besides reporter and commander: on P1, everyone on call."""
    if not level(services, incident.severity).all_hands:
        return []
    return (await who_is_on_call(services, incident.declared_at)).chain()


async def _noop() -> None:
    return None


def channel_names(prefix: str, number: int, title: str) -> list[str]:
    """Names to try, best first: `inc-<n>-<slug>` (Slack's rules, at most 80), an ASCII slug, `inc-<n>`."""
    base = f"{prefix}-{number}"
    room = 80 - len(base) - 1 - 3  # "-<slug>" and room for a "-NN" suffix on name_taken
    names = []
    title = plain(title)
    for text in (title, unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()):
        s = slug(text, room)
        names.append(f"{base}-{s}" if s else base)
    names.append(base)
    return list(dict.fromkeys(names))


async def _ensure_channel(services: Services, incident: Incident) -> str | None:
    names = channel_names(services.config.incidents.channel_prefix, incident.number, incident.title)
    last_error = "unknown"
    for name in names:
        for attempt in range(1, 6):
            candidate = name if attempt == 1 else f"{name}-{attempt}"
            try:
                response = await services.slack.conversations_create(name=candidate)
            except SlackApiError as exc:
                last_error = slack_error(exc)
                if last_error == "name_taken":
                    continue
                if last_error.startswith("invalid_name"):
                    break  # try the next, plainer name
                return f"channel not created: {last_error}"
            except SLACK_FAILURES as exc:
                return f"channel not created: {slack_error(exc)}"
            channel = response["channel"]
            async with services.db.transaction() as conn:
                await store.update(conn, incident.id, channel_id=channel["id"], channel_name=channel["name"])
                await store.add_event(
                    conn, incident.id, services.clock.now(), None, "channel", f"channel #{channel['name']} created"
                )
            return None
    return f"channel not created: {last_error}"


async def _page_declared(services: Services, incident: Incident) -> tuple[list[str], list[str]]:
    lvl = level(services, incident.severity)
    roles = ["primary", "secondary", "manager"] if lvl.all_hands else ["primary"]
    reason = "All hands" if lvl.all_hands else f"{incident.severity} incident declared"
    result = await page(
        services,
        at=services.clock.now(),
        roles=roles,
        text=messages.page_text(incident, lvl, reason, services.config.channels.incidents),
    )
    failures = [f"could not page {mention(u)}: {why}" for u, why in result.failed.items()]
    failures += [f"nobody reachable as {role}" for role in result.unreachable if lvl.all_hands]
    async with services.db.transaction() as conn:
        await store.update(conn, incident.id, paged_at=services.clock.now())
        if result.paged:
            await store.add_event(
                conn,
                incident.id,
                services.clock.now(),
                None,
                "paged",
                "paged " + ", ".join(f"@{u}" for u in result.paged) + f" ({', '.join(roles)})",
            )
    return result.paged, failures


async def _ensure_announcement(services: Services, incident: Incident) -> list[str]:
    if incident.announcement_ts:
        return await _refresh_announcement(services, incident)
    text, blocks = messages.announcement(
        incident, level(services, incident.severity), zone(services), services.clock.now()
    )
    try:
        response = await services.slack.chat_postMessage(
            channel=services.config.channels.incidents, text=text, blocks=blocks, unfurl_links=False
        )
    except SLACK_FAILURES as exc:
        return [f"announcement in {services.config.channels.incidents} not posted: {slack_error(exc)}"]
    async with services.db.transaction() as conn:
        await store.update(conn, incident.id, announcement_channel=response["channel"], announcement_ts=response["ts"])
    return []


async def _ensure_kickoff(services: Services, incident: Incident) -> list[str]:
    if incident.kickoff_ts:
        return []
    ticks = await store.checks(services.db, incident.id)
    text, blocks = messages.kickoff(
        incident, level(services, incident.severity), services.config, ticks, zone(services)
    )
    try:
        response = await services.slack.chat_postMessage(channel=incident.channel_id, text=text, blocks=blocks)
    except SLACK_FAILURES as exc:
        return [f"kickoff message not posted: {slack_error(exc)}"]
    async with services.db.transaction() as conn:
        await store.update(conn, incident.id, kickoff_ts=response["ts"])
    try:
        await services.slack.pins_add(channel=incident.channel_id, timestamp=response["ts"])
    except SlackApiError as exc:
        if slack_error(exc) != "already_pinned":
            return [f"kickoff message not pinned: {slack_error(exc)}"]
    except SLACK_FAILURES as exc:
        return [f"kickoff message not pinned: {slack_error(exc)}"]
    return []


async def _set_topic(services: Services, incident: Incident) -> list[str]:
    try:
        await services.slack.conversations_setTopic(channel=incident.channel_id, topic=messages.topic(incident))
    except SLACK_FAILURES as exc:
        return [f"channel topic not set: {slack_error(exc)}"]
    return []


async def _invite(services: Services, incident: Incident, users: list[str]) -> list[str]:
    async def one(user: str) -> str | None:
        try:
            await services.slack.conversations_invite(channel=incident.channel_id, users=user)
        except SlackApiError as exc:
            if slack_error(exc) in ("already_in_channel", "cant_invite_self"):
                return None
            return f"{mention(user)} not invited: {slack_error(exc)}"
        except SLACK_FAILURES as exc:
            return f"{mention(user)} not invited: {slack_error(exc)}"
        return None

    results = await asyncio.gather(*(one(u) for u in users if u and u[:1] in "UW" and "@" not in u))
    return [r for r in results if r]


async def _refresh_announcement(services: Services, incident: Incident) -> list[str]:
    """Edit the #zzik-incidents announcement in place (and the channel topic) after any change."""
    if not incident.announcement_ts:
        return []
    text, blocks = messages.announcement(
        incident, level(services, incident.severity), zone(services), services.clock.now()
    )
    return await _update_or_repost(
        services,
        incident,
        "announcement",
        (incident.announcement_channel or services.config.channels.incidents, incident.announcement_ts),
        services.config.channels.incidents,
        text,
        blocks,
    )


# chat.update errors that mean the message is gone or frozen: a new one is posted in its place.
GONE = {"message_not_found", "cant_update_message", "edit_window_closed"}


async def _update_or_repost(
    services: Services,
    incident: Incident,
    what: str,
    message: tuple[str, str],
    repost_to: str,
    text: str,
    blocks: list[dict[str, Any]],
) -> list[str]:
    """Edit a message the bot keeps up to date; if Slack says it is gone, post it again, remember the new one
    and say so in its thread. Returns what could not be done."""
    channel, ts = message
    try:
        await services.slack.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        return []
    except SLACK_FAILURES as exc:
        error = slack_error(exc)
        logger.warning(f"{what} not updated", incident=incident.ref, error=error)
        if not isinstance(exc, SlackApiError) or error not in GONE:
            return [f"{what} not updated: {error}"]
    try:
        response = await services.slack.chat_postMessage(channel=repost_to, text=text, blocks=blocks)
    except SLACK_FAILURES as exc:
        return [f"{what} not updated ({error}) and not posted again: {slack_error(exc)}"]
    now = services.clock.now()
    async with services.db.transaction() as conn:
        if what == "announcement":
            await store.update(
                conn, incident.id, announcement_channel=response["channel"], announcement_ts=response["ts"]
            )
        else:
            await store.update(conn, incident.id, kickoff_ts=response["ts"])
        await store.add_event(
            conn, incident.id, now, None, "reposted", f"{what} could not be updated ({error}): posted again"
        )
    note = (
        f":information_source: The earlier {what} of {incident.ref} could not be updated (`{error}`), "
        "so this is a new one; it is kept up to date from now on."
    )
    followups = [services.slack.chat_postMessage(channel=response["channel"], thread_ts=response["ts"], text=note)]
    if what == "kickoff":
        followups.append(services.slack.pins_add(channel=response["channel"], timestamp=response["ts"]))
    for result in await asyncio.gather(*followups, return_exceptions=True):
        if isinstance(result, BaseException):
            logger.warning(f"{what} reposted, follow-up failed", incident=incident.ref, error=slack_error(result))
    return []


async def refresh(services: Services, incident: Incident, *, topic: bool = False) -> None:
    steps = [_refresh_announcement(services, incident)]
    if topic and incident.channel_id:
        steps.append(_set_topic(services, incident))
    await asyncio.gather(*steps)


async def retry_setup(services: Services, incident_id: int, actor: str) -> str:
    incident = await store.get(services.db, incident_id)
    if incident is None:
        raise UsageError("That incident does not exist.", usage=False)
    failures, _ = await setup(services, incident_id)
    if failures is None:
        return f"The set-up of {incident.ref} is already being retried; give it a moment."
    await audit.record(
        services.db,
        kind="incident",
        action="retry_setup",
        outcome="ok" if not failures else "error",
        actor=actor,
        detail={"incident": incident.ref, "failures": failures},
    )
    incident = await store.get(services.db, incident_id)
    assert incident is not None
    if failures:
        return f"{incident.ref}: Slack still refused: " + "; ".join(failures)
    return f"{incident.ref} is fully set up: {messages.channel_ref(incident)}."


def declared_answer(result: Declared, *, shortened: bool = False) -> tuple[str, list[dict[str, Any]] | None]:
    incident = result.incident
    if not result.created:
        return f"That declaration was already made: {incident.ref}, {messages.channel_ref(incident)}.", None
    text = f"Declared *{incident.ref}* ({incident.severity}): {messages.channel_ref(incident)}."
    if shortened:
        text += (
            f" The title was longer than {parse.MAX_TITLE} characters, so it is shortened to "
            f"“{mrkdwn(incident.title)}” and your full text is the incident's description."
        )
    if incident.commander != incident.reporter:
        text += f" Commander: {mention(incident.commander)}."
    if result.paged:
        text += " Paged " + ", ".join(mention(u) for u in result.paged) + "."
    if result.failures:
        return text, messages.setup_failed(incident, result.failures)
    return text, None


# -- running it ----------------------------------------------------------------------------------------------


async def listing(services: Services) -> str:
    """/incident list: the open incidents, most severe first."""
    return messages.listing(await store.open_incidents(services.db), services.clock.now())


async def in_channel(services: Services, channel_id: str | None) -> Incident:
    incident = await store.by_channel(services.db, channel_id) if channel_id else None
    if incident is None:
        raise UsageError("Run this in an incident's channel (`/incident list` shows the open ones).")
    return incident


def _must_be_open(incident: Incident) -> None:
    if not incident.is_open:
        raise Refused(
            f"{incident.ref} is resolved, so it is read-only: `timeline`, `postmortem` and action items still "
            "work. Declare a new incident if it is back."
        )


async def post_update(services: Services, incident: Incident, actor: str, text: str) -> Incident:
    _must_be_open(incident)
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
    results = await asyncio.gather(*posts, refresh(services, incident), return_exceptions=True)
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
        incident = await _locked(conn, incident.id)
        _must_be_open(incident)
        if severity == incident.severity:
            raise UsageError(f"{incident.ref} is already {severity}.", usage=False)
        escalation = SEVERITY_RANK[severity] < SEVERITY_RANK[incident.severity]
        old = incident.severity
        incident = await store.update(conn, incident.id, severity=severity)
        await store.add_event(conn, incident.id, now, actor, "severity", f"severity {old} → {severity}")
        await services.jobs.cancel_prefix(conn, ESCALATE, f"{incident.id}:")
        await services.jobs.cancel_prefix(conn, NUDGE, f"{incident.id}:")
        if incident.acknowledged_at is None:
            await _schedule_escalations(services, conn, incident, now)
        await _schedule_nudge(services, conn, incident, now)
        await status.incident_severity_changed(services, conn, incident, now)
    answer = f"{incident.ref} is now {severity} (was {old})."
    if escalation:
        lvl = level(services, severity)
        roles = ["primary", "secondary", "manager"] if lvl.all_hands else ["primary"]
        result = await page(
            services,
            at=now,
            roles=roles,
            text=messages.page_text(incident, lvl, f"Escalated to {severity}", services.config.channels.incidents),
        )
        await _invite(services, incident, result.paged)
        if result.paged:
            await store.add_event(
                services.db,
                incident.id,
                now,
                None,
                "paged",
                "paged " + ", ".join(f"@{u}" for u in result.paged) + f" (escalated to {severity})",
            )
            answer += " Paged " + ", ".join(mention(u) for u in result.paged) + "."
    await refresh(services, incident, topic=True)
    return answer


async def _locked(conn: Any, incident_id: int) -> Incident:
    incident = await store.get(conn, incident_id, for_update=True)
    if incident is None:
        raise UsageError("That incident does not exist.", usage=False)
    return incident


async def change_commander(services: Services, incident: Incident, actor: str, commander: str) -> str:
    """Hand over command: the commander, the on-call primary or a manager may (policy)."""
    _must_be_open(incident)
    await policy.require(services, Do.INCIDENT_COMMANDER, actor, Subject(commander=incident.commander))
    if await services.users.info(commander) is None:
        raise UsageError(f"`{escape(commander)}` is not a user in this workspace.", usage=False)
    incident = await _hand_over(services, incident.id, actor, commander, "")
    return f"{mention(commander)} is now the commander of {incident.ref}."


async def _hand_over(services: Services, incident_id: int, actor: str, commander: str, why: str) -> Incident:
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await _locked(conn, incident_id)
        _must_be_open(incident)
        if commander == incident.commander:
            raise UsageError(f"{mention(commander)} is already the commander of {incident.ref}.", usage=False)
        previous = incident.commander
        incident = await store.update(conn, incident.id, commander=commander)
        await store.add_event(conn, incident.id, now, actor, "commander", f"commander @{previous} → @{commander}{why}")
        await store.answer_open_command_requests(conn, incident.id, now)
    await asyncio.gather(_invite(services, incident, [commander]), refresh(services, incident, topic=True))
    return incident


def _stage_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


async def change_stage(services: Services, incident: Incident, actor: str, name: str) -> str:
    _must_be_open(incident)
    stages = [s.name for s in services.config.incidents.stages]
    wanted = _stage_key(name)
    matches = [s for s in stages if _stage_key(s) == wanted] or [s for s in stages if _stage_key(s).startswith(wanted)]
    if len(matches) != 1:
        raise UsageError(f"`{mrkdwn(name)}` is not a stage; the stages are: {', '.join(stages)}.", usage=False)
    stage = matches[0]
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await _locked(conn, incident.id)
        _must_be_open(incident)
        if stage == incident.stage:
            raise UsageError(f"{incident.ref} is already at {stage}.", usage=False)
        previous = incident.stage
        incident = await store.update(conn, incident.id, stage=stage)
        await store.add_event(conn, incident.id, now, actor, "stage", f"stage {escape(previous)} → {escape(stage)}")
    await asyncio.gather(refresh(services, incident, topic=True), _refresh_kickoff(services, incident))
    return f"{incident.ref} moved to *{stage}*."


async def add_action(services: Services, incident: Incident, actor: str, text: str, owner: str | None) -> str:
    now = services.clock.now()
    async with services.db.transaction() as conn:
        action = await store.add_action(conn, incident.id, text, owner, actor, now)
        await store.add_event(
            conn,
            incident.id,
            now,
            actor,
            "action",
            f"action item #{action.id}: {text}" + (f" (owner @{owner})" if owner else ""),
        )
    return f"Action item #{action.id} added to {incident.ref}" + (f", owner {mention(owner)}." if owner else ".")


async def may_resolve(services: Services, incident: Incident, actor: str) -> None:
    await policy.require(
        services, Do.INCIDENT_RESOLVE, actor, Subject(commander=incident.commander), what=f"resolve {incident.ref}"
    )


async def resolve(services: Services, incident: Incident, actor: str, summary: str | None, request_id: str) -> str:
    _must_be_open(incident)
    await may_resolve(services, incident, actor)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        current = await store.get(conn, incident.id, for_update=True)
        assert current is not None
        _must_be_open(current)
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
        await services.jobs.cancel_prefix(conn, ESCALATE, f"{incident.id}:")
        await services.jobs.cancel_prefix(conn, NUDGE, f"{incident.id}:")
        await status.incident_resolved(services, conn, incident, actor, now)
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
    results = await asyncio.gather(
        services.slack.chat_postMessage(
            channel=incident.channel_id,
            text=f"{incident.ref} resolved",
            blocks=messages.resolved_checklist(incident, services.config),
        ),
        refresh(services, incident, topic=True),
        _refresh_kickoff(services, incident),
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
                f"{incident.ref} was already acknowledged by {mention(incident.acknowledged_by or '?')} "
                f"at {messages.when(incident.acknowledged_at, zone(services))}."
            )
        _must_be_open(incident)
        incident = await store.update(conn, incident_id, acknowledged_at=now, acknowledged_by=actor)
        await store.add_event(
            conn,
            incident_id,
            now,
            actor,
            "acknowledged",
            f"acknowledged after {store.duration(incident.declared_at, now)}",
        )
        await services.jobs.cancel_prefix(conn, ESCALATE, f"{incident_id}:")
    await refresh(services, incident)
    return f"You acknowledged {incident.ref}."


async def take_command(services: Services, incident_id: int, actor: str) -> str:
    """The on-call primary or a manager takes command at once; anyone else asks the commander, who hands
    over or keeps it (recorded either way)."""
    incident = await store.get(services.db, incident_id)
    if incident is None:
        raise UsageError("That incident does not exist.", usage=False)
    if incident.commander == actor:
        return f"You are already the commander of {incident.ref}."
    _must_be_open(incident)
    subject = Subject(commander=incident.commander)
    if await policy.allows(services, Do.INCIDENT_COMMANDER, actor, subject):
        try:
            incident = await _hand_over(services, incident_id, actor, actor, " (took command)")
        except UsageError:
            return f"You are already the commander of {incident.ref}."
        return f"{mention(actor)} is now the commander of {incident.ref}."
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await _locked(conn, incident_id)
        _must_be_open(incident)
        request, created = await store.ask_command(conn, incident_id, actor, incident.commander, now)
        if created:
            await store.add_event(
                conn, incident_id, now, actor, "command_request", f"@{actor} asked @{incident.commander} for command"
            )
    if not created:
        return f"You already asked {mention(request.commander)} for command of {incident.ref}; waiting for the answer."
    text, blocks = messages.command_request(incident, actor, request.id)
    try:
        await services.slack.chat_postMessage(channel=incident.commander, text=text, blocks=blocks)
    except SLACK_FAILURES as exc:
        return (
            f"Only {await policy.who_may(services, Do.INCIDENT_COMMANDER, subject)} may hand over command, and "
            f"the request could not be sent to {mention(incident.commander)} ({slack_error(exc)}): ask them in "
            f"{messages.channel_ref(incident)}."
        )
    return (
        f"Only {await policy.who_may(services, Do.INCIDENT_COMMANDER, subject)} may hand over command, so "
        f"{mention(incident.commander)} is asked to hand it over to you; you will get a DM with the answer."
    )


async def answer_command_request(services: Services, request_id: int, actor: str, hand_over: bool) -> str:
    """The commander (or a manager) answers a request for command: Hand over or Keep."""
    request = await store.command_request(services.db, request_id)
    if request is None:
        raise UsageError("That request for command does not exist.", usage=False)
    incident = await store.get(services.db, request.incident_id)
    if incident is None:
        raise UsageError("That incident does not exist.", usage=False)
    await policy.require(services, Do.INCIDENT_HANDOVER_ANSWER, actor, Subject(commander=incident.commander))
    now = services.clock.now()
    async with services.db.transaction() as conn:
        incident = await _locked(conn, request.incident_id)
        if request.answer is not None or incident.commander != request.commander or not incident.is_open:
            await store.answer_command(conn, request_id, "moot", actor, now)
            return f"That request for command of {incident.ref} is already settled."
        if not await store.answer_command(conn, request_id, "handed_over" if hand_over else "kept", actor, now):
            return f"That request for command of {incident.ref} is already settled."
        if hand_over:
            incident = await store.update(conn, incident.id, commander=request.requested_by)
            await store.add_event(
                conn,
                incident.id,
                now,
                actor,
                "commander",
                f"commander @{request.commander} → @{request.requested_by} (handed over on request)",
            )
            await store.answer_open_command_requests(conn, incident.id, now)
        else:
            await store.add_event(
                conn,
                incident.id,
                now,
                actor,
                "command_kept",
                f"@{actor} kept command (asked by @{request.requested_by})",
            )
    if hand_over:
        await asyncio.gather(
            _invite(services, incident, [request.requested_by]), refresh(services, incident, topic=True)
        )
    verdict = "handed command of" if hand_over else "kept command of"
    try:
        await services.slack.chat_postMessage(
            channel=request.requested_by, text=f"{mention(actor)} {verdict} {incident.ref}."
        )
    except SLACK_FAILURES as exc:
        return f"You {verdict} {incident.ref}; {mention(request.requested_by)} could not be told ({slack_error(exc)})."
    return f"You {verdict} {incident.ref}" + (f" to {mention(request.requested_by)}." if hand_over else ".")


async def join(services: Services, incident_id: int, actor: str) -> str:
    incident = await store.get(services.db, incident_id)
    if incident is None or not incident.channel_id:
        raise UsageError("That incident has no channel yet; its reporter can retry the set-up.", usage=False)
    failures = await _invite(services, incident, [actor])
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
        incident = await _locked(conn, incident_id)
        _must_be_open(incident)
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
    await _refresh_kickoff(services, incident)


async def _refresh_kickoff(services: Services, incident: Incident) -> None:
    if not incident.kickoff_ts or not incident.channel_id:
        return
    fresh = await store.get(services.db, incident.id)
    assert fresh is not None
    ticks = await store.checks(services.db, incident.id)
    text, blocks = messages.kickoff(fresh, level(services, fresh.severity), services.config, ticks, zone(services))
    await _update_or_repost(
        services, fresh, "kickoff", (fresh.channel_id, fresh.kickoff_ts), fresh.channel_id, text, blocks
    )


async def post_postmortem(services: Services, incident: Incident) -> None:
    """The draft in as many messages as Slack's 50 blocks need: a long P1's is split, never cut."""
    parts = message_parts(await postmortem(services, incident))
    for n, part in enumerate(parts, start=1):
        suffix = f" (part {n} of {len(parts)})" if len(parts) > 1 else ""
        await services.slack.chat_postMessage(
            channel=incident.channel_id, text=f"Post-mortem draft of {incident.ref}{suffix}", blocks=part
        )


async def timeline(services: Services, incident: Incident) -> tuple[str, list[dict[str, Any]]]:
    return messages.timeline(incident, await store.events(services.db, incident.id), zone(services))


async def postmortem(services: Services, incident: Incident) -> list[dict[str, Any]]:
    events = await store.events(services.db, incident.id)
    items = await store.actions(services.db, incident.id)
    text = messages.postmortem(
        services.config.incidents.postmortem_template, incident, events, items, zone(services), services.clock.now()
    )
    return messages.split_text(text)


# -- scheduled ---------------------------------------------------------------------------------------------------


async def escalate(services: Services, incident_id: int, role: str, severity: str) -> bool:
    incident = await store.get(services.db, incident_id)
    if incident is None or not incident.is_open or incident.acknowledged_at or incident.severity != severity:
        return False
    now = services.clock.now()
    lvl = level(services, severity)
    waited = store.duration(incident.declared_at, now)
    result = await page(
        services,
        at=now,
        roles=[role],
        text=messages.page_text(
            incident, lvl, f"Not acknowledged after {waited}; escalating to you", services.config.channels.incidents
        ),
    )
    on_call = result.on_call.shift(role).user
    if result.paged:
        await _invite(services, incident, result.paged)
    text = (
        f"escalated to {role} @{on_call} (not acknowledged after {waited})"
        if result.paged
        else f"escalation to {role} failed: " + (", ".join(result.failed.values()) or "nobody on call")
    )
    await store.add_event(services.db, incident_id, now, None, "escalated", text)
    if incident.channel_id:
        await services.slack.chat_postMessage(channel=incident.channel_id, text=f":arrow_up: {escape(text)}")
    return bool(result.paged)


async def nudge(services: Services, incident_id: int) -> bool:
    incident = await store.get(services.db, incident_id)
    if incident is None or not incident.is_open:
        return False
    every = level(services, incident.severity).update_every
    if every is None:
        return False
    now = services.clock.now()
    if now - incident.last_update_at < every:
        due = incident.last_update_at + every  # an update came in: wait a full interval from it
        async with services.db.transaction() as conn:
            await services.jobs.schedule_once(
                conn, NUDGE, f"{incident_id}:{due.isoformat()}", due, {"incident_id": incident_id}
            )
        return False
    if incident.channel_id:
        await services.slack.chat_postMessage(
            channel=incident.channel_id, text=messages.nudge(incident, incident.last_update_at, now)
        )
    due = now + every
    async with services.db.transaction() as conn:
        await store.add_event(conn, incident_id, now, None, "nudge", "reminded the commander to post an update")
        await services.jobs.schedule_once(
            conn, NUDGE, f"{incident_id}:{due.isoformat()}", due, {"incident_id": incident_id}
        )
    return True


async def week_in_review(services: Services, starts: datetime, ends: datetime) -> list[str]:
    """The incidents' lines of the on-call handoff summary."""
    lines: list[str] = []
    week = await store.declared_between(services.db, starts, ends)
    declared = [i for i in week if starts <= i.declared_at < ends]
    resolved = [i for i in week if i.resolved_at and starts <= i.resolved_at < ends]
    if declared:
        lines.append(f"*Incidents declared ({len(declared)})*")
        lines += [
            f"{i.ref} {i.severity} {mrkdwn(i.title)}"
            + (f" · resolved in {store.duration(i.declared_at, i.resolved_at)}" if i.resolved_at else " · open")
            for i in declared
        ]
    if resolved:
        lines.append(f"*Incidents resolved ({len(resolved)})*")
        lines += [
            f"{i.ref} {i.severity} {mrkdwn(i.title)} · {store.duration(i.declared_at, i.resolved_at)}"
            for i in resolved
            if i.resolved_at
        ]
    still_open = await store.open_incidents(services.db)
    if still_open:
        lines.append(f"*Still open ({len(still_open)})*")
        lines += [f"{i.ref} {i.severity} {mrkdwn(i.title)} · commander {mention(i.commander)}" for i in still_open]
    open_actions = await store.open_actions(services.db)
    if open_actions:
        lines.append(f"*Open action items ({len(open_actions)})*")
        lines += [
            f"{ref} #{a.id} {mrkdwn(a.text)} · {mention(a.owner) if a.owner else '_unassigned_'}"
            for ref, a in open_actions
        ]
    return lines
