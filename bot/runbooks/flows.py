"""Runbook stories: list, start a run, record each step, finish; inside an incident, into its timeline."""

from __future__ import annotations

import difflib

from slack_sdk.errors import SlackApiError

from bot import audit, log
from bot.errors import Invalid, NotFound
from bot.incidents import api as incidents
from bot.incidents import models as incidents_models
from bot.opsconfig import Runbook
from bot.runbooks import messages, models, store
from bot.runbooks.ids import Job, RunStep, StepStatus
from bot.services import Services, zone
from bot.slack.failures import SLACK_FAILURES, SlackErrorCode, code, failure, update_in_place
from bot.slack.text import plain

logger = log.get("zzik.runbooks")


def find(services: Services, name: str) -> Runbook:
    runbooks = services.config.runbooks
    wanted = plain(name).strip().lower()  # typed text is Slack-encoded (`&amp;`); config names are raw
    for r in runbooks:
        if wanted in (r.slug, r.name.lower()):
            return r
    prefixed = [r for r in runbooks if r.slug.startswith(wanted) or r.name.lower().startswith(wanted)]
    if len(prefixed) == 1:
        return prefixed[0]
    names = {r.slug: r for r in runbooks} | {r.name.lower(): r for r in runbooks}
    close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.6)
    raise NotFound(messages.no_runbook(name, names[close[0]] if close else None))


async def _post(services: Services, channel: str, text: str, blocks: list) -> dict:
    try:
        return (await services.slack.chat_postMessage(channel=channel, text=text, blocks=blocks)).data  # type: ignore[return-value]
    except SlackApiError as exc:
        if code(exc) != SlackErrorCode.NOT_IN_CHANNEL:
            raise
    await services.slack.conversations_join(channel=channel)  # a public channel the bot was not in yet
    return (await services.slack.chat_postMessage(channel=channel, text=text, blocks=blocks)).data  # type: ignore[return-value]


async def start(
    services: Services, actor: str, channel: str | None, runbook: Runbook, key: str, *, drill: bool = False
) -> str:
    """Start a run of `runbook` in `channel` (a drill: timed and held against recovery.rto and .rpo, never part
    of an incident); "" once posted, else what to tell the user."""
    if not channel:
        raise Invalid(messages.NO_CHANNEL)
    incident = None if drill else await incidents.by_channel(services.db, channel)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        run, created = await store.start(
            conn,
            key=key,
            runbook=runbook.slug,
            name=runbook.name,
            steps=[s.model_dump() for s in runbook.steps],
            channel=channel,
            incident_id=incident.id if incident else None,
            by=actor,
            at=now,
            drill=drill,
        )
        if not created:
            return messages.already_started(runbook.name)
        if drill:
            await store.start_drill(conn, run, services.config.recovery.rto, services.config.recovery.rpo)
        if incident:
            await incidents.add_event(conn, incident.id, now, actor, "runbook", messages.started_entry(runbook.name))
        await audit.record(
            conn,
            kind="runbook",
            action="drill" if drill else "start",
            outcome="ok",
            actor=actor,
            channel=channel,
            detail={"run": run.id, "runbook": runbook.slug},
        )
    placed = []
    try:
        for first, last, blocks in messages.pages(run, {}, zone(services), incident.ref if incident else None):
            response = await _post(services, channel, messages.message_text(runbook.name), blocks)
            placed.append({"ts": response["ts"], "first": first, "last": last})
    except SLACK_FAILURES as exc:
        raise Invalid(messages.not_posted(run.id, failure("runbook not posted", exc).reason)) from None
    finally:
        await store.set_messages(services.db, run.id, placed)
    return ""


async def record_step(
    services: Services, step: RunStep, status: StepStatus, actor: str, reason: str | None = None
) -> str | None:
    run_id, index = step.run, step.index
    run = await step_run(services, step)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        await store.lock(conn, run_id)  # steps recorded at once: the last one to commit sees them all and finishes
        if not await store.record(conn, run_id, index, status, reason, actor, now):
            earlier = (await store.steps(conn, run_id))[index]
            return messages.already_recorded(index, earlier)
        finished = await store.finish(conn, run_id, now)
        if finished and run.drill:  # the restore time is in; the data age is asked (a job: it survives a crash)
            await store.finish_drill(conn, run_id, now)
            await services.jobs.schedule_once(conn, Job.DRILL_ASK, str(run_id), now, {"run_id": run_id})
        if run.incident_id:
            entry = messages.step_entry(run, index, status, reason)
            await incidents.add_event(conn, run.incident_id, now, actor, "runbook", entry)
            if finished:
                await incidents.add_event(conn, run.incident_id, now, actor, "runbook", messages.finished_entry(run))
    await refresh(services, run, index)
    if finished:
        recorded = await store.steps(services.db, run_id)
        duration = incidents_models.duration(run.started_at, now)
        await services.slack.chat_postMessage(channel=run.channel, text=messages.summary(run, recorded, duration))
        if run.drill:
            await services.jobs.run_now(Job.DRILL_ASK, str(run_id))
    return None


async def refresh(services: Services, run: models.Run, index: int) -> None:
    run_id = run.id
    recorded = await store.steps(services.db, run_id)
    incident = await incidents.get(services.db, run.incident_id) if run.incident_id else None
    for (first, last, blocks), placed in zip(
        messages.pages(run, recorded, zone(services), incident.ref if incident else None), run.messages, strict=False
    ):
        if first <= index <= last or first == 0:  # the step's page, and the first page's progress line
            text = messages.message_text(run.name)
            await update_in_place(services.slack, "runbook message", run.channel, placed["ts"], text, blocks)


async def in_progress(services: Services) -> str:
    now = services.clock.now()
    runs = await store.in_progress(services.db)
    return messages.in_progress(
        [(run, recorded, incidents_models.duration(run.started_at, now)) for run, recorded in runs]
    )


async def step_run(services: Services, step: RunStep) -> models.Run:
    """The run a step's button or modal belongs to; NotFound when the step is not one of its steps."""
    run = await store.get(services.db, step.run)
    if run is None or not 0 <= step.index < len(run.steps):
        raise NotFound(messages.NO_STEP)
    return run
