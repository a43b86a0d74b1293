"""The Slack set-up of a declared incident: durable work, each piece recorded as it lands, so a rerun (after a
crash, or *Retry set-up*) only does what is missing. Runs as the job SETUP."""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from bot import log
from bot.errors import NotFound
from bot.events import Published
from bot.incidents import channel, guards, ids, messages, paging, refusals, store
from bot.incidents.ids import Job
from bot.incidents.models import Incident
from bot.incidents.outcomes import SetupUnderWay
from bot.services import Services
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.failures import Failure, SlackErrorCode, attempt, failure
from bot.slack.text import escape, mention, plain, slug

logger = log.get("zzik.incidents")
SETUP_LEASE = timedelta(seconds=10)  # a set-up a dead replica left half done resumes this soon after


RESPONSE_URL_LIFETIME = timedelta(minutes=30)  # Slack's; after it, the reporter is answered by DM


@dataclass(frozen=True)
class Reply:
    """Where the answer of a set-up goes: the request's response_url while Slack keeps it, else a DM."""

    user: str
    response_url: str | None = None
    kind: str = "declare"  # or "retry"
    shortened: bool = False  # the declared title was cut to fit (the full text is the description)

    def payload(self) -> dict[str, Any]:
        return {"user": self.user, "response_url": self.response_url, "kind": self.kind, "shortened": self.shortened}


async def setup(services: Services, incident_id: int, *, resend: bool = False) -> list[str]:
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
    if incident.paged_at is None:  # declared before pages were recorded with the declaration
        await paging.record_missing(services, incident)
        await services.jobs.run_now(Job.PAGE_RETRY, ids.key(incident_id, 1))
    # The page job pages side by side with this set-up (it waits for the channel above, no longer); the
    # announcement and the invitations say who it reached, so they wait (briefly) for its first try.
    await paging.settled(services, incident_id)
    if resend:  # *Retry set-up*: what the page job has not delivered is sent again now, not at its next round
        await paging.deliver(services, incident)
    failures += [f for f in await _paging_failures(services, incident_id)]
    steps = [_ensure_announcement(services, incident)]
    if incident.channel_id:
        reached = [p.user_id for p in await store.pages(services.db, incident_id) if p.delivered_at]
        members = [incident.reporter, incident.commander, *await paging.all_hands(services, incident), *reached]
        steps += [
            channel.set_topic(services, incident),
            channel.invite(services, incident, list(dict.fromkeys(members))),
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


async def start(services: Services, incident_id: int, published: Published | None = None) -> None:
    """After the declaration's commit: its first page round, its set-up and the runs of its IncidentDeclared
    subscribers (PagerDuty's trigger), here and side by side (a ticker elsewhere may get to one first; it runs
    there)."""
    await asyncio.gather(
        services.jobs.run_now(Job.PAGE_RETRY, ids.key(incident_id, 1)),
        services.jobs.run_now(Job.SETUP, ids.key(incident_id, 1)),
        services.events.after_commit(published or Published()),
    )


async def _paging_failures(services: Services, incident_id: int) -> list[str]:
    """Who the page job has not reached (yet), in words, for the set-up's failures."""
    return [
        f"could not page {mention(p.user_id) if p.reachable else escape(p.user_id)}: {p.last_error}"
        for p in await store.pages(services.db, incident_id, undelivered=True)
        if p.attempts > 0 or not p.reachable
    ]


async def run_setup(services: Services, incident_id: int, payload: dict[str, Any]) -> None:
    """The SETUP job: set up what is missing, then answer the one who asked (the reporter once). `payload` is
    the job's Reply."""
    reply = Reply(**payload)
    failures = await setup(services, incident_id, resend=reply.kind == "retry")
    incident = await store.get(services.db, incident_id)
    if incident is None:
        return
    pages = await store.pages(services.db, incident_id)
    if reply.kind == "declare":
        text, blocks = messages.declared(
            incident,
            pages,
            failures,
            shortened=reply.shortened,
            pagerduty=await channel.paging_state(services, incident_id),
        )
        if incident.reporter_answered_at is None:
            await _reply(services, reply, incident.declared_at, text, blocks)
            await store.mark_answered(services.db, incident_id, services.clock.now())
        return
    await _reply(services, reply, services.clock.now(), messages.set_up_again(incident, pages, failures), None)


async def _reply(
    services: Services, reply: Reply, asked_at: datetime, text: str, blocks: list[dict[str, Any]] | None
) -> None:
    """Answer by the response_url while Slack still takes it; else (or if it fails) by DM. A DM that fails
    too raises, so the job is retried: the answer is never dropped silently."""
    respond = services.slack.responder(reply.response_url)
    if respond is not None and services.clock.now() - asked_at < RESPONSE_URL_LIFETIME:
        try:
            response = await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)
            if response.status_code == 200:
                return
            logger.warning("response_url refused the answer", status=response.status_code)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            logger.warning("response_url unreachable", error=type(exc).__name__)
    await services.slack.chat_postMessage(channel=reply.user, text=text, blocks=blocks)
    if reply.response_url:  # an answer its response_url did not carry (refused, 429, unreachable or expired)
        services.metrics.answer_fallbacks.labels("job", Job.SETUP, "dm").inc()


