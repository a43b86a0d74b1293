"""The SLO domain's work: a deploy's watch every minute, a rollback's check, the monthly report; started by the
deploys' and maintenance's events, and the watch's figures offered to the deploys' watch-end message."""

from __future__ import annotations

from bot.deploys.events import DeployFinished
from bot.jobs import JobRun, JobRunner
from bot.maintenance.events import ChecklistPosted
from bot.services import Services
from bot.slo import flows, watch
from bot.slo.ids import Job


def register(runner: JobRunner, services: Services) -> None:
    @runner.handler(Job.WATCH_TICK)
    async def watch_tick(run: JobRun) -> None:
        await watch.watch_tick(services, run)

    @runner.handler(Job.ROLLBACK_CHECK)
    async def rollback_check(run: JobRun) -> None:
        await watch.rollback_check(services, run)

    @runner.handler(Job.MONTHLY_REPORT)
    async def monthly_report(run: JobRun) -> None:
        await flows.post_monthly_report(services, run, final_attempt=run.final_attempt)

    services.events.subscribe(services, DeployFinished, Job.START_WATCH, watch.start_watch)
    services.events.subscribe(services, ChecklistPosted, Job.REVIEW_DUE, flows.review_due)
    services.watch_summary = watch.watch_summary
