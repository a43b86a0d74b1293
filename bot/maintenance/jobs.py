"""The maintenance checklists post themselves on their schedules (team time zone), then nudge once if overdue."""

from __future__ import annotations

from bot.jobs import JobRun, JobRunner, call, cron_next
from bot.maintenance import flows
from bot.maintenance.ids import Job, posted
from bot.services import Services


def register(runner: JobRunner, services: Services) -> None:
    services.handoff_summary.append(flows.week_in_review)
    tz = services.config.oncall.timezone
    for kind, checklist in services.config.maintenance.checklists.items():

        async def post(run: JobRun, kind: str = kind) -> None:
            # A retry is due later, yet posts the checklist recorded for the scheduled time (one record per kind
            # and due time), not one more.
            due = run.scheduled_at
            await flows.post(services, kind, due, late=run.now - due > flows.LATE_AFTER)

        every = runner.recurring(
            posted(kind), spec=f"{checklist.schedule} {tz}", next_due=cron_next(checklist.schedule, tz)
        )
        every(post)

    runner.declare(services, {Job.OVERDUE: call(flows.overdue, "post_id")})
