"""Paging: every page recorded (who, why, attempts, delivered) before it is sent, in the transaction that calls for it
(the declaration, a severity escalation, an escalation step), then sent by the PAGE job, which waits on nothing but
the incident's channel (briefly, so the page can link it) and never on PagerDuty or the rest of the set-up (the
pagers of other domains, PagerDuty, subscribe to IncidentDeclared and run side by side with the first round).

What a round does not deliver is retried within seconds (1, 2, 4, 8 s, then longer, honouring Slack's
`Retry-After`), each retry a run of its own; when the retries are spent, the incident channel (or the incidents
channel) is told who was not reached, and the announcement says so too."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot import log
from bot.incidents import channel, guards, ids, messages, models, store
from bot.incidents.ids import Job
from bot.incidents.models import Incident
from bot.jobs import PAGING_LEASE
from bot.rota.lookup import OnCall, who_is_on_call
from bot.services import Services
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.failures import attempt
from bot.slack.text import escape, mention

logger = log.get("zzik.incidents")

PAGE_LEASE = PAGING_LEASE  # a round a dead replica left is taken over this soon (heartbeats renew it)
# Round n+1 is due this long after round n failed (or Slack's Retry-After, if longer); then the page is given up on.
PAGE_BACKOFF = [timedelta(seconds=s) for s in (1, 2, 4, 8, 15, 30, 60, 120, 300)]
# How long a sender's claim on a page stands: past it, a sender that died mid-send leaves the page to the next,
# and the round that found the page claimed comes back then. A live sender gives up on a send (and records it
# as failed, for the next round) before its claim runs out, so a claim never outlives its sender's attempt.
SENDING_CLAIM = timedelta(seconds=15)
SEND_LIMIT = SENDING_CLAIM - timedelta(seconds=3)
# How long a declaration's first round waits for the set-up to create the channel, so the page can link it.
CHANNEL_WAIT = timedelta(seconds=2)
# An escalation's timeline line: (role, the user the page reached or None, how long it waited, the error or None).
Entry = Callable[[str, str | None, str, str | None], str]


def paged_roles(services: Services, severity: str) -> list[str]:
    return ["primary", "secondary", "manager"] if services.config.severity(severity).all_hands else ["primary"]


async def on_call_now(services: Services) -> OnCall:
    """Who is on call now, read before a paging transaction opens: the lookup takes a connection of its own and
    may ask Slack, and a transaction that waited on either would hold its connection (20 declarations at once
    would then wait on each other for the pool)."""
    return await who_is_on_call(services, services.clock.now())


async def record_pages(
    services: Services,
    conn: Any,
    incident: Incident,
    roles: list[str],
    reason_key: str,
    reason: str,
    on_call: OnCall,
) -> None:
    people: list[tuple[str, str]] = []
    for role in roles:
        user = on_call.shift(role).user or f"nobody ({role})"
        if user not in [u for u, _ in people]:
            people.append((user, role))
    await store.add_pages(conn, incident.id, reason_key, reason, people, services.clock.now())


async def record_declared(services: Services, conn: Any, incident: Incident, on_call: OnCall) -> None:
    """In the declaration's transaction: who is paged, and the page job's first round, due at once."""
    lvl = services.config.severity(incident.severity)
    reason = "All hands" if lvl.all_hands else f"{incident.severity} incident declared"
    roles = paged_roles(services, incident.severity)
    await record_pages(services, conn, incident, roles, "declared", reason, on_call)
    await store.update(conn, incident.id, paged_at=incident.declared_at)
    await schedule_round(services, conn, incident.id, incident.declared_at)


async def record_missing(services: Services, incident: Incident) -> None:
    """For an incident declared before pages were recorded with the declaration: record them now (once)."""
    on_call = await on_call_now(services)
    async with services.db.transaction() as conn:
        current = await guards.locked(conn, incident.id)
        if current.paged_at is not None:
            return
        await record_declared(services, conn, current, on_call)


def _retry_after(exc: BaseException) -> float | None:
    """Slack's Retry-After (seconds) on a refused call, if it gave one."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    value = next((v for k, v in dict(headers).items() if str(k).lower() == "retry-after"), None)
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


