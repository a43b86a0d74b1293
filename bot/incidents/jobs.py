"""Incidents' scheduled work: acknowledgement escalation and update nudges."""

from __future__ import annotations

from bot.incidents import followups, paging, scheduled, setup
from bot.jobs import JobRun, JobRunner
from bot.services import Services


def register(runner: JobRunner, services: Services) -> None:
    services.handoff_summary.append(scheduled.week_in_review)

    @runner.handler(scheduled.ESCALATE)
    async def escalate(run: JobRun) -> None:
        payload = run.payload
        await scheduled.escalate(services, payload["incident_id"], payload["role"], payload["severity"], run.run_key)

    @runner.handler(setup.SETUP, lease=setup.SETUP_LEASE)
    async def set_up(run: JobRun) -> None:
        reply = run.payload.get("reply") or {}
        await setup.run_setup(services, run.payload["incident_id"], setup.Reply(**reply))

    @runner.handler(paging.PAGE_RETRY)
    async def retry_pages(run: JobRun) -> None:
        await scheduled.retry_pages(services, run.payload["incident_id"])

    @runner.handler(followups.ACTION_DUE)
    async def action_due(run: JobRun) -> None:
        await followups.remind(services, run.payload["action_id"])

    @runner.handler(scheduled.NUDGE)
    async def nudge(run: JobRun) -> None:
        await scheduled.nudge(services, run.payload["incident_id"])