async def retry_setup(
    services: Services, incident_id: int, actor: str, response_url: str | None
) -> SetupUnderWay | None:
    """*Retry set-up*: one more SETUP run (it re-sends undelivered pages too). Its answer comes from the run;
    SetupUnderWay here means none was started."""
    incident = await store.get(services.db, incident_id)
    if incident is None:
        raise NotFound(refusals.NO_INCIDENT)
    if await services.jobs.active(Job.SETUP, ids.prefix(incident_id)):
        return SetupUnderWay(incident)
    runs = await services.jobs.count(None, Job.SETUP, ids.prefix(incident_id))
    key = ids.key(incident_id, runs + 1)
    async with services.db.transaction() as conn:
        reply = Reply(actor, response_url, "retry")
        if not await services.jobs.schedule_once(
            conn, Job.SETUP, key, services.clock.now(), {"incident_id": incident_id, "reply": reply.payload()}
        ):
            return SetupUnderWay(incident)
        await guards.audit(conn, "retry_setup", actor, incident)
    await services.jobs.run_now(Job.SETUP, key)
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
    last: Failure | None = None
    tried = incident.channel_name  # the name a set-up cut short by a crash was creating
    for name in names:
        for n in range(1, 6):
            candidate = name if n == 1 else f"{name}-{n}"
            async with services.db.transaction() as conn:
                await store.update(conn, incident.id, channel_name=candidate)  # before Slack creates it
            try:
                response = await services.slack.conversations_create(name=candidate)
                created = response["channel"]
            except SLACK_FAILURES as exc:
                failed = failure("channel not created", exc)
                crashed = failed.code == SlackErrorCode.NAME_TAKEN and candidate == tried
                found = await _find_channel(services, candidate) if crashed else None
                if found is not None:
                    created = found  # created just before a crash: this incident's own channel
                elif failed.code == SlackErrorCode.NAME_TAKEN:
                    last = failed
                    continue
                elif failed.code == SlackErrorCode.INVALID_NAME:
                    last = failed
                    break  # try the next, plainer name
                else:
                    return str(failed)
            await _record_channel(services, incident, created)
            return None
    return str(last) if last else "channel not created: unknown"


async def _record_channel(services: Services, incident: Incident, created: dict[str, Any]) -> None:
    async with services.db.transaction() as conn:
        await store.update(conn, incident.id, channel_id=created["id"], channel_name=created["name"])
        entry = f"channel #{created['name']} created"
        await store.add_event(conn, incident.id, services.clock.now(), None, "channel", entry)


async def _ensure_announcement(services: Services, incident: Incident) -> list[str]:
    if incident.announcement_ts:
        return await channel.refresh_announcement(services, incident)
    text, blocks = await channel.announcement(services, incident)
    where = services.config.channels.incidents
    try:
        response = await services.slack.chat_postMessage(channel=where, text=text, blocks=blocks, unfurl_links=False)
    except SLACK_FAILURES as exc:
        return [str(failure(f"announcement in {where} not posted", exc))]
    async with services.db.transaction() as conn:
        await store.update(conn, incident.id, announcement_channel=response["channel"], announcement_ts=response["ts"])
    return []


async def _ensure_kickoff(services: Services, incident: Incident) -> list[str]:
    if incident.kickoff_ts:
        return []
    text, blocks = await channel.kickoff(services, incident)
    try:
        response = await services.slack.chat_postMessage(channel=incident.slack_channel, text=text, blocks=blocks)
    except SLACK_FAILURES as exc:
        return [str(failure("kickoff message not posted", exc))]
    async with services.db.transaction() as conn:
        await store.update(conn, incident.id, kickoff_ts=response["ts"])
    pin = services.slack.pins_add(channel=incident.slack_channel, timestamp=response["ts"])
    return channel.said([await attempt("kickoff message not pinned", pin, harmless={SlackErrorCode.ALREADY_PINNED})])
