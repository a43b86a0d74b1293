"""The alerts domain's durable work: processing deliveries, sending at Slack's pace, pages and escalations."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.alerts import processing, scheduled, sending
from bot.alerts.ids import Job
from bot.jobs import JobRun, JobRunner
from bot.services import Services


def every_sweep(after: datetime) -> datetime:
    """The next multiple of SWEEP_EVERY (UTC) strictly after `after`, so every replica computes the same run."""
    step = sending.SWEEP_EVERY.total_seconds()
    epoch = after.astimezone(UTC).timestamp()
    return datetime.fromtimestamp((epoch // step + 1) * step, UTC)


def register(runner: JobRunner, services: Services) -> None:
    @runner.recurring(Job.SWEEP, spec=f"every {int(sending.SWEEP_EVERY.total_seconds())}s", next_due=every_sweep)
    async def sweep(run: JobRun) -> None:
        await sending.sweep(services)

    @runner.handler(Job.PROCESS)
    async def process(run: JobRun) -> None:
        for channel in await processing.process(services, run.payload["delivery_id"]):
            # Post at once what the pace allows; the rest is a scheduled send run (committed with the episodes).
            await sending.send(services, channel, budget=0)

    @runner.handler(Job.SEND)
    async def send(run: JobRun) -> None:
        await sending.send(services, run.payload["channel"])

    @runner.handler(Job.PAGE)
    async def page(run: JobRun) -> None:
        await scheduled.page_primary(services, run.payload.get("alert_id"), run.payload.get("digest_id"))

    @runner.handler(Job.ESCALATE)
    async def escalate(run: JobRun) -> None:
        alert, digest = run.payload.get("alert_id"), run.payload.get("digest_id")
        await scheduled.escalate(services, alert, digest, run.payload["role"])

    @runner.handler(Job.DEPLOY_NOTE)
    async def deploy_note(run: JobRun) -> None:
        await scheduled.deploy_thread(services, run.payload["alert_id"])

    @runner.handler(Job.DECLARE)
    async def declare(run: JobRun) -> None:
        await scheduled.auto_declare(services, run.payload["alert_id"])

    @runner.handler(Job.INCIDENT_NOTE)
    async def incident_note(run: JobRun) -> None:
        await scheduled.incident_note(services, run.payload["alert_id"])
