"""On-call stories: who is on call, the schedule, overrides, the weekly handoff."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import audit, log, policy
from bot.errors import AlreadyDone, Invalid, NotFound, Refused, UsageError
from bot.oncall import messages, store
from bot.oncall.ids import Job
from bot.oncall.parse import OverrideCreate
from bot.policy import Do
from bot.rota import store as rota_store
from bot.rota.lookup import OnCall, rotation, who_is_on_call
from bot.services import Services
from bot.services import zone as team_zone
from bot.slack.client import SLACK_FAILURES
from bot.slack.failures import attempt
from bot.slack.text import mention

logger = log.get("zzik.oncall")
TICK = timedelta(microseconds=1)
Blocks = list[dict[str, Any]]


async def _viewer_zone(services: Services, user: str):
    try:
        return await services.users.zone(user)
    except SLACK_FAILURES:
        return None  # the answer still shows the team's time


async def show_now(services: Services, viewer: str) -> Blocks:
    now = services.clock.now()
    rot = rotation(services)
    current = await who_is_on_call(services, now)
    blocks = messages.on_call(
        current,
        team_zone(services),
        await _viewer_zone(services, viewer),
        title="On call now",
        roles=services.config.oncall.roles,
    )
    if rot.week_index(now) < 0:
        blocks.insert(1, messages.section(messages.not_started(rot.starts_at, team_zone(services))))
    return blocks


async def show_contacts(services: Services, viewer: str) -> str:
    """The kit's emergency contact list: for the rotation, whoever is on call (an override too) and the incident
    managers only."""
    await policy.require(services, Do.ONCALL_CONTACTS, viewer)
    return messages.contacts(services.config.oncall.contacts)


async def show_next(services: Services, viewer: str) -> Blocks:
    handoff = rotation(services).next_handoff(services.clock.now())
    incoming = await who_is_on_call(services, handoff)
    zone = team_zone(services)
    title = f"Next rotation, from {messages.when(handoff, zone)}"
    return messages.on_call(incoming, zone, await _viewer_zone(services, viewer), title=title)


async def show_at(services: Services, viewer: str, when: datetime, date_only: bool) -> Blocks:
    zone = team_zone(services)
    at = await who_is_on_call(services, when)
    title = f"On call at {messages.when(when, zone)}" + (" (noon, team time)" if date_only else "")
    blocks = messages.on_call(at, zone, await _viewer_zone(services, viewer), title=title)
    rot = rotation(services)
    if rot.week_index(when) < 0:
        blocks.insert(1, messages.section(messages.not_started(rot.starts_at, zone)))
    return blocks


async def show_schedule(services: Services, weeks: int) -> Blocks:
    rot = rotation(services)
    first = max(rot.week_index(services.clock.now()), 0)
    plan = [rot.week(n) for n in range(first, first + weeks)]
    overrides = await rota_store.overlapping(services.db, plan[0].starts_at, plan[-1].ends_at)
    members = {m for week in plan for m in (week.primary, week.secondary, week.manager) if m}
    ids = {m: await services.users.resolve(m) or m for m in members}

    def named(member: str | None) -> str | None:
        return ids[member] if member else None

    resolved = [
        replace(w, primary=named(w.primary), secondary=named(w.secondary), manager=named(w.manager)) for w in plan
    ]
    return messages.schedule(resolved, overrides, team_zone(services))


async def list_overrides(services: Services) -> str:
    now = services.clock.now()
    items = await rota_store.overlapping(services.db, now, now + timedelta(days=3660))
    return messages.overrides(items, team_zone(services))


async def _replaced(services: Services, role: str, starts: datetime, ends: datetime) -> set[str]:
    """Who the rotation has in `role` at any time in [starts, ends)."""
    rot = rotation(services)
    found = set()
    for n in range(rot.week_index(starts), rot.week_index(ends - TICK) + 1):
        member = rot.week(n).holder(role)
        if member:
            found.add(await services.users.resolve(member) or member)
    return found


async def create_override(services: Services, actor: str, req: OverrideCreate, request_id: str) -> str:
    """A manager sets any override; an engineer hands their own shift to someone. Taking someone else's
    shift is a request the one replaced accepts or declines (nobody makes themselves on call alone)."""
    now = services.clock.now()
    zone = team_zone(services)
    if await services.users.info(req.user) is None:
        raise UsageError(f"`{req.user}` is not a user in this workspace")
    starts = max(req.starts, now).astimezone(UTC)
    ends = req.ends.astimezone(UTC)
    approver = await _approver(services, actor, req, await _replaced(services, req.role, starts, ends))
    before = await who_is_on_call(services, now)
    async with services.db.transaction() as conn:
        await store.lock_role(conn, req.role)
        clash = await store.first_overlap(conn, req.role, starts, ends)
        if clash is not None:
            raise Invalid(
                f"That overlaps override {messages.override_line(clash, zone)}. "
                f"Cancel it first (`/oncall override cancel {clash.id}`) or pick other times."
            )
        override = await store.insert(conn, req.role, req.user, starts, ends, actor, approver=approver)
        if approver is None:
            await _schedule_edges(services, conn, override, now)
        detail = {"role": req.role, "user": req.user, "starts_at": starts, "ends_at": ends, "approver": approver}
        action = "override.request" if approver else "override.create"
        await _audit(conn, action, actor, override.id, request_id, **detail)
    note = " (it starts now: the start you gave has passed)" if req.starts < now else ""
    if approver is not None:
        return await _ask_approver(services, override, note)
    after = await who_is_on_call(services, now)
    told = ""
    if not after.same_people(before):
        told = await _announce_told(services, after, f"Override #{override.id} set by {mention(actor)}.")
    return f"Override set: {messages.override_line(override, zone)}{note}.{told}"


async def _approver(services: Services, actor: str, req: OverrideCreate, replaced: set[str]) -> str | None:
    """None when the actor may set the override; else the one person whose shift it takes, who must accept."""
    subject = policy.Subject(replaced=frozenset(replaced))
    if await policy.allows(services, Do.OVERRIDE_SET, actor, subject):
        return None
    if actor != req.user:
        await policy.require(
            services, Do.OVERRIDE_SET, actor, subject, what="set this override, or ask for the shift yourself"
        )
    people = sorted(u for u in replaced if u[:1] in "UW" and "@" not in u)
    if len(people) != 1:
        holders = ", ".join(mention(u) for u in sorted(replaced)) or "nobody"
        raise Refused(
            f"That time is the {req.role} shift of {holders}: ask for one person's shift at a time, or ask "
            f"{await policy.who_may(services, Do.OVERRIDE_SET, subject)} to set it."
        )
    return people[0]


async def _audit(conn: Any, action: str, actor: str, override_id: int, request_id: str, **detail: Any) -> None:
    await audit_oncall(conn, action, actor, request_id, override_id=override_id, **detail)


async def audit_oncall(conn: Any, action: str, actor: str | None, request_id: str | None, **detail: Any) -> None:
    """One audit row of an on-call change (an override's, a cover request's) that went through."""
    await audit.record(
        conn, kind="oncall", action=action, outcome="ok", actor=actor, detail=detail, request_id=request_id
    )


async def _schedule_edges(services: Services, conn: Any, override: store.Override, now: datetime) -> None:
    """The jobs that announce the override's start (unless it has started) and its end."""
    edges = [("begin", "begins", override.starts_at)] if override.starts_at > now else []
    for key, edge, at in [*edges, ("end", "ends", override.ends_at)]:
        payload = {"override_id": override.id, "edge": edge}
        await services.jobs.schedule_once(conn, Job.OVERRIDE_CHANGES, f"{override.id}:{key}", at, payload)