async def deliver(services: Services, incident: Incident) -> list[str]:
    """Send every undelivered page of the incident that nobody else is sending, at once and side by side; record
    each outcome; schedule the next round for what is still undelivered (or, when the rounds are spent, tell the
    incident). Returns the failures, in words."""
    lvl = services.config.severity(incident.severity)
    waits: list[float] = []

    async def send(p: models.Page) -> str | None:
        try:
            async with asyncio.timeout(SEND_LIMIT.total_seconds()):
                await services.slack.chat_postMessage(
                    channel=p.user_id,
                    text=messages.page_text(incident, lvl, p.reason, services.config.channels.incidents),
                )
        except TimeoutError:
            return "timed out"
        except SLACK_FAILURES as exc:
            wait = _retry_after(exc)
            if wait is not None:
                waits.append(wait)
            return slack_error(exc)
        return None

    gave_up = False
    claimed = await store.claim_undelivered_pages(services.db, incident.id, services.clock.now(), SENDING_CLAIM)
    pending = [p for p in claimed if p.reachable]
    outcomes = await asyncio.gather(*(send(p) for p in pending))
    async with services.db.transaction() as conn:
        now = services.clock.now()
        delivered = []
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
            retry_after = timedelta(seconds=min(max(waits), 300)) if waits else None
            gave_up = not await schedule_round(services, conn, incident.id, now, retry_after=retry_after)
    undelivered = await store.pages(services.db, incident.id, undelivered=True)
    mine = {p.id for p in pending}
    held = [p.sending_since for p in undelivered if p.sending_since is not None and p.id not in mine]
    if held:
        # Another sender has claimed some pages: if it died mid-send (kill -9), nothing else would come back to
        # them, so a round is due when its claim runs out (it finds them delivered if the sender was alive).
        async with services.db.transaction() as conn:
            due = min(held) + SENDING_CLAIM + timedelta(seconds=0.5)
            await schedule_round(services, conn, incident.id, now, delay=max(due - now, timedelta(0)))
    failures = []
    for p in undelivered:
        who = mention(p.user_id) if p.reachable else escape(p.user_id)
        failures.append(f"could not page {who}: {p.last_error or 'not tried yet'}")
    if gave_up:
        await _tell_not_reached(services, incident, failures)
    return failures


async def escalation_sent(
    services: Services, incident: Incident, role: str, reason_key: str, waited: str, now: datetime, entry: Entry
) -> bool:
    """An escalation page recorded under `reason_key`, sent: whoever it reached is invited, and the timeline and the
    incident's channel get `entry(role, user reached or None, waited, error)`. Whether it was delivered."""
    await deliver(services, incident)
    start = ids.prefix(incident.id, reason_key)
    [mine] = [p for p in await store.pages(services.db, incident.id) if p.page_key.startswith(start)]
    if mine.delivered_at:
        await channel.invite(services, incident, [mine.user_id])
    text = entry(role, mine.user_id if mine.delivered_at else None, waited, mine.last_error)
    await store.add_event(services.db, incident.id, now, None, "escalated", text)
    if incident.channel_id:
        await services.slack.chat_postMessage(channel=incident.channel_id, text=messages.escalation_post(text))
    return mine.delivered_at is not None


async def schedule_round(
    services: Services,
    conn: Any,
    incident_id: int,
    now: datetime,
    *,
    delay: timedelta | None = None,
    retry_after: timedelta | None = None,
) -> bool:
    """The next round of the incident's page job: after `delay` if given, else at once for the first round and
    after the backoff (or Slack's Retry-After, if longer) for the others. False when the rounds are spent (the
    page is given up on); True when one is due (or already pending)."""
    if await services.jobs.pending(conn, Job.PAGE_RETRY, ids.prefix(incident_id)):
        return True
    tried = await services.jobs.count(conn, Job.PAGE_RETRY, ids.prefix(incident_id))
    if delay is None:
        if tried > len(PAGE_BACKOFF):
            return False
        delay = PAGE_BACKOFF[tried - 1] if tried else timedelta(0)
    if retry_after is not None:
        delay = max(delay, retry_after)
    await services.jobs.schedule_once(
        conn, Job.PAGE_RETRY, ids.key(incident_id, tried + 1), now + delay, {"incident_id": incident_id}
    )
    return True


