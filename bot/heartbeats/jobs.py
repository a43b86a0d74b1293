"""The heartbeats domain's work: the check every minute (one run across replicas), and the daily checklist's
backup item (a subscriber of the maintenance domain's ChecklistPosted), checked again when a late backup reports."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.heartbeats import flows
from bot.heartbeats.ids import Job
from bot.jobs import JobRun, JobRunner, call
from bot.maintenance.events import ChecklistPosted
from bot.services import Services


def every_check(after: datetime) -> datetime:
    """The next multiple of CHECK_EVERY (UTC) strictly after `after`, so every replica computes the same run."""
    step = flows.CHECK_EVERY.total_seconds()
    return datetime.fromtimestamp((after.astimezone(UTC).timestamp() // step + 1) * step, UTC)


def register(runner: JobRunner, services: Services) -> None:
    @runner.recurring(Job.CHECK, spec=f"every {int(flows.CHECK_EVERY.total_seconds())}s", next_due=every_check)
    async def check(run: JobRun) -> None:
        await flows.check(services)

    runner.declare(services, {Job.RECHECK: call(flows.recheck, "post_id")})
    services.events.subscribe(services, ChecklistPosted, Job.DAILY_ITEM, flows.daily_posted)
