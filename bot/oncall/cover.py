"""Urgent cover, "take my pager now": whoever is on call for a role (or a manager) asks; the request goes to the
rotation at once (a DM to each engineer who could take it, and the incidents channel while a P1/P2 incident is
open); the first member of the rotation to press *I'll cover* gets an accepted override at once, with no
acceptance step (one conditional UPDATE: of two presses at once exactly one wins). Unanswered after
`oncall.cover_ask_manager_after`, the on-call manager is asked too.

Every Slack message is a job run written with the change (post, edit, tell), retried, and one that is given up
on is told to the one who asked."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import asyncpg

from bot import log, policy
from bot.errors import AlreadyDone, Invalid, NotFound, Refused, UsageError
from bot.incidents.api import open_incidents
from bot.jobs import JobRun
from bot.oncall import cover_messages as words
from bot.oncall import flows, store
from bot.oncall.ids import Job
from bot.oncall.models import CoverPost, CoverRequest
from bot.oncall.parse import COVER_DEFAULT, MAX_COVER, Cover, cover_until
from bot.policy import Do
from bot.rota.lookup import OnCall, who_is_on_call
from bot.services import Services
from bot.services import zone as team_zone
from bot.slack.failures import slack_error
from bot.slack.text import mention

logger = log.get("zzik.oncall.cover")
BOT = "bot"


def _person(user: str | None) -> bool:
    return bool(user) and str(user)[:1] in "UW" and "@" not in str(user)


async def _audit(conn: Any, action: str, actor: str | None, cover_id: int, request_id: str | None, **detail: Any):
    await flows.audit_oncall(conn, action, actor, request_id, cover_id=cover_id, **detail)


# -- asking -----------------------------------------------------------------------------------------------------


async def _role(services: Services, actor: str, current: OnCall, role: str | None) -> str:
    """The role asked for: the one given, else the asker's own (primary first)."""
    if role is not None:
        return role
    for mine in ("primary", "secondary"):
        if current.shift(mine).user == actor:
            return mine
    holders = frozenset(u for u in (current.primary.user, current.secondary.user) if u)
    await policy.require(services, Do.COVER_ASK, actor, policy.Subject(replaced=holders))
    raise UsageError("You are not on call as primary or secondary now: say which role, e.g. `/oncall cover primary`")


async def _ends(services: Services, actor: str, req: Cover, now: datetime) -> datetime:
    if not req.until:
        return now + (req.length or COVER_DEFAULT)
    own = await flows._viewer_zone(services, actor)
    ends = cover_until(req.until, own or team_zone(services), now)  # the asker's time, as they typed it
    if ends <= now:
        raise Invalid("That time has passed: cover must end after now.")
    if ends - now > MAX_COVER:
        raise Invalid("Urgent cover lasts 7 days at most: plan longer with `/oncall override`.")
    return ends


async def _volunteers(services: Services, exclude: set[str | None]) -> list[str]:
    """The rotation's engineers who could take it (user ids; an email Slack does not know cannot get a DM)."""
    found: list[str] = []
    for member in services.config.oncall.engineers:
        user = await services.users.resolve(member)
        if _person(user) and user not in exclude and user not in found:
            found.append(str(user))
    return found


async def _serious_incidents(services: Services) -> list[str]:
    """The open P1/P2 incidents (their refs): while one is open, the incidents channel hears the request too."""
    return [i.ref for i in await open_incidents(services.db) if i.severity.rank <= 2]


