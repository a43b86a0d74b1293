"""Incidents' scheduled work: acknowledgement escalation and update nudges."""

from __future__ import annotations

from bot.incidents import flows, followups
from bot.jobs import JobRun, JobRunner
from bot.services import Services


def register(runner: JobRunner, services: Services) -> None:
    services.handoff_summary.append(flows.week_in_review)

    @runner.handler(flows.ESCALATE)
    async def escalate(run: JobRun) -> None:
        payload = run.payload
        await flows.escalate(services, payload["incident_id"], payload["role"], payload["severity"], run.run_key)

    @runner.handler(flows.SETUP, lease=flows.SETUP_LEASE)
    async def setup(run: JobRun) -> None:
        reply = run.payload.get("reply") or {}
        await flows.run_setup(services, run.payload["incident_id"], flows.Reply(**reply))

    @runner.handler(flows.PAGE_RETRY)
    async def retry_pages(run: JobRun) -> None:
        await flows.retry_pages(services, run.payload["incident_id"])

    @runner.handler(followups.ACTION_DUE)
    async def action_due(run: JobRun) -> None:
        await followups.remind(services, run.payload["action_id"])

    @runner.handler(flows.NUDGE)
    async def nudge(run: JobRun) -> None:
        await flows.nudge(services, run.payload["incident_id"])