async def _ask_approver(services: Services, override: store.Override, note: str) -> str:
    zone = team_zone(services)
    approver = override.approver or ""
    text, blocks = messages.override_request(override, zone)
    failed = await attempt(
        "override request not sent", services.slack.chat_postMessage(channel=approver, text=text, blocks=blocks)
    )
    if failed is not None:
        async with services.db.transaction() as conn:
            await store.cancel(conn, override.id, "bot", services.clock.now())
        return (
            f"Your request could not be sent to {mention(approver)} ({failed.reason}), so it is withdrawn; "
            "ask them directly or try again in a minute."
        )
    return (
        f"Asked {mention(approver)} to accept: {messages.override_line(override, zone)}{note}. "
        "It counts once they accept; you will get a DM either way."
    )


async def answer_override(services: Services, override_id: int, actor: str, accept: bool, request_id: str) -> str:
    """The one replaced (or a manager) accepts or declines a request for their shift."""
    now = services.clock.now()
    zone = team_zone(services)
    override = await store.get(services.db, override_id)
    if override is None:
        raise NotFound("That override request does not exist.")
    subject = policy.Subject(replaced=frozenset({override.approver} if override.approver else set()))
    await policy.require(services, Do.OVERRIDE_ANSWER, actor, subject)
    before = await who_is_on_call(services, now)
    async with services.db.transaction() as conn:
        await store.lock_role(conn, override.role)
        if accept:
            if override.ends_at <= now:
                raise Invalid(f"Override #{override_id} asked for a time that is over.")
            clash = await store.first_overlap(conn, override.role, max(override.starts_at, now), override.ends_at)
            if clash is not None and clash.id != override_id:
                raise Invalid(f"That request overlaps override {messages.override_line(clash, zone)}, set since.")
        decided = await store.decide(conn, override_id, "accepted" if accept else "declined", actor, now)
        if decided is None:
            current = await store.get(conn, override_id)
            state = "cancelled" if current and current.cancelled_at else (current.status if current else "gone")
            return f"Override #{override_id} was already answered ({state})."
        if accept:
            await _schedule_edges(services, conn, decided, now)
        action = "override.accept" if accept else "override.decline"
        await _audit(conn, action, actor, override_id, request_id, requested_by=override.created_by)
    verdict = "accepted" if accept else "declined"
    line = messages.override_line(decided, zone)
    failed = await attempt(
        "override answer not sent",
        services.slack.chat_postMessage(
            channel=override.created_by, text=f"{mention(actor)} {verdict} your override request: {line}."
        ),
    )
    told_requester = (
        f" {mention(override.created_by)} could not be told ({failed.reason}); tell them." if failed else ""
    )
    told = ""
    if accept:
        after = await who_is_on_call(services, now)
        if not after.same_people(before):
            told = await _announce_told(services, after, f"Override #{override_id} accepted by {mention(actor)}.")
    return f"You {verdict} override #{override_id}: {line}.{told_requester}{told}"


