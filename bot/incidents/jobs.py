"""Incidents' scheduled work: acknowledgement escalation and update nudges."""

from __future__ import annotations

from bot.incidents import flows, followups
from bot.jobs import JobRun, JobRunner
from bot.services import Services


def register(runner: JobRunner, services: Services) -> None:
    services.handoff_summary.append(flows.week_in_review)

    @runner.handler(flows.ESCALATE)
    async def escalate(run: JobRun) -> None:
        await flows.escalate(services, run.payload["incident_id"], run.payload["role"], run.payload["severity"])

    @runner.handler(followups.ACTION_DUE)
    async def action_due(run: JobRun) -> None:
        await followups.remind(services, run.payload["action_id"])

    @runner.handler(flows.NUDGE)
    async def nudge(run: JobRun) -> None:
        await flows.nudge(services, run.payload["incident_id"])
