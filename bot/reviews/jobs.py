"""The reviews domain's work: a weekly or monthly checklist's figures, started by maintenance's ChecklistPosted."""

from __future__ import annotations

from bot.jobs import JobRunner
from bot.maintenance.events import ChecklistPosted
from bot.reviews import flows
from bot.reviews.ids import Job
from bot.services import Services


def register(runner: JobRunner, services: Services) -> None:
    services.events.subscribe(services, ChecklistPosted, Job.POST, flows.checklist_posted)