async def _tell_not_reached(services: Services, incident: Incident, failures: list[str]) -> None:
    """The retries are spent: the incident (its channel, else the incidents channel) hears who was not reached."""
    text = messages.not_reached(incident, failures)
    async with services.db.transaction() as conn:
        await guards.locked(conn, incident.id)
        if any(e.kind == "page_failed" and e.text == text for e in await store.events(conn, incident.id)):
            return  # said already (a later escalation's send failed on the same pages)
        await store.add_event(conn, incident.id, services.clock.now(), None, "page_failed", text)
    logger.error("pages given up", incident=incident.ref, failures=failures)
    where = incident.channel_id or services.config.channels.incidents
    await attempt("undelivered pages not told", services.slack.chat_postMessage(channel=where, text=text))


async def wait_for_channel(services: Services, incident: Incident) -> Incident:
    """A declaration's first round gives the set-up up to CHANNEL_WAIT to create the channel the page links to;
    later rounds, and an incident whose channel exists (or is older than that), do not wait."""
    deadline = time.monotonic() + CHANNEL_WAIT.total_seconds()
    while not incident.channel_id and services.clock.now() - incident.declared_at < CHANNEL_WAIT:
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.05)
        incident = await store.get(services.db, incident.id) or incident
    return incident


async def page_round(services: Services, incident_id: int) -> None:
    """The PAGE job: the incident's undelivered pages; whoever was reached joins the channel, and the announcement
    says how paging stands."""
    incident = await store.get(services.db, incident_id)
    if incident is None or not incident.is_open:
        return
    if incident.paged_at is None:  # declared before pages were recorded with the declaration
        await record_missing(services, incident)
    incident = await wait_for_channel(services, incident)
    tried_before = {p.id: p.attempts for p in await store.pages(services.db, incident_id, undelivered=True)}
    await deliver(services, incident)
    reached = [p for p in await store.pages(services.db, incident_id) if p.id in tried_before and p.delivered_at]
    incident = await store.get(services.db, incident_id) or incident
    if reached and incident.channel_id:
        await channel.invite(services, incident, [p.user_id for p in reached])
        late = [p.user_id for p in reached if tried_before[p.id] > 0]
        if late:  # a retry reached someone the first try did not: the channel hears it
            await attempt(
                "late page not told",
                services.slack.chat_postMessage(channel=incident.channel_id, text=messages.paged_late(late)),
            )
    if incident.announcement_ts and reached:
        await channel.refresh_announcement(services, incident)


# How long the set-up waits for the first round: enough for one taken over from a dead replica (its lease).
SETTLE_WITHIN = PAGE_LEASE + CHANNEL_WAIT + timedelta(seconds=3)
# How much longer, once the DMs were tried, it waits for the other pagers' first try (PagerDuty's), no more: a
# slow pager is told as under way.
PAGERS_GRACE = timedelta(seconds=1)


async def settled(services: Services, incident_id: int, within: timedelta = SETTLE_WITHIN) -> None:
    """Wait (at most `within`) until every reachable page of the incident was tried once, and (briefly) the other
    pagers' first try, so the announcement and the reporter's answer say who was reached rather than 'not tried
    yet'."""
    deadline = time.monotonic() + within.total_seconds()
    pagers_until: float | None = None
    while time.monotonic() < deadline:
        if pagers_until is None and await _dms_tried(services, incident_id):
            pagers_until = min(deadline, time.monotonic() + PAGERS_GRACE.total_seconds())
        if pagers_until is not None and (
            time.monotonic() >= pagers_until or await _pagers_tried(services, incident_id)
        ):
            return
        await asyncio.sleep(0.05)


async def _dms_tried(services: Services, incident_id: int) -> bool:
    pages = await store.pages(services.db, incident_id, undelivered=True)
    return all(p.attempts > 0 or not p.reachable for p in pages)


async def _pagers_tried(services: Services, incident_id: int) -> bool:
    return all([await p.settled(services, incident_id) for p in services.paging_providers])


async def all_hands(services: Services, incident: Incident) -> list[str]:
    """Who joins the channel at once besides reporter and commander: on P1, everyone on call."""
    if not services.config.severity(incident.severity).all_hands:
        return []
    return (await who_is_on_call(services, incident.declared_at)).chain()
