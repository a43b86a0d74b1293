"""Maintenance stories: post a checklist (on schedule or on demand), tick and assign, nudge when overdue."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot import audit, log
from bot.errors import NotFound, UsageError
from bot.events import Published
from bot.jobs import cron_next
from bot.maintenance import messages, models, store
from bot.maintenance.events import ChecklistPosted
from bot.maintenance.ids import Job
from bot.opsconfig import WEEKDAYS, Deadline
from bot.services import Services, zone
from bot.slack.blocks import selection_change
from bot.slack.failures import SLACK_FAILURES, failure, update_in_place

logger = log.get("zzik.maintenance")
LATE_AFTER = timedelta(minutes=15)


def deadline(due_at: datetime, rule: Deadline, tz: ZoneInfo) -> datetime:
    """The first moment matching the rule (weekday / day of month, and a time) after `due_at`, in the zone."""
    local = due_at.astimezone(tz)
    day = local.date()

    def at(d: date) -> datetime:
        return datetime.combine(d, rule.time, tzinfo=tz)

    if rule.day is not None:
        candidate = day.replace(day=rule.day)
        if at(candidate) <= local:
            year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
            candidate = date(year, month, rule.day)
        return at(candidate)
    if rule.weekday is not None:
        candidate = day + timedelta(days=(WEEKDAYS.index(rule.weekday) - day.weekday()) % 7)
        return at(candidate) if at(candidate) > local else at(candidate + timedelta(weeks=1))
    return at(day) if at(day) > local else at(day + timedelta(days=1))


def channel(services: Services) -> str:
    return services.config.channel(services.config.maintenance.channel)


async def post(
    services: Services, kind: str, due_at: datetime, *, posted_by: str | None = None, late: bool = False
) -> models.Post:
    """Record the checklist (once per kind and due time), then post it; a failed post raises so the job retries,
    and the retry posts the recorded checklist instead of recording another."""
    checklist = services.config.maintenance.checklists.get(kind)  # type: ignore[call-overload]
    if checklist is None:
        raise UsageError(messages.not_a_checklist(kind))
    now = services.clock.now()
    published = Published()
    async with services.db.transaction() as conn:
        record, created = await store.create(
            conn,
            kind=kind,
            due_at=due_at,
            items=list(checklist.items),
            at=now,
            deadline_at=deadline(due_at, checklist.deadline, zone(services)),
            late=late,
            posted_by=posted_by,
        )
        if created:
            await services.jobs.schedule_once(
                conn, Job.OVERDUE, str(record.id), record.deadline_at, {"post_id": record.id}
            )
            # The SLO domain's monthly report follows an SLO review (a subscriber).
            posted = ChecklistPosted(post_id=record.id, kind=kind, items=list(checklist.items))
            published = await services.events.publish(conn, posted)
            await audit.record(
                conn,
                kind="maintenance",
                action=f"post.{kind}",
                outcome="ok",
                actor=posted_by or "bot",
                detail={"post": record.id, "late": late},
            )
    if record.ts is None:
        items = await store.items(services.db, record.id)
        text, blocks = messages.checklist(record, items, zone(services), now)
        response = await services.slack.chat_postMessage(channel=channel(services), text=text, blocks=blocks)
        await store.set_message(services.db, record.id, response["channel"], response["ts"])
        record = await store.get(services.db, record.id) or record
    await services.events.after_commit(published)
    return record


async def post_now(services: Services, kind: str, actor: str) -> str:
    try:
        record = await post(services, kind, services.clock.now(), posted_by=actor)
    except SLACK_FAILURES as exc:
        return messages.not_posted(kind, failure("maintenance checklist not posted", exc).reason)
    return messages.posted(kind, channel(services), record, zone(services))


async def refresh(services: Services, post_id: int) -> None:
    record = await store.get(services.db, post_id)
    if record is None or record.ts is None:
        return
    items = await store.items(services.db, post_id)
    text, blocks = messages.checklist(record, items, zone(services), services.clock.now())
    await update_in_place(
        services.slack, "maintenance checklist", record.channel or channel(services), record.ts, text, blocks
    )


async def tick(services: Services, post_id: int, selected: set[int], actor: str, part: slice = slice(None)) -> None:
    now = services.clock.now()
    async with services.db.transaction() as conn:
        record = await store.get(conn, post_id, for_update=True)
        if record is None:
            raise NotFound("That checklist does not exist.")
        items = await store.items(conn, post_id)
        done = [i.item for i in items if i.done_by]
        change = selection_change(selected, done, [i.item for i in items[part]])  # a click reports its part only
        for item in change.tick:
            await store.mark(conn, post_id, item, actor, now)
        for item in change.untick:
            await store.mark(conn, post_id, item, None, None)
        items = await store.items(conn, post_id)
        complete = all(i.done_by for i in items)
        if complete != (record.completed_at is not None):
            await store.set_completed(conn, post_id, now if complete else None)
    await refresh(services, post_id)


async def tick_by_the_bot(services: Services, post_id: int, item: int, note: str) -> bool:
    """Tick one item of a checklist as the bot, with a note of what it checked (raw text, e.g. the backups' last
    runs); True if it ticked it now, False if someone had already. The message is refreshed either way (a retry
    after a failed refresh refreshes it)."""
    now = services.clock.now()
    async with services.db.transaction() as conn:
        record = await store.get(conn, post_id, for_update=True)
        if record is None or not 0 <= item < len(record.items):
            raise NotFound("That task is not on a checklist.")
        ticked = await store.mark(conn, post_id, item, models.BY_THE_BOT, now, note)
        items = await store.items(conn, post_id)
        if ticked and record.completed_at is None and all(i.done_by for i in items):
            await store.set_completed(conn, post_id, now)
        if ticked:
            await audit.record(
                conn,
                kind="maintenance",
                action=f"tick.{record.kind}",
                outcome="ok",
                actor=models.BY_THE_BOT,
                detail={"post": post_id, "item": item, "note": note},
            )
    await refresh(services, post_id)
    return ticked


async def assign(services: Services, post_id: int, item: int, actor: str) -> str:
    record = await store.get(services.db, post_id)
    if record is None or not 0 <= item < len(record.items):
        raise NotFound("That task is not on a checklist.")
    if not await store.assign(services.db, post_id, item, actor):
        return messages.already_yours(record.items[item])
    await refresh(services, post_id)
    return messages.assigned(record.items[item])


async def overdue(services: Services, post_id: int) -> bool:
    """One nudge in the checklist's thread when its deadline passes with tasks open."""
    record = await store.get(services.db, post_id)
    if record is None or record.completed_at is not None:
        return False
    if record.ts is None:  # its Slack post is not recorded yet: the nudge goes in its thread, so it waits (a retry)
        raise RuntimeError("the checklist is not posted yet; its nudge follows it")
    if not await store.set_nudged(services.db, post_id, services.clock.now()):
        return False
    items = await store.items(services.db, post_id)
    await services.slack.chat_postMessage(
        channel=record.channel or channel(services),
        thread_ts=record.ts,
        text=messages.nudge(record, items, zone(services)),
    )
    await refresh(services, post_id)
    return True


async def overview(services: Services) -> str:
    now = services.clock.now()
    rows = []
    for kind, checklist in services.config.maintenance.checklists.items():
        latest = await store.latest(services.db, kind)
        items = await store.items(services.db, latest.id) if latest else []
        rows.append((kind, latest, items, cron_next(checklist.schedule, zone(services))(now)))
    return messages.overview(rows, zone(services), now)


async def week_in_review(services: Services, starts: datetime, ends: datetime) -> list[str]:
    """The handoff summary's lines: checklists whose deadline passed this week with tasks still open."""
    missed = await store.missed_between(services.db, starts, ends, services.clock.now())
    posts = [(record, await store.items(services.db, record.id)) for record in missed]
    return messages.missed(posts, zone(services))
