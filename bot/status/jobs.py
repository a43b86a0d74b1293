"""Durable work of the status domain: stakeholder posts and the manager's reminder, each run once."""

from __future__ import annotations

from bot.jobs import PAGING_LEASE, JobRunner, call, due_at
from bot.services import Services
from bot.status import flows, hooks


def register(runner: JobRunner, services: Services) -> None:
    runner.declare(
        services,
        {
            # An announcement resumes within seconds of a crash (a short heartbeat lease); one incident's posts
            # reach the stakeholders in the order they were made.
            hooks.STAKEHOLDERS: call(
                flows.post_to_stakeholders,
                "incident_id",
                "what",
                "update_id?",
                "at?",
                lease=PAGING_LEASE,
                in_order="incident_id",
            ),
            hooks.REMIND: call(flows.remind_manager, "incident_id", due_at),
        },
    )