async def cancel_override(services: Services, actor: str, override_id: int, request_id: str) -> str:
    now = services.clock.now()
    override = await store.get(services.db, override_id)
    if override is None:
        raise NotFound(f"There is no override #{override_id}; `/oncall overrides` lists them.")
    if override.cancelled_at is not None or override.status == "declined":
        raise AlreadyDone(f"Override #{override_id} was already cancelled.")
    if override.ends_at <= now:
        raise AlreadyDone(f"Override #{override_id} is already over.")
    replaced = await _replaced(services, override.role, max(override.starts_at, now), override.ends_at)
    subject = policy.Subject(requester=override.created_by, holder=override.user_id, replaced=frozenset(replaced))
    await policy.require(services, Do.OVERRIDE_CANCEL, actor, subject)
    before = await who_is_on_call(services, now)
    async with services.db.transaction() as conn:
        if not await store.cancel(conn, override_id, actor, now):
            raise AlreadyDone(f"Override #{override_id} was already cancelled.")
        for edge in ("begin", "end"):
            await services.jobs.cancel(conn, Job.OVERRIDE_CHANGES, f"{override_id}:{edge}")
        await _audit(conn, "override.cancel", actor, override_id, request_id)
    after = await who_is_on_call(services, now)
    note = ""
    if not after.same_people(before):
        note = await _announce_told(services, after, f"Override #{override_id} cancelled by {mention(actor)}.")
    return f"Override #{override_id} cancelled.{note}"


