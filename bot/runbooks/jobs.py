"""The runbooks domain's work: the recovery runbook in incidents' kickoffs, the drill offer under the monthly
checklist (maintenance's event), and a finished drill's question and result."""

from __future__ import annotations

from bot.jobs import JobRunner, call
from bot.maintenance.events import ChecklistPosted
from bot.runbooks import drills, recovery
from bot.runbooks.ids import Job
from bot.services import Services


def register(runner: JobRunner, services: Services) -> None:
    runner.declare(
        services,
        {Job.DRILL_ASK: call(drills.ask, "run_id"), Job.DRILL_RESULT: call(drills.post_result, "run_id")},
    )
    services.events.subscribe(services, ChecklistPosted, Job.OFFER_DRILL, drills.offer)
    services.kickoff_notes.append(recovery.kickoff_note)