async def ask(services: Services, actor: str, req: Cover, request_id: str) -> str:
    now = services.clock.now()
    current = await who_is_on_call(services, now)
    role = await _role(services, actor, current, req.role)
    shift = current.shift(role)
    replaced = frozenset({shift.user} if shift.user else set())
    await policy.require(services, Do.COVER_ASK, actor, policy.Subject(replaced=replaced))
    ends = await _ends(services, actor, req, now)
    clipped = shift.until is not None and ends > shift.until
    if shift.until is not None and clipped:
        ends = shift.until
    volunteers = await _volunteers(services, {actor, shift.user})
    incidents = await _serious_incidents(services)
    try:
        async with services.db.transaction() as conn:
            cover, posts = await _store_request(services, conn, actor, role, shift.user, ends, volunteers, incidents)
            detail = {
                "role": role,
                "replaced": shift.user,
                "ends_at": ends,
                "asked": volunteers,
                "incidents": incidents,
            }
            await _audit(conn, "cover.ask", actor, cover.id, request_id, **detail)
    except asyncpg.UniqueViolationError:  # another request for the role was made at the same moment
        raise AlreadyDone(f"Someone else just asked for {role} cover: `/oncall` shows it once it is taken.") from None
    await _run(services, Job.COVER_POST, [str(p.id) for p in posts])
    if not volunteers:
        await _run(services, Job.COVER_ESCALATE, [str(cover.id)])
    done = await store.cover_posts(services.db, cover.id)
    answer = words.asked(
        cover,
        team_zone(services),
        await flows._viewer_zone(services, actor),
        reached=[_where(p) for p in done if p.ts and p.why != "manager"],
        waiting=[_where(p) for p in done if not p.ts and p.why != "manager"],
        manager_after=services.config.oncall.cover_ask_manager_after,
        clipped=clipped,
        manager=bool(await _managers(services, cover)),
    )
    return answer + (f" Open incident: {', '.join(incidents)}." if incidents else "")


async def _store_request(
    services: Services,
    conn: asyncpg.Connection,
    actor: str,
    role: str,
    replaced: str | None,
    ends: datetime,
    volunteers: list[str],
    incidents: list[str],
) -> tuple[CoverRequest, list[CoverPost]]:
    """The request, its messages' runs, the manager's turn and its end, in the caller's transaction."""
    now = services.clock.now()
    await store.expire_ended_covers(conn, role, now)
    existing = await store.open_cover(conn, role)
    if existing is not None:
        raise AlreadyDone(
            f"{mention(existing.requested_by)} already asked for {role} cover (request #{existing.id}), "
            "still open: the first to press *I'll cover* takes it."
        )
    cover = await store.insert_cover(conn, role, replaced, actor, now, ends)
    targets = [(u, "rotation") for u in volunteers]
    if incidents:
        targets.append((services.config.channels.incidents, "incidents"))
    posts = await _add_posts(services, conn, cover, targets, now)
    # With nobody else to ask, the manager is asked at once.
    escalate_at = now + services.config.oncall.cover_ask_manager_after if volunteers else now
    await services.jobs.schedule_once(conn, Job.COVER_ESCALATE, str(cover.id), escalate_at, _key(cover))
    await services.jobs.schedule_once(conn, Job.COVER_EXPIRE, str(cover.id), cover.ends_at, _key(cover))
    return cover, posts


NO_MANAGER = "no_manager"  # a COVER_TELL about there being no manager to ask


def _key(cover: CoverRequest) -> dict[str, Any]:
    return {"cover_id": cover.id}


def _where(post: CoverPost) -> str:
    return mention(post.target) if _person(post.target) else post.target


async def _add_posts(
    services: Services, conn: asyncpg.Connection, cover: CoverRequest, targets: list[tuple[str, str]], now: datetime
) -> list[CoverPost]:
    posts = []
    for target, why in targets:
        post = await store.add_cover_post(conn, cover.id, target, why)
        if post is not None:
            await services.jobs.schedule_once(conn, Job.COVER_POST, str(post.id), now, {"post_id": post.id})
            posts.append(post)
    return posts


async def _run(services: Services, job: str, keys: list[str]) -> None:
    """Run the runs just committed here, side by side (a failed one is retried by the runner)."""
    if keys:
        await asyncio.gather(*(services.jobs.run_now(job, key) for key in keys))


# -- taking -----------------------------------------------------------------------------------------------------


