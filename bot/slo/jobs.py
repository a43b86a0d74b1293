"""The SLO domain's work: a deploy's watch every minute, a rollback's check, the monthly report; started by the
deploys' and maintenance's events, and the watch's figures offered to the deploys' watch-end message."""

from __future__ import annotations

from bot.deploys.events import DeployFinished
from bot.jobs import JobRun, JobRunner, call, the_run
from bot.maintenance.events import ChecklistPosted
from bot.services import Services
from bot.slo import flows, watch
from bot.slo.ids import Job


def _final_attempt(run: JobRun) -> bool:
    return run.final_attempt


def register(runner: JobRunner, services: Services) -> None:
    runner.declare(
        services,
        {
            Job.WATCH_TICK: call(watch.watch_tick, the_run),
            Job.ROLLBACK_CHECK: call(watch.rollback_check, the_run),
            Job.MONTHLY_REPORT: call(flows.post_monthly_report, the_run, _final_attempt),
        },
    )
    services.events.subscribe(services, DeployFinished, Job.START_WATCH, watch.start_watch)
    services.events.subscribe(services, ChecklistPosted, Job.REVIEW_DUE, flows.review_due)
    services.watch_summary = watch.watch_summary
