"""Recovery drills: `/runbook drill <slug>` runs a recovery runbook timed, asks the restored data's age at the
end, holds restore time and data age against recovery.rto and .rpo, and posts the result where the drill ran and
in the monthly checklist's thread. The monthly checklist's backup test and recovery drill offer one.

A drill nobody finishes stays a run in progress (`/runbook runs`) and is listed as "not finished" by
`/runbook drills`; it has no restore time and is never held against the targets."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot import log
from bot.errors import Invalid, NotFound
from bot.maintenance import api as maintenance
from bot.maintenance.events import ChecklistPosted
from bot.opsconfig.values import parse_duration
from bot.runbooks import flows, messages, models, store
from bot.runbooks.ids import Job
from bot.services import Services, zone

logger = log.get("zzik.runbooks")
LISTED = 15
MAX_AGE = timedelta(days=36500)  # a data age past a century is a typo (and PostgreSQL's interval ends)


async def start(services: Services, actor: str, channel: str | None, name: str, key: str) -> str:
    runbook = flows.find(services, name)
    drillable = services.config.recovery.drills
    if runbook.slug not in drillable:
        raise Invalid(messages.not_drillable(runbook, drillable))
    said = await flows.start(services, actor, channel, runbook, key, drill=True)
    return said or messages.drill_started(runbook.name)


async def _drill(services: Services, run_id: int) -> tuple[models.Run, models.Drill]:
    run = await store.get(services.db, run_id)
    drill = await store.drill(services.db, run_id)
    if run is None or drill is None:
        raise NotFound("That drill does not exist.")
    return run, drill


async def ask(services: Services, run_id: int) -> None:
    """Job DRILL_ASK: the finished drill's restore time, and the button that asks for the data age."""
    run, drill = await _drill(services, run_id)
    if drill.recorded_at is not None:
        return
    text, blocks = messages.drill_ask(run, drill)
    await services.slack.chat_postMessage(channel=run.channel, text=text, blocks=blocks)


async def open_age(services: Services, run_id: int, trigger_id: str | None) -> str | None:
    run, drill = await _drill(services, run_id)
    if drill.finished_at is None:
        return messages.NOT_FINISHED
    if drill.recorded_at is not None:
        return messages.age_already_recorded(drill)
    await services.slack.views_open(trigger_id=trigger_id, view=messages.data_age_modal(run, drill.rpo))
    return None


def data_age(text: str, started_at: datetime, services: Services) -> timedelta:
    """`2h` / `1h30m` (the age), or `2026-12-01 04:00` (the newest restored row's time, team time zone): how old
    the restored data was when the drill started (the disaster it stands for). Invalid (BAD_AGE) for what is no
    age, or one past what a calendar holds (`99999999999d`) or MAX_AGE (`0001-01-01 00:00`)."""
    try:
        age = _age(text.strip(), started_at, services)
    except OverflowError:
        raise Invalid(messages.BAD_AGE) from None
    if age > MAX_AGE:
        raise Invalid(messages.BAD_AGE)
    return age


def _age(text: str, started_at: datetime, services: Services) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError:
        pass
    try:
        newest = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(messages.BAD_AGE) from None
    if newest.tzinfo is None:
        newest = newest.replace(tzinfo=zone(services))
    if newest > started_at:
        raise Invalid(messages.FUTURE_AGE)
    return started_at - newest


async def record_age(services: Services, run_id: int, text: str, actor: str) -> None:
    """The data-age form: recorded once, with the monthly checklist its result goes to; then the result is posted
    (a job). Invalid (nothing stored: the form says why) for a bad age, an unfinished or already told drill."""
    _, drill = await _drill(services, run_id)
    age = data_age(text, drill.started_at, services)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        monthly = await maintenance.latest_checklist(conn, "monthly")
        post_id = monthly.id if monthly is not None and monthly.ts else None
        if not await store.record_data_age(conn, run_id, age, actor, now, post_id):
            fresh = await store.drill(conn, run_id) or drill
            raise Invalid(messages.NOT_FINISHED if fresh.finished_at is None else messages.age_already_recorded(fresh))
        await services.jobs.schedule_once(conn, Job.DRILL_RESULT, str(run_id), now, {"run_id": run_id})
    await services.jobs.run_now(Job.DRILL_RESULT, str(run_id))


async def post_result(services: Services, run_id: int) -> None:
    """Job DRILL_RESULT: the result where the drill ran and in the monthly checklist's thread (each once)."""
    run, drill = await _drill(services, run_id)
    if drill.recorded_at is None:
        return
    recorded = await store.steps(services.db, run_id)
    text, blocks = messages.drill_result(run, drill, recorded)
    if not drill.posted_here:
        _, here = messages.drill_result(run, drill, recorded, here=True)
        await services.slack.chat_postMessage(channel=run.channel, text=text, blocks=here)
        await store.set_drill_posted(services.db, run_id, here=True)
    if drill.monthly_post_id is not None and not drill.posted_monthly:
        post = await maintenance.get(services.db, drill.monthly_post_id)
        if post is not None and post.channel and post.ts:
            await services.slack.chat_postMessage(channel=post.channel, thread_ts=post.ts, text=text, blocks=blocks)
        await store.set_drill_posted(services.db, run_id, monthly=True)


async def listing(services: Services) -> str:
    names = {r.slug: r.name for r in services.config.runbooks}
    return messages.drills(await store.drills(services.db, LISTED), names, zone(services))


async def offer(services: Services, posted: ChecklistPosted) -> None:
    """The ChecklistPosted subscriber: a monthly checklist with a backup test or recovery drill offers a drill
    in its thread."""
    recovery = services.config.recovery
    wanted = {i.lower() for i in recovery.drill_items}
    items = [i for i in posted.items if i.lower() in wanted]
    runbooks = [r for slug in recovery.drills for r in services.config.runbooks if r.slug == slug]
    if posted.kind != "monthly" or not items or not runbooks:
        return
    post = await maintenance.get(services.db, posted.post_id)
    if post is None:
        return
    if post.ts is None or post.channel is None:  # both are set together when it is posted
        raise RuntimeError("the monthly checklist is not posted yet; its drill offer follows it")
    text, blocks = messages.drill_offer(items, runbooks, recovery.rto, recovery.rpo)
    await services.slack.chat_postMessage(channel=post.channel, thread_ts=post.ts, text=text, blocks=blocks)