async def take(services: Services, cover_id: int, actor: str, request_id: str) -> str:
    """*I'll cover*: the first member of the rotation to press it is on call at once."""
    now = services.clock.now()
    zone = team_zone(services)
    cover = await store.cover(services.db, cover_id)
    if cover is None:
        raise NotFound("That button does not belong to a request for cover.")
    await policy.require(services, Do.COVER_TAKE, actor)
    if not cover.is_open:
        raise AlreadyDone(words.closed(cover, zone))
    if actor == cover.requested_by:
        raise Refused("You asked for this cover: someone else takes it (`/oncall cover cancel` calls it off).")
    if (await who_is_on_call(services, now)).shift(cover.role).user == actor:
        raise Refused(f"You are already on call as {cover.role}: someone else must take it.")
    managers = await _managers(services, cover)  # (Slack lookups: not while holding the role's lock)
    async with services.db.transaction() as conn:
        await store.lock_role(conn, cover.role)
        won = await store.take_cover(conn, cover_id, actor, now)
        if won is None:
            latest = await store.cover(conn, cover_id) or cover
            raise AlreadyDone(words.closed(latest, zone))  # (still open: its time is over, the expiry job says so)
        # The cover ends where the next override of the role begins, if one begins first.
        ends = await store.next_override_start(conn, cover.role, now, won.ends_at) or won.ends_at
        override = await store.insert(conn, cover.role, actor, now, ends, won.requested_by)
        await store.set_cover_override(conn, cover_id, override.id)
        await flows._schedule_edges(services, conn, override, now)  # its end
        # Its start, now: "now on call" in the incidents channel and the on-call user group, as an override's start.
        begin = {"override_id": override.id, "edge": "begins"}
        await services.jobs.schedule_once(conn, Job.OVERRIDE_CHANGES, f"{override.id}:begin", now, begin)
        await services.jobs.cancel(conn, Job.COVER_ESCALATE, str(cover_id))
        await services.jobs.cancel(conn, Job.COVER_EXPIRE, str(cover_id))
        updates = await _schedule_updates(services, conn, cover_id, now)
        tells = await _schedule_tells(services, conn, won, managers, now)
        detail = {"role": won.role, "replaced": won.replaced, "requested_by": won.requested_by}
        await _audit(conn, "cover.take", actor, cover_id, request_id, override_id=override.id, ends_at=ends, **detail)
    await asyncio.gather(
        services.jobs.run_now(Job.OVERRIDE_CHANGES, f"{override.id}:begin"),
        _run(services, Job.COVER_UPDATE, updates),
        _run(services, Job.COVER_TELL, tells),
    )
    return words.taken(won, override, zone, await flows._viewer_zone(services, actor))


async def _schedule_updates(services: Services, conn: asyncpg.Connection, cover_id: int, now: datetime) -> list[str]:
    """An edit for every message of the request already posted (one posted later is edited by its own run)."""
    keys = []
    for post in await store.cover_posts(conn, cover_id):
        if post.ts and await services.jobs.schedule_once(
            conn, Job.COVER_UPDATE, str(post.id), now, {"post_id": post.id}
        ):
            keys.append(str(post.id))
    return keys


async def _managers(services: Services, cover: CoverRequest) -> list[str]:
    """Who is asked, and told, as the manager: the on-call manager, else the rotation's managers; never the one who
    asked."""
    on_call = (await who_is_on_call(services, services.clock.now())).manager.user
    if _person(on_call) and on_call != cover.requested_by:
        return [str(on_call)]
    found = []
    for member in services.config.oncall.managers:
        user = await services.users.resolve(member)
        if _person(user) and user != cover.requested_by:
            found.append(str(user))
    return found


async def _schedule_tells(
    services: Services, conn: asyncpg.Connection, cover: CoverRequest, managers: list[str], now: datetime
) -> list[str]:
    """DMs to the one who asked and to the manager (not to the one who took it)."""
    people = [cover.requested_by, *managers]
    keys = []
    for user in dict.fromkeys(people):
        if user == cover.taken_by or not _person(user):
            continue
        key = f"{cover.id}:{user}"
        if await services.jobs.schedule_once(conn, Job.COVER_TELL, key, now, {"cover_id": cover.id, "user": user}):
            keys.append(key)
    return keys


