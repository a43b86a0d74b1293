"""Incident stories, each told top to bottom: check, write to Postgres in one transaction, then talk to Slack."""

from __future__ import annotations

import asyncio
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import audit, log, policy
from bot.deploys import store as deploys
from bot.deploys.store import Deploy
from bot.errors import Refused, UsageError
from bot.incidents import messages, parse, store
from bot.incidents.store import Incident
from bot.oncall.lookup import who_is_on_call
from bot.opsconfig import SeverityLevel
from bot.pagerduty import flows as pagerduty
from bot.policy import Do, Subject
from bot.services import Services
from bot.slack.blocks import message_parts
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.text import escape, mention, mrkdwn, plain, slug
from bot.status import hooks as status

logger = log.get("zzik.incidents")
ESCALATE, NUDGE = "incidents.escalate", "incidents.nudge"
SETUP, PAGE_RETRY = "incidents.setup", "incidents.page_retry"
SETUP_LEASE = timedelta(seconds=10)  # a set-up a dead replica left half done resumes this soon after
PAGE_BACKOFF = [timedelta(seconds=s) for s in (15, 30, 60, 120, 300)]  # then the page is given up on
RESPONSE_URL_LIFETIME = timedelta(minutes=30)  # Slack's; after it, the reporter is answered by DM
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


