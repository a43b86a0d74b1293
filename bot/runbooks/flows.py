"""Runbook stories: list, start a run, record each step, finish; inside an incident, into its timeline."""

from __future__ import annotations

import difflib

from slack_sdk.errors import SlackApiError

from bot import audit, log
from bot.errors import UsageError
from bot.incidents import store as incidents
from bot.opsconfig import Runbook
from bot.runbooks import messages, store
from bot.services import Services
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.text import escape, mrkdwn

logger = log.get("zzik.runbooks")


def zone(services: Services):
    return services.config.oncall.zone


def find(services: Services, name: str) -> Runbook:
    runbooks = services.config.runbooks
    wanted = name.strip().lower()
    for r in runbooks:
        if wanted in (r.slug, r.name.lower()):
            return r
    prefixed = [r for r in runbooks if r.slug.startswith(wanted) or r.name.lower().startswith(wanted)]
    if len(prefixed) == 1:
        return prefixed[0]
    names = {r.slug: r for r in runbooks} | {r.name.lower(): r for r in runbooks}
    close = difflib.get_close_matches(wanted, list(names), n=1, cutoff=0.6)
    if close:
        r = names[close[0]]
        raise UsageError(
            f"There is no runbook `{mrkdwn(name)}`. Did you mean `{r.slug}` ({escape(r.name)})?", usage=False
        )
    raise UsageError(f"There is no runbook `{mrkdwn(name)}`; `/runbook` lists them.", usage=False)


async def _post(services: Services, channel: str, text: str, blocks: list) -> dict:
    try:
        return (await services.slack.chat_postMessage(channel=channel, text=text, blocks=blocks)).data  # type: ignore[return-value]
    except SlackApiError as exc:
        if slack_error(exc) != "not_in_channel":
            raise
    await services.slack.conversations_join(channel=channel)  # a public channel the bot was not in yet
    return (await services.slack.chat_postMessage(channel=channel, text=text, blocks=blocks)).data  # type: ignore[return-value]


async def start(services: Services, actor: str, channel: str | None, runbook: Runbook, key: str) -> str:
    if not channel:
        raise UsageError("Start a runbook from a channel.", usage=False)
    incident = await incidents.by_channel(services.db, channel)
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
        )
        if not created:
            return f"That run of {escape(runbook.name)} was already started."
        if incident:
            await incidents.add_event(conn, incident.id, now, actor, "runbook", f"runbook {runbook.name} started")
        await audit.record(
            conn,
            kind="runbook",
            action="start",
            outcome="ok",
            actor=actor,
            channel=channel,
            detail={"run": run.id, "runbook": runbook.slug},
        )
    placed = []
    try:
        for first, last, blocks in messages.pages(run, {}, zone(services), incident.ref if incident else None):
            response = await _post(services, channel, f"Runbook: {runbook.name}", blocks)
            placed.append({"ts": response["ts"], "first": first, "last": last})
    except SLACK_FAILURES as exc:
        raise UsageError(
            f"The run is recorded (#{run.id}) but Slack refused to post it here: {slack_error(exc)}. "
            "Invite the bot to this channel and start it again.",
            usage=False,
        ) from None
    finally:
        await store.set_messages(services.db, run.id, placed)
    return ""


async def record_step(
    services: Services, run_id: int, index: int, status: str, actor: str, reason: str | None = None
) -> str | None:
    run = await store.get(services.db, run_id)
    if run is None or not 0 <= index < len(run.steps):
        raise UsageError("That step is not part of a runbook run.", usage=False)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        await store.lock(conn, run_id)  # steps recorded at once: the last one to commit sees them all and finishes
        if not await store.record(conn, run_id, index, status, reason, actor, now):
            recorded = (await store.steps(conn, run_id))[index]
            return f"Step {index + 1} was already {recorded.status} by <@{recorded.by_user}>."
        finished = await store.finish(conn, run_id, now)
        if run.incident_id:
            what = "done" if status == "done" else f"skipped ({reason})"
            await incidents.add_event(
                conn,
                run.incident_id,
                now,
                actor,
                "runbook",
                f"runbook {escape(run.name)} step {index + 1} {what}: {escape(run.steps[index]['text'])}",
            )
            if finished:
                await incidents.add_event(
                    conn, run.incident_id, now, actor, "runbook", f"runbook {escape(run.name)} finished"
                )
    await refresh(services, run_id, index)
    if finished:
        recorded = await store.steps(services.db, run_id)
        duration = incidents.duration(run.started_at, now)
        await services.slack.chat_postMessage(channel=run.channel, text=messages.summary(run, recorded, duration))
    return None


async def refresh(services: Services, run_id: int, index: int) -> None:
    run = await store.get(services.db, run_id)
    assert run is not None
    recorded = await store.steps(services.db, run_id)
    incident = await incidents.get(services.db, run.incident_id) if run.incident_id else None
    for (first, last, blocks), placed in zip(
        messages.pages(run, recorded, zone(services), incident.ref if incident else None), run.messages, strict=False
    ):
        if first <= index <= last or first == 0:  # the step's page, and the first page's progress line
            try:
                await services.slack.chat_update(
                    channel=run.channel, ts=placed["ts"], text=f"Runbook: {run.name}", blocks=blocks
                )
            except SLACK_FAILURES as exc:
                logger.warning("runbook message not updated", run=run_id, error=slack_error(exc))


async def in_progress(services: Services) -> str:
    runs = await store.in_progress(services.db)
    if not runs:
        return "No runbook runs in progress."
    lines = [
        f"• #{run.id} *{escape(run.name)}* in <#{run.channel}> · {recorded}/{len(run.steps)} steps · started by "
        f"<@{run.started_by}> {incidents.duration(run.started_at, services.clock.now())} ago"
        for run, recorded in runs
    ]
    return "*Runbook runs in progress*\n" + "\n".join(lines)
