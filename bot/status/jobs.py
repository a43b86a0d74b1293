"""Durable work of the status domain: stakeholder posts and the manager's reminder, each run once; what it does
when an incident is declared, changes severity, resolves or reopens (a subscriber of the incidents' events)."""

from __future__ import annotations

from bot.incidents.events import IncidentDeclared, IncidentReopened, IncidentResolved, SeverityChanged
from bot.jobs import PAGING_LEASE, JobRunner, call, due_at
from bot.services import Services
from bot.status import flows, hooks
from bot.status.ids import Job


def register(runner: JobRunner, services: Services) -> None:
    runner.declare(
        services,
        {
            # An announcement resumes within seconds of a crash (a short heartbeat lease); one incident's posts
            # reach the stakeholders in the order they were made.
            Job.STAKEHOLDERS: call(
                flows.post_to_stakeholders,
                "incident_id",
                "what",
                "update_id?",
                "at?",
                lease=PAGING_LEASE,
                in_order="incident_id",
            ),
            Job.REMIND: call(flows.remind_manager, "incident_id", due_at),
        },
    )
    events = services.events
    events.subscribe(services, IncidentDeclared, Job.INCIDENT_DECLARED, hooks.on_declared)
    events.subscribe(services, SeverityChanged, Job.SEVERITY_CHANGED, hooks.on_severity_changed)
    events.subscribe(services, IncidentResolved, Job.INCIDENT_RESOLVED, hooks.on_resolved)
    events.subscribe(services, IncidentReopened, Job.INCIDENT_REOPENED, hooks.on_reopened)