# -- cancelling -------------------------------------------------------------------------------------------------


async def cancel(services: Services, actor: str, request_id: str) -> str:
    """`/oncall cover cancel`: the asker calls off their open requests."""
    now = services.clock.now()
    mine = await store.open_covers_asked_by(services.db, actor)
    if not mine:
        raise NotFound("You have no open request for cover.")
    updates, cancelled = [], []
    async with services.db.transaction() as conn:
        for cover in mine:
            closed = await store.close_cover(conn, cover.id, "cancelled", actor, now)
            if closed is None:
                continue  # taken in the meantime
            cancelled.append(closed)
            await services.jobs.cancel(conn, Job.COVER_ESCALATE, str(cover.id))
            await services.jobs.cancel(conn, Job.COVER_EXPIRE, str(cover.id))
            updates += await _schedule_updates(services, conn, cover.id, now)
            await _audit(conn, "cover.cancel", actor, cover.id, request_id, role=cover.role)
    if not cancelled:
        raise AlreadyDone("Your request was taken just now: `/oncall` shows who covers.")
    await _run(services, Job.COVER_UPDATE, updates)
    return "Cancelled: " + ", ".join(f"{c.role} cover (request #{c.id})" for c in cancelled) + "."


# -- the jobs ---------------------------------------------------------------------------------------------------


async def post(services: Services, post_id: int) -> None:
    """Job COVER_POST: one message with the button (a DM or the incidents channel), while the request is open."""
    item = await store.cover_post(services.db, post_id)
    cover = await store.cover(services.db, item.request_id) if item else None
    if item is None or cover is None or item.ts or not cover.is_open:
        return
    waited = services.clock.now() - cover.requested_at if item.why == "manager" else None
    text, blocks = words.request(cover, team_zone(services), waited=waited)
    sent = await services.slack.chat_postMessage(channel=item.target, text=text, blocks=blocks)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        await store.cover_posted(conn, post_id, str(sent["channel"]), str(sent["ts"]), now)
        # Taken or cancelled while it was being posted: the take saw no ts, so this message is edited from here.
        late = await store.cover_status_locked(conn, cover.id) != "open"
        if late:
            late = await services.jobs.schedule_once(conn, Job.COVER_UPDATE, str(post_id), now, {"post_id": post_id})
    if late:
        await services.jobs.run_now(Job.COVER_UPDATE, str(post_id))


async def update(services: Services, post_id: int) -> None:
    """Job COVER_UPDATE: the message says who took it (or that it was cancelled or ended); no button any more."""
    item = await store.cover_post(services.db, post_id)
    cover = await store.cover(services.db, item.request_id) if item else None
    if item is None or cover is None or not item.channel_id or not item.ts or cover.is_open:
        return
    until = None
    if cover.override_id is not None:
        override = await store.get(services.db, cover.override_id)
        until = override.ends_at if override else None
    text, blocks = words.outcome(cover, team_zone(services), until)
    await services.slack.chat_update(channel=item.channel_id, ts=item.ts, text=text, blocks=blocks)


async def tell(services: Services, cover_id: int, user: str, about: str | None = None) -> None:
    """Job COVER_TELL: a DM to the one who asked, or the manager, that the cover was taken (or, to the one who
    asked, that nobody took it, or, `about` NO_MANAGER, that there is no manager to ask while it is open)."""
    cover = await store.cover(services.db, cover_id)
    if cover is None:
        return
    zone = team_zone(services)
    if about == NO_MANAGER:
        if not cover.is_open:
            return  # taken, cancelled or over meanwhile: that DM says so
        text = words.no_manager(cover, zone)
    elif cover.status == "expired":
        text = words.nobody_took(cover, zone)
    else:
        override = await store.get(services.db, cover.override_id) if cover.override_id is not None else None
        if override is None:
            return
        text = words.told(cover, override, zone, requester=user == cover.requested_by)
    await services.slack.chat_postMessage(channel=user, text=text)


