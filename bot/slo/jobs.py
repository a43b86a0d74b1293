"""The SLO domain's scheduled work: the deploy watch every minute, the rollback check, the monthly report."""

from __future__ import annotations

from bot.jobs import JobRun, JobRunner
from bot.services import Services
from bot.slo import flows, watch


def register(runner: JobRunner, services: Services) -> None:
    @runner.handler(watch.WATCH_TICK)
    async def watch_tick(run: JobRun) -> None:
        await watch.watch_tick(services, run)

    @runner.handler(watch.ROLLBACK_CHECK)
    async def rollback_check(run: JobRun) -> None:
        await watch.rollback_check(services, run)

    @runner.handler(flows.MONTHLY_REPORT)
    async def monthly_report(run: JobRun) -> None:
        await flows.post_monthly_report(services, run, final_attempt=run.final_attempt)