async def announce(services: Services, now_on: OnCall, reason: str) -> None:
    """'Now on call' in the incidents channel, and the on-call user group brought in line."""
    text, blocks = messages.now_on_call(now_on, team_zone(services), reason)
    channel = services.config.channels.incidents
    await asyncio.gather(
        services.slack.chat_postMessage(channel=channel, text=text, blocks=blocks),
        sync_usergroup(services, now_on),
    )


async def _announce_told(services: Services, now_on: OnCall, reason: str) -> str:
    """Announce after a change the user made; a Slack failure becomes a note in their answer, not an error
    (the change is saved)."""
    failed = await attempt("on-call announcement not posted", announce(services, now_on, reason))
    if failed is None:
        return ""
    return f" The announcement in {services.config.channels.incidents} failed ({failed.reason}); tell the team."


async def sync_usergroup(services: Services, now_on: OnCall) -> None:
    group = services.config.oncall.usergroup
    users = [u for u in now_on.chain() if u[:1] in "UW" and "@" not in u]
    if not group or not users:
        return
    # The announcement stands; the group catches up at the next change.
    await attempt(
        "on-call user group not updated", services.slack.usergroups_users_update(usergroup=group, users=users)
    )


async def week_in_review(services: Services, starts: datetime, ends: datetime) -> list[str]:
    """The on-call domain's own lines of the handoff summary: the overrides the week had."""
    zone = team_zone(services)
    items = await rota_store.overlapping(services.db, starts, ends)
    if not items:
        return []
    return ["*Overrides this week*", *(messages.override_line(o, zone) for o in items)]


async def handoff_reminder(services: Services, handoff_at: datetime) -> bool:
    outgoing = await who_is_on_call(services, handoff_at - TICK)
    incoming = await who_is_on_call(services, handoff_at)
    if not outgoing.chain() and not incoming.chain():
        return False
    summary: list[str] = []
    for section in services.handoff_summary:
        summary.extend(await section(services, handoff_at - timedelta(weeks=1), handoff_at))
    text, blocks = messages.handoff_reminder(outgoing, incoming, handoff_at, team_zone(services), summary)
    await services.slack.chat_postMessage(channel=services.config.channels.incidents, text=text, blocks=blocks)
    return True


async def handoff(services: Services, handoff_at: datetime, late: timedelta | None) -> bool:
    incoming = await who_is_on_call(services, max(handoff_at, services.clock.now()))
    if not incoming.chain():
        return False
    reason = f"Weekly handoff, {messages.when(handoff_at, team_zone(services))}."
    if late:
        reason += f" (Announced late: the bot was down for the handoff, {int(late.total_seconds() // 60)} min ago.)"
    await announce(services, incoming, reason)
    return True


async def incoming_dms(services: Services, handoff_at: datetime) -> list[str]:
    incoming = await who_is_on_call(services, handoff_at)
    zone = team_zone(services)
    sent = []
    for shift in incoming.shifts():
        if not shift.user or shift.user[:1] not in "UW" or "@" in shift.user:
            continue
        viewer = await _viewer_zone(services, shift.user)
        text = messages.incoming_dm(shift, handoff_at, zone, viewer, services.config.oncall.kit)
        await services.slack.chat_postMessage(channel=shift.user, text=text)
        sent.append(shift.user)
    return sent


async def override_changed(services: Services, override_id: int, edge: str, at: datetime) -> bool:
    """An override began or ended: announce it if that changed who is on call (and still matters)."""
    override = await store.get(services.db, override_id)
    now = services.clock.now()
    if override is None or override.cancelled_at is not None:
        return False
    if edge == "begins" and now >= override.ends_at:
        return False  # the bot was down for the whole override: its end is what people need to hear
    before = await who_is_on_call(services, at - TICK)
    after = await who_is_on_call(services, at)
    if after.same_people(before):
        return False
    current = after if now - at < timedelta(minutes=5) else await who_is_on_call(services, now)
    await announce(services, current, f"Override #{override_id} {edge}.")
    return True
