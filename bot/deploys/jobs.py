"""Deploys' scheduled work: the end of a prod watch window, and expiry so no lock is held forever."""

from __future__ import annotations

from bot.deploys import scheduled
from bot.deploys.ids import Job
from bot.jobs import JobRun, JobRunner
from bot.services import Services


def register(runner: JobRunner, services: Services) -> None:
    @runner.handler(Job.WATCH_END)
    async def watch_end(run: JobRun) -> None:
        await scheduled.watch_ended(services, run.payload["deploy_id"])

    @runner.handler(Job.CHECK_TRIGGER)
    async def check_trigger(run: JobRun) -> None:
        await scheduled.check_trigger(services, run.payload["deploy_id"])

    @runner.handler(Job.EXPIRE)
    async def expire(run: JobRun) -> None:
        await scheduled.expire(services, run.payload["deploy_id"], run.payload["status"])
