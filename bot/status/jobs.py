"""Durable work of the status domain: stakeholder posts and the manager's reminder, each run once."""

from __future__ import annotations

from bot.jobs import JobRun, JobRunner
from bot.services import Services
from bot.status import flows, hooks


def register(runner: JobRunner, services: Services) -> None:
    @runner.handler(hooks.STAKEHOLDERS)
    async def stakeholders(run: JobRun) -> None:
        await flows.post_to_stakeholders(
            services, int(run.payload["incident_id"]), str(run.payload["what"]), run.payload.get("update_id")
        )

    @runner.handler(hooks.REMIND)
    async def remind(run: JobRun) -> None:
        await flows.remind_manager(services, int(run.payload["incident_id"]), run.due_at)