async def escalate(services: Services, cover_id: int) -> None:
    """Job COVER_ESCALATE: nobody took it in time, so the manager gets the request and the button (once)."""
    cover = await store.cover(services.db, cover_id)
    if cover is None or not cover.is_open:
        return
    managers = await _managers(services, cover)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        if await store.cover_status_locked(conn, cover_id) != "open":
            return
        posts = await _add_posts(services, conn, cover, [(m, "manager") for m in managers], now)
        await _audit(conn, "cover.escalate", None, cover_id, None, managers=managers)
        told = []
        if not managers:  # nobody else to ask: the one who asked hears it (durably), not only the log
            key, payload = f"{cover_id}:{cover.requested_by}:{NO_MANAGER}", {**_key(cover), "about": NO_MANAGER}
            await services.jobs.schedule_once(conn, Job.COVER_TELL, key, now, {**payload, "user": cover.requested_by})
            told.append(key)
    if not managers:
        logger.warning("urgent cover unanswered and no manager to ask", cover_id=cover_id)
    await asyncio.gather(
        _run(services, Job.COVER_POST, [str(p.id) for p in posts]), _run(services, Job.COVER_TELL, told)
    )


async def expire(services: Services, cover_id: int) -> None:
    """Job COVER_EXPIRE: the time asked for is over and nobody took it: the messages say so, the asker hears it."""
    now = services.clock.now()
    async with services.db.transaction() as conn:
        cover = await store.close_cover(conn, cover_id, "expired", None, now)
        if cover is None:
            return
        await services.jobs.cancel(conn, Job.COVER_ESCALATE, str(cover_id))
        updates = await _schedule_updates(services, conn, cover_id, now)
        key = f"{cover_id}:{cover.requested_by}"
        told = {"cover_id": cover_id, "user": cover.requested_by}
        await services.jobs.schedule_once(conn, Job.COVER_TELL, key, now, told)
        await _audit(conn, "cover.expire", None, cover_id, None)
    await asyncio.gather(_run(services, Job.COVER_UPDATE, updates), _run(services, Job.COVER_TELL, [key]))


async def gave_up(services: Services, run: JobRun, error: Exception) -> None:
    """A cover message that could not be sent or edited after every retry: the one who asked is told (a failure
    is never silent); if that DM fails too, the log has it."""
    what = _what_failed(run, await _target(services, run), error)
    cover_id = run.payload.get("cover_id") or await _cover_of_post(services, run.payload.get("post_id"))
    cover = await store.cover(services.db, cover_id) if cover_id else None
    logger.error("urgent cover message given up", job=run.job, key=run.run_key, error=slack_error(error))
    if cover is None or (run.job == Job.COVER_TELL and run.payload.get("user") == cover.requested_by):
        return
    try:
        await services.slack.chat_postMessage(channel=cover.requested_by, text=words.not_delivered(cover, what))
    except Exception as exc:
        logger.error("urgent cover failure not told", cover_id=cover.id, error=repr(exc))


async def _target(services: Services, run: JobRun) -> str:
    if run.job == Job.COVER_TELL:
        return str(run.payload.get("user"))
    item = await store.cover_post(services.db, int(run.payload.get("post_id") or 0))
    return item.target if item else "?"


async def _cover_of_post(services: Services, post_id: Any) -> int | None:
    item = await store.cover_post(services.db, int(post_id or 0))
    return item.request_id if item else None


def _what_failed(run: JobRun, target: str, error: Exception) -> str:
    where = mention(target) if _person(target) else target
    reason = slack_error(error)
    match run.job:
        case Job.COVER_POST:
            return f"the message to {where} was not delivered ({reason})"
        case Job.COVER_UPDATE:
            return f"the message to {where} could not be updated ({reason})"
        case _:
            return f"{where} could not be told who covers ({reason})"
