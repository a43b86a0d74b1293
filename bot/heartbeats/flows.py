"""Heartbeat stories: a job reports a run (the webhook), the periodic check (Prometheus's last successes read, late
jobs alerted), the daily checklist's backup item, /backups.

An alert goes through the alerts pipeline (bot.alerts.api.submit: stored, posted in #zzik-alerts, paged and
escalated by its priority), keyed by the heartbeat's name: one open episode at a time per job, raised when it is
late (interval + grace past its last success) or a run failed, resolved by its next successful run. The episode's
start is recorded (heartbeats.alert_starts_at), so the resolve names the same episode."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from bot import audit, log
from bot.alerts import api as alerts
from bot.alerts.ids import Source as AlertSource
from bot.db import Conn
from bot.errors import NotFound
from bot.heartbeats import messages, store
from bot.heartbeats.ids import Job, Reason, Source, State, fingerprint
from bot.heartbeats.models import Heartbeat, Run
from bot.heartbeats.watch import Row, Standing, due_at, standing
from bot.maintenance import api as maintenance
from bot.maintenance.events import ChecklistPosted
from bot.prom import PrometheusError
from bot.services import Services, zone
from bot.slack.client import SLACK_FAILURES

logger = log.get("zzik.heartbeats")
CHECK_EVERY = timedelta(minutes=1)
FUTURE = timedelta(minutes=5)  # a last success Prometheus puts further ahead than this is a clock error: ignored


def row_of(services: Services, name: str) -> Row:
    for row in services.config.watched:
        if row.name == name:
            return row
    raise NotFound(messages.unknown(name, [r.name for r in services.config.watched]))


@dataclass(frozen=True)
class Recorded:
    run: Run
    alerted: bool  # a failed run raised the alert now
    resolved: bool  # a success resolved the open alert
    delivery_id: int | None


async def record(services: Services, name: str, *, ok: bool, message: str | None, size_bytes: int | None) -> Recorded:
    """A job reported a run (POST /hooks/heartbeat/<name>): stored with what it means for its alert, in one
    transaction. Raises NotFound for a name the config does not know."""
    row = row_of(services, name)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        beat = await store.locked(conn, name, now)
        run = await store.add_run(
            conn,
            name=name,
            at=now,
            ok=ok,
            message=message,
            size_bytes=size_bytes,
            source=Source.HOOK,
            received_at=now,
        )
        recorded = await _ran(services, conn, row, beat, run, now)
        await audit.record(
            conn,
            kind="webhook",
            action="hooks/heartbeat",
            outcome="ok" if ok else "failed",
            actor=f"heartbeat:{name}",
            detail={"run": run.id, "message": message, "size": size_bytes},
        )
    if recorded.delivery_id is not None:
        services.jobs.wake()
    return recorded


async def _ran(
    services: Services, conn: asyncpg.Connection, row: Row, beat: Heartbeat, run: Run, now: datetime
) -> Recorded:
    """What a run means, in the caller's transaction: a success resolves the open alert (and has the daily items
    said late checked again); a failure raises the alert unless one is open."""
    await store.ran(conn, run, now)
    if run.ok:
        for post_id in await store.waiting(conn, now):
            await services.jobs.schedule_once(conn, Job.RECHECK, f"{post_id}:{run.id}", now, {"post_id": post_id})
        opened = beat.alert_starts_at
        if opened is None or (beat.alert_reason == Reason.FAILED and run.at < opened) or _stale(row, beat, run, now):
            return Recorded(run, False, False, None)
        delivery = await _alert(services, conn, row, opened, firing=False, failed=beat.alert_reason == Reason.FAILED)
        await store.set_alert(conn, row.name, None, None)
        return Recorded(run, False, True, delivery)
    if beat.alert_starts_at is not None:
        return Recorded(run, False, False, None)  # already alerting: the same alert
    delivery = await _alert(
        services,
        conn,
        row,
        run.at,
        firing=True,
        failed=True,
        summary=messages.failed_summary(row, run),
        description=messages.failed_description(run, zone(services)),
    )
    await store.set_alert(conn, row.name, run.at, Reason.FAILED)
    return Recorded(run, True, False, delivery)


def _stale(row: Row, beat: Heartbeat, run: Run, now: datetime) -> bool:
    """A success that is itself late (Prometheus's last success, older than interval + grace) does not end a late
    episode: resolved now, it would be raised again at once."""
    return beat.alert_reason == Reason.LATE and row.allowance is not None and now >= run.at + row.allowance


async def _alert(
    services: Services,
    conn: asyncpg.Connection,
    row: Row,
    starts_at: datetime,
    *,
    firing: bool,
    failed: bool,
    summary: str = "",
    description: str = "",
) -> int:
    labels = {
        "alertname": messages.alertname(row, failed),
        "heartbeat": row.name,
        "priority": row.priority.value,  # the row's priority, unless an alerts: row names the alertname
    }
    annotations = {"summary": summary, "description": description} if firing else {}
    return await alerts.submit(
        services,
        conn,
        source=AlertSource.HEARTBEAT,
        key=fingerprint(row.name),
        firing=firing,
        starts_at=starts_at,
        labels=labels,
        annotations={k: v for k, v in annotations.items() if v},
    )


# -- the periodic check ------------------------------------------------------------------------------------------


async def check(services: Services) -> None:
    """Every minute (one run across replicas): each watched job's last success read from Prometheus where it has
    a query, and an alert raised for each job late by its interval plus grace. One job's trouble never stops the
    others; the run fails (and is retried) if any could not be checked."""
    now = services.clock.now()
    deliveries: list[int] = []
    failed = 0
    for row in services.config.watched:
        try:
            deliveries += await _check_one(services, row, now)
        except Exception as exc:
            failed += 1
            logger.error("heartbeat not checked", name=row.name, error=repr(exc))
    await asyncio.gather(*(alerts.process_now(services, d) for d in deliveries))
    if failed:
        raise RuntimeError(f"{failed} heartbeat(s) not checked: see the log")


async def _last_success_in_prometheus(services: Services, row: Row, now: datetime) -> datetime | None:
    if row.query is None or services.prometheus is None:
        return None
    value = await services.prometheus.value(row.query, now)
    if value is None or value <= 0:
        return None
    seen = datetime.fromtimestamp(value, UTC)
    return seen if seen <= now + FUTURE else None


async def _check_one(services: Services, row: Row, now: datetime) -> list[int]:
    try:
        seen = await _last_success_in_prometheus(services, row, now)
    except PrometheusError as exc:
        # Not judged on data the bot could not read: the next minute tries again.
        logger.warning("heartbeat not read from Prometheus", name=row.name, error=str(exc))
        return []
    if row.allowance is None and seen is None:
        return []
    deliveries: list[int] = []
    async with services.db.transaction() as conn:
        beat = await store.locked(conn, row.name, now)
        if seen is not None and (beat.last_success_at is None or seen > beat.last_success_at):
            run = await store.add_run(
                conn,
                name=row.name,
                at=seen,
                ok=True,
                message=None,
                size_bytes=None,
                source=Source.PROMETHEUS,
                received_at=now,
            )
            recorded = await _ran(services, conn, row, beat, run, now)
            deliveries += [recorded.delivery_id] if recorded.delivery_id is not None else []
            beat = await store.locked(conn, row.name, now)
        late = await _late(services, conn, row, beat, now)
        deliveries += [late] if late is not None else []
    return deliveries


async def _late(services: Services, conn: asyncpg.Connection, row: Row, beat: Heartbeat, now: datetime) -> int | None:
    due = due_at(row, beat)
    if due is None or now < due or beat.alert_starts_at is not None or beat.last_success_at is None:
        return None
    summary = messages.late_summary(row, beat.last_success_at, zone(services))
    delivery = await _alert(services, conn, row, due, firing=True, failed=False, summary=summary)
    await store.set_alert(conn, row.name, due, Reason.LATE)
    logger.info("heartbeat late", name=row.name, due=due.isoformat())
    return delivery


# -- how each job stands -----------------------------------------------------------------------------------------


async def standings(services: Services, rows: list[Row]) -> list[Standing]:
    now = services.clock.now()
    beats = await store.heartbeats(services.db)
    runs = await store.last_runs(services.db)
    successes = await store.last_successes(services.db)
    return [standing(r, beats.get(r.name), runs.get(r.name), successes.get(r.name), now) for r in rows]


async def overview(services: Services, viewer: str) -> str:
    """/backups: each backup and heartbeat, its interval, last run (in the viewer's time zone), age, size, state."""
    rows = list(services.config.watched)
    try:
        tz = await services.users.zone(viewer) or zone(services)
    except SLACK_FAILURES:
        tz = zone(services)  # the answer still shows the team's time
    return messages.overview(await standings(services, rows), tz, services.clock.now())


# -- the daily checklist's "Verify backup completion" ------------------------------------------------------------


def backup_item(items: list[str]) -> int | None:
    """The checklist's item about backups (the first that names them), if any."""
    return next((i for i, text in enumerate(items) if "backup" in text.lower()), None)


async def daily_posted(services: Services, posted: ChecklistPosted) -> None:
    """The daily checklist was recorded (the Job.DAILY_ITEM subscriber): its backup item is checked."""
    if posted.kind != "daily" or not any(b.allowance is not None for b in services.config.backups):
        return
    item = backup_item(posted.items)
    if item is None:
        return
    record = await maintenance.get(services.db, posted.post_id)
    if record is None:
        return
    async with services.db.transaction() as conn:
        await store.claim_check(conn, posted.post_id, record.deadline_at, item, services.clock.now())
    await verify(services, posted.post_id)


async def verify(services: Services, post_id: int, *, again: bool = False) -> None:
    """Tick the backup item with the last runs when every watched backup is fresh; else say in the checklist's
    thread which is not (once per set of late backups). `again`: a backup reported after it was said late."""
    record = await maintenance.get(services.db, post_id)
    checked = await store.check(services.db, post_id)
    if record is None or checked is None or checked.ticked_at is not None:
        return
    if record.ts is None or record.channel is None:  # both are set together when it is posted
        raise RuntimeError("the daily checklist is not posted yet; its backup check follows it")
    thread = Thread(record.channel, record.ts, record.items[checked.item])
    if await _held(services.db, post_id, checked.item) is None:  # not ticked by the bot yet
        if again and services.clock.now() >= checked.deadline_at:
            return
        watched = [b for b in services.config.backups if b.allowance is not None]
        found = await standings(services, list(watched))
        if all(s.last_run is None for s in found):
            return  # no backup reports to the bot (yet): the item stays a person's
        late = [s for s in found if s.state != State.FRESH]
        if late:
            await _say_late(services, post_id, thread, late)
            return
        await maintenance.tick_by_the_bot(services, post_id, checked.item, messages.fresh_note(found, zone(services)))
    await _ticked(services, post_id, thread)


async def _held(conn: Conn, post_id: int, item: int) -> str | None:
    """The note of the bot's tick of the item (None: the bot does not hold it: open, or ticked by a person)."""
    for found in await maintenance.items(conn, post_id):
        if found.item == item and found.done_by == maintenance.BY_THE_BOT:
            return found.note or ""
    return None


async def _ticked(services: Services, post_id: int, thread: Thread) -> None:
    """The item is ticked: recorded once across replicas. A thread that heard it was late hears it is done, decided
    from what is stored (said late, the bot holds the tick, not recorded yet), so a retry after a failed post posts
    it again and a run that finds it recorded does nothing."""
    async with services.db.transaction() as conn:
        locked = await store.check(conn, post_id, for_update=True)
        if locked is None or locked.ticked_at is not None:
            return  # another run got here first
        note = await _held(conn, post_id, locked.item)
        if note is not None and locked.said_late:  # the thread heard it was late: it hears it is done
            await thread.say(services, messages.verified_later(thread.item, note))
        await store.ticked(conn, post_id, services.clock.now())


@dataclass(frozen=True)
class Thread:
    """The daily checklist's thread, and its backup item's words."""

    channel: str
    ts: str
    item: str

    async def say(self, services: Services, text: str) -> None:
        await services.slack.chat_postMessage(channel=self.channel, thread_ts=self.ts, text=text)


async def _say_late(services: Services, post_id: int, thread: Thread, late: list[Standing]) -> None:
    """Which backups keep the item from being ticked, in the thread: again only when that changes."""
    now = services.clock.now()
    which = ",".join(f"{s.row.name}:{s.state}" for s in late)
    async with services.db.transaction() as conn:
        locked = await store.check(conn, post_id, for_update=True)
        if locked is None or locked.said_late == which:
            return
        await thread.say(services, messages.not_verified(thread.item, messages.late_words(late, zone(services), now)))
        await store.said_late(conn, post_id, which, now)


async def recheck(services: Services, post_id: int) -> None:
    await verify(services, post_id, again=True)
