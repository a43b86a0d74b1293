"""Deploys' scheduled work: the end of a prod watch window, a pipeline call with no answer, and expiry so no
lock is held forever."""

from __future__ import annotations

from bot.deploys import scheduled
from bot.deploys.ids import Job
from bot.jobs import JobRunner, call
from bot.services import Services


def register(runner: JobRunner, services: Services) -> None:
    runner.declare(
        services,
        {
            Job.WATCH_END: call(scheduled.watch_ended, "deploy_id"),
            Job.CHECK_TRIGGER: call(scheduled.check_trigger, "deploy_id"),
            Job.EXPIRE: call(scheduled.expire, "deploy_id", "status"),
        },
    )