@dataclass(frozen=True)
class Reply:
    """Where the answer of a set-up goes: the request's response_url while Slack keeps it, else a DM."""

    user: str
    response_url: str | None = None
    kind: str = "declare"  # or "retry"
    shortened: bool = False  # the declared title was cut to fit (the full text is the description)

    def payload(self) -> dict[str, Any]:
        return {"user": self.user, "response_url": self.response_url, "kind": self.kind, "shortened": self.shortened}


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
            await _schedule_escalations(services, conn, incident, now)
            await _schedule_nudge(services, conn, incident, now)
            reply = Reply(reporter, response_url, "declare", shortened)
            await services.jobs.schedule_once(
                conn, SETUP, f"{incident.id}:1", now, {"incident_id": incident.id, "reply": reply.payload()}
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
        await services.jobs.run_now(SETUP, f"{incident.id}:1")
    return Declared(incident, created)


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


# -- the Slack set-up: durable work, each piece recorded as it lands, so a rerun only does what is missing --


async def setup(services: Services, incident_id: int) -> list[str]:
    """The channel first (every later message links to it), then the pages (recorded, then sent), then at
    once: topic, invites, the pinned kickoff and the announcement (which says who was reached). Returns what
    Slack refused. Runs as the job SETUP, so a crash anywhere resumes it on any replica."""
    incident = await store.get(services.db, incident_id)
    if incident is None:
        return ["the incident is gone"]
    failures: list[str] = []
    if not incident.channel_id:
        channel_error = await _ensure_channel(services, incident)
        if channel_error:
            failures.append(channel_error)
        incident = await store.get(services.db, incident_id) or incident
    if incident.paged_at is None:
        await _record_declared_pages(services, incident)
        incident = await store.get(services.db, incident_id) or incident
    failures += await _page_pagerduty(services, incident_id)
    failures += await _deliver_pages(services, incident)
    steps = [_ensure_announcement(services, incident)]
    if incident.channel_id:
        reached = [p.user_id for p in await store.pages(services.db, incident_id) if p.delivered_at]
        members = [incident.reporter, incident.commander, *await _all_hands(services, incident), *reached]
        steps += [
            _set_topic(services, incident),
            _invite(services, incident, list(dict.fromkeys(members))),
            _ensure_kickoff(services, incident),
        ]
    for result in await asyncio.gather(*steps):
        failures.extend(result)
    async with services.db.transaction() as conn:
        await store.release_setup(conn, incident_id, "; ".join(failures) or None)
        if failures:
            await store.add_event(
                conn,
                incident_id,
                services.clock.now(),
                None,
                "setup_failed",
                "Slack set-up incomplete: " + "; ".join(failures),
            )
    return failures


async def run_setup(services: Services, incident_id: int, reply: Reply) -> None:
    """The SETUP job: set up what is missing, then answer the one who asked (the reporter once)."""
    failures = await setup(services, incident_id)
    incident = await store.get(services.db, incident_id)
    if incident is None:
        return
    pages = await store.pages(services.db, incident_id)
    if reply.kind == "declare":
        text, blocks = declared_answer(
            incident,
            pages,
            failures,
            shortened=reply.shortened,
            pagerduty=await pagerduty.paging_state(services, incident_id),
        )
        if incident.reporter_answered_at is None:
            await _reply(services, reply, incident.declared_at, text, blocks)
            await store.mark_answered(services.db, incident_id, services.clock.now())
        return
    if failures:
        text = f"{incident.ref}: Slack still refused: " + "; ".join(failures)
    else:
        text = f"{incident.ref} is fully set up: {messages.channel_ref(incident)}. {messages.paged_line(pages)}"
    await _reply(services, reply, services.clock.now(), text.strip(), None)


async def _reply(
    services: Services, reply: Reply, asked_at: datetime, text: str, blocks: list[dict[str, Any]] | None
) -> None:
    """Answer by the response_url while Slack still takes it; else (or if it fails) by DM. A DM that fails
    too raises, so the job is retried: the answer is never dropped silently."""
    if reply.response_url and services.clock.now() - asked_at < RESPONSE_URL_LIFETIME:
        try:
            response = await AsyncWebhookClient(reply.response_url, timeout=5).send(
                text=text, blocks=blocks, response_type="ephemeral", replace_original=False
            )
            if response.status_code == 200:
                return
            logger.warning("response_url refused the answer", status=response.status_code)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            logger.warning("response_url unreachable", error=type(exc).__name__)
    await services.slack.chat_postMessage(channel=reply.user, text=text, blocks=blocks)


async def retry_setup(services: Services, incident_id: int, actor: str, response_url: str | None) -> str | None:
    """*Retry set-up*: one more SETUP run (it re-sends undelivered pages too). Its answer comes from the run;
    a string here means none was started."""
    incident = await store.get(services.db, incident_id)
    if incident is None:
        raise UsageError("That incident does not exist.", usage=False)
    if await services.jobs.active(SETUP, f"{incident_id}:"):
        return f"The set-up of {incident.ref} is under way; give it a moment."
    runs = await services.db.fetchval(
        "SELECT count(*) FROM job_runs WHERE job = $1 AND starts_with(run_key, $2)", SETUP, f"{incident_id}:"
    )
    key = f"{incident_id}:{runs + 1}"
    async with services.db.transaction() as conn:
        reply = Reply(actor, response_url, "retry")
        if not await services.jobs.schedule_once(
            conn, SETUP, key, services.clock.now(), {"incident_id": incident_id, "reply": reply.payload()}
        ):
            return f"The set-up of {incident.ref} is under way; give it a moment."
        await audit.record(
            conn, kind="incident", action="retry_setup", outcome="ok", actor=actor, detail={"incident": incident.ref}
        )
    await services.jobs.run_now(SETUP, key)
    return None


def already_declared(incident: Incident) -> str:
    return f"That declaration was already made: {incident.ref}, {messages.channel_ref(incident)}."


def declared_answer(
    incident: Incident,
    pages: list[store.Page],
    failures: list[str],
    *,
    shortened: bool = False,
    pagerduty: str | None = None,
) -> tuple[str, list[dict[str, Any]] | None]:
    text = f"Declared *{incident.ref}* ({incident.severity}): {messages.channel_ref(incident)}."
    if shortened:
        text += (
            f" The title was longer than {parse.MAX_TITLE} characters, so it is shortened to "
            f"“{mrkdwn(incident.title)}” and your full text is the incident's description."
        )
    if incident.commander != incident.reporter:
        text += f" Commander: {mention(incident.commander)}."
    paged = messages.paged_line(pages, pagerduty)
    if paged:
        text += " " + paged
    if failures:
        return text, messages.setup_failed(incident, failures)
    return text, None


# -- paging: every page recorded (who, why, attempts, delivered), undelivered ones retried by a job ------------


def _roles(services: Services, severity: str) -> list[str]:
    return ["primary", "secondary", "manager"] if level(services, severity).all_hands else ["primary"]


async def _record_pages(
    services: Services, conn: Any, incident: Incident, roles: list[str], reason_key: str, reason: str
) -> None:
    on_call = await who_is_on_call(services, services.clock.now())
    people: list[tuple[str, str]] = []
    for role in roles:
        user = on_call.shift(role).user or f"nobody ({role})"
        if user not in [u for u, _ in people]:
            people.append((user, role))
    await store.add_pages(conn, incident.id, reason_key, reason, people, services.clock.now())


async def _record_declared_pages(services: Services, incident: Incident) -> None:
    lvl = level(services, incident.severity)
    reason = "All hands" if lvl.all_hands else f"{incident.severity} incident declared"
    async with services.db.transaction() as conn:
        current = await _locked(conn, incident.id)
        if current.paged_at is not None:
            return
        await _record_pages(services, conn, incident, _roles(services, incident.severity), "declared", reason)
        await store.update(conn, incident.id, paged_at=services.clock.now())


async def _page_pagerduty(services: Services, incident_id: int) -> list[str]:
    """PagerDuty first, beside the DMs; what it does not take now its SEND job retries (or tells, if refused)."""
    if not pagerduty.configured(services):
        return []
    try:
        refused = await pagerduty.flush(services, incident_id)
    except pagerduty.PagerDutyUnavailable as exc:
        return [f"PagerDuty not reached yet ({exc}); retrying"]
    return [f"PagerDuty refused the {e.action}" for e in refused]


async def _deliver_pages(services: Services, incident: Incident) -> list[str]:
    """Send every undelivered page of the incident once; record each outcome; schedule a retry for what is
    still undelivered. Returns the failures, in words."""
    pending = [p for p in await store.pages(services.db, incident.id, undelivered=True) if p.reachable]
    lvl = level(services, incident.severity)

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
            await _schedule_page_retry(services, conn, incident.id, now)
    failures = []
    for p in await store.pages(services.db, incident.id, undelivered=True):
        who = mention(p.user_id) if p.reachable else p.user_id
        failures.append(f"could not page {who}: {p.last_error or 'not tried yet'}")
    return failures


async def _schedule_page_retry(services: Services, conn: Any, incident_id: int, now: datetime) -> None:
    tried = await conn.fetchval(
        "SELECT count(*) FROM job_runs WHERE job = $1 AND starts_with(run_key, $2)", PAGE_RETRY, f"{incident_id}:"
    )
    if tried >= len(PAGE_BACKOFF):
        return  # given up: the announcement and the reporter's answer say who was not reached
    if await conn.fetchval(
        "SELECT true FROM job_runs WHERE job = $1 AND starts_with(run_key, $2) AND status = 'pending'",
        PAGE_RETRY,
        f"{incident_id}:",
    ):
        return
    await services.jobs.schedule_once(
        conn, PAGE_RETRY, f"{incident_id}:{tried + 1}", now + PAGE_BACKOFF[tried], {"incident_id": incident_id}
    )


async def retry_pages(services: Services, incident_id: int) -> None:
    """The PAGE_RETRY job: send what is still undelivered; a late delivery is told in the channel."""
    incident = await store.get(services.db, incident_id)
    if incident is None or not incident.is_open:
        return
    before = {p.id for p in await store.pages(services.db, incident_id, undelivered=True)}
    await _deliver_pages(services, incident)
    after = {p.id for p in await store.pages(services.db, incident_id, undelivered=True)}
    if before != after:
        reached = [p for p in await store.pages(services.db, incident_id) if p.id in before - after]
        await _invite(services, incident, [p.user_id for p in reached])
        await _refresh_announcement(services, incident)
        if incident.channel_id:
            names = ", ".join(mention(p.user_id) for p in reached)
            await services.slack.chat_postMessage(channel=incident.channel_id, text=f":pager: Paged {names} (late).")


async def page_now(services: Services, incident: Incident, roles: list[str], reason_key: str, reason: str) -> str:
    """Record and send pages for a change (escalation): one set per change, whatever the retries."""
    async with services.db.transaction() as conn:
        await _record_pages(services, conn, incident, roles, reason_key, reason)
    failures = await _deliver_pages(services, incident)
    reached = [p.user_id for p in await store.pages(services.db, incident.id) if p.delivered_at]
    await _invite(services, incident, reached)
    return "; ".join(failures)


async def _all_hands(services: Services, incident: Incident) -> list[str]:
    """Who joins the channel at once besides reporter and commander: on P1, everyone on call."""
    if not level(services, incident.severity).all_hands:
        return []
    return (await who_is_on_call(services, incident.declared_at)).chain()


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


async def _find_channel(services: Services, name: str) -> dict[str, Any] | None:
    """A public channel by name (conversations.list, a few pages at most); None if not found or unknown."""
    cursor = None
    try:
        for _ in range(10):
            response = await services.slack.conversations_list(
                types="public_channel", exclude_archived=True, limit=1000, cursor=cursor
            )
            for channel in response.get("channels") or []:
                if channel.get("name") == name:
                    return {"id": channel["id"], "name": channel["name"]}
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
    except SLACK_FAILURES as exc:
        logger.warning("channel lookup failed", name=name, error=slack_error(exc))
    return None


async def _ensure_channel(services: Services, incident: Incident) -> str | None:
    names = channel_names(services.config.incidents.channel_prefix, incident.number, incident.title)
    last_error = "unknown"
    tried = incident.channel_name  # the name a set-up cut short by a crash was creating
    for name in names:
        for attempt in range(1, 6):
            candidate = name if attempt == 1 else f"{name}-{attempt}"
            async with services.db.transaction() as conn:
                await store.update(conn, incident.id, channel_name=candidate)  # before Slack creates it
            try:
                response = await services.slack.conversations_create(name=candidate)
                channel = response["channel"]
            except SlackApiError as exc:
                last_error = slack_error(exc)
                crashed = last_error == "name_taken" and candidate == tried
                found = await _find_channel(services, candidate) if crashed else None
                if found is not None:
                    channel = found  # created just before a crash: this incident's own channel
                elif last_error == "name_taken":
                    continue
                elif last_error.startswith("invalid_name"):
                    break  # try the next, plainer name
                else:
                    return f"channel not created: {last_error}"
            except SLACK_FAILURES as exc:
                return f"channel not created: {slack_error(exc)}"
            async with services.db.transaction() as conn:
                await store.update(conn, incident.id, channel_id=channel["id"], channel_name=channel["name"])
                await store.add_event(
                    conn, incident.id, services.clock.now(), None, "channel", f"channel #{channel['name']} created"
                )
            return None
    return f"channel not created: {last_error}"


async def _ensure_announcement(services: Services, incident: Incident) -> list[str]:
    if incident.announcement_ts:
        return await _refresh_announcement(services, incident)
    text, blocks = messages.announcement(
        incident,
        level(services, incident.severity),
        zone(services),
        services.clock.now(),
        await store.pages(services.db, incident.id),
        await pagerduty.paging_state(services, incident.id),
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


async def _recent(services: Services, incident: Incident) -> list[Deploy]:
    """Prod deploys of the 24 h before the declaration (the manual's "Check recent changes")."""
    since = incident.declared_at - timedelta(hours=24)
    return await deploys.finished_between(
        services.db, messages.production(services.config), since, incident.declared_at
    )


async def _ensure_kickoff(services: Services, incident: Incident) -> list[str]:
    if incident.kickoff_ts:
        return []
    ticks = await store.checks(services.db, incident.id)
    text, blocks = messages.kickoff(
        incident,
        level(services, incident.severity),
        services.config,
        ticks,
        zone(services),
        await _recent(services, incident),
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
        incident,
        level(services, incident.severity),
        zone(services),
        services.clock.now(),
        await store.pages(services.db, incident.id),
        await pagerduty.paging_state(services, incident.id),
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
            "work. If it is back, its commander or a manager can `reopen` it."
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
        pd_run = await pagerduty.incident_severity_changed(services, conn, incident, now)
        reason_key = f"severity:{uuid.uuid4().hex[:12]}"
        if escalation:
            # Recorded with the change, so a crash before they are sent leaves them to the retry job.
            await _record_pages(
                services, conn, incident, _roles(services, severity), reason_key, f"Escalated to {severity}"
            )
            await _schedule_page_retry(services, conn, incident.id, now)
    await pagerduty.send_now(services, pd_run)
    answer = f"{incident.ref} is now {severity} (was {old})."
    if escalation:
        await _deliver_pages(services, incident)
        prefix = f"{incident.id}:{reason_key}:"
        mine = [p for p in await store.pages(services.db, incident.id) if p.page_key.startswith(prefix)]
        await _invite(services, incident, [p.user_id for p in mine if p.delivered_at])
        answer += " " + messages.paged_line(mine)
    await refresh(services, incident, topic=True)
    return answer.strip()


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
        incident = await _locked(conn, incident.id)
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
        await _schedule_nudge(services, conn, incident, now)
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
    await asyncio.gather(refresh(services, incident, topic=True), _refresh_kickoff(services, incident))
    return f"{incident.ref} is reopened, back at *{incident.stage}*; {mention(incident.commander)} has command."


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
                f"{incident.ref} was already acknowledged by "
                f"{mention(incident.acknowledged_by) if incident.acknowledged_by else 'someone in PagerDuty'} "
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
        pd_run = await pagerduty.incident_acknowledged(services, conn, incident, now)
    await pagerduty.send_now(services, pd_run)
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
    text, blocks = messages.kickoff(
        fresh, level(services, fresh.severity), services.config, ticks, zone(services), await _recent(services, fresh)
    )
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


async def escalate(services: Services, incident_id: int, role: str, severity: str, run_key: str) -> bool:
    incident = await store.get(services.db, incident_id)
    if incident is None or not incident.is_open or incident.acknowledged_at or incident.severity != severity:
        return False
    now = services.clock.now()
    waited = store.duration(incident.declared_at, now)
    reason = f"Not acknowledged after {waited}; escalating to you"
    async with services.db.transaction() as conn:
        await _record_pages(services, conn, incident, [role], f"escalate:{run_key}", reason)
    await _deliver_pages(services, incident)
    prefix = f"{incident_id}:escalate:{run_key}:"
    [mine] = [p for p in await store.pages(services.db, incident_id) if p.page_key.startswith(prefix)]
    if mine.delivered_at:
        await _invite(services, incident, [mine.user_id])
        text = f"escalated to {role} @{mine.user_id} (not acknowledged after {waited})"
    else:
        text = f"escalation to {role} failed: {mine.last_error or 'nobody on call'} (retried)"
    await store.add_event(services.db, incident_id, now, None, "escalated", text)
    if incident.channel_id:
        await services.slack.chat_postMessage(channel=incident.channel_id, text=f":arrow_up: {escape(text)}")
    return mine.delivered_at is not None


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
