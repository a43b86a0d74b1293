"""Deploys' scheduled work: the end of a prod watch window, and expiry so no lock is held forever."""

from __future__ import annotations

from bot.deploys import flows
from bot.jobs import JobRun, JobRunner
from bot.services import Services


def register(runner: JobRunner, services: Services) -> None:
    @runner.handler(flows.WATCH_END)
    async def watch_end(run: JobRun) -> None:
        await flows.watch_ended(services, run.payload["deploy_id"])

    @runner.handler(flows.CHECK_TRIGGER)
    async def check_trigger(run: JobRun) -> None:
        await flows.check_trigger(services, run.payload["deploy_id"])

    @runner.handler(flows.EXPIRE)
    async def expire(run: JobRun) -> None:
        await flows.expire(services, run.payload["deploy_id"], run.payload["status"])
