"""On-call's scheduled work: the handoff reminder, the handoff, the day-before DM, override edges."""

from __future__ import annotations

from datetime import timedelta

from bot.jobs import PAGING_LEASE, PAGING_RETRY, JobRun, JobRunner, call
from bot.oncall import cover, flows
from bot.oncall.ids import Job
from bot.rota.lookup import rotation
from bot.services import Services


def register(runner: JobRunner, services: Services) -> None:
    config = services.config.oncall
    rot = rotation(services)
    before = config.remind_before
    spec = f"{config.timezone} {config.handoff.day} {config.handoff.time} from {config.start}"
    services.handoff_summary.append(flows.week_in_review)

    @runner.recurring(
        Job.HANDOFF_REMINDER,
        spec=f"{spec} -{before}",
        next_due=lambda after: rot.next_handoff(after + before) - before,
    )
    async def handoff_reminder(run: JobRun) -> None:
        handoff_at = run.scheduled_at + before
        if run.now >= handoff_at:
            return  # the bot was down through the handoff: the handoff announcement says it all
        await flows.handoff_reminder(services, handoff_at)

    @runner.recurring(Job.HANDOFF, spec=spec, next_due=rot.next_handoff)
    async def handoff(run: JobRun) -> None:
        late = run.now - run.scheduled_at
        await flows.handoff(services, run.scheduled_at, late if late > timedelta(minutes=5) else None)

    day = timedelta(days=1)

    @runner.recurring(Job.INCOMING_DM, spec=f"{spec} -1d", next_due=lambda after: rot.next_handoff(after + day) - day)
    async def incoming_dm(run: JobRun) -> None:
        handoff_at = run.scheduled_at + day
        if run.now < handoff_at:
            await flows.incoming_dms(services, handoff_at)

    @runner.handler(Job.OVERRIDE_CHANGES)
    async def override_changes(run: JobRun) -> None:
        await flows.override_changed(services, run.payload["override_id"], run.payload["edge"], run.due_at)

    # Urgent cover: its messages go out within seconds and are retried; one given up on is told to the asker.
    runner.declare(
        services,
        {
            Job.COVER_POST: call(
                cover.post, "post_id", lease=PAGING_LEASE, retry=PAGING_RETRY, on_gave_up=cover.gave_up
            ),
            Job.COVER_UPDATE: call(cover.update, "post_id", lease=PAGING_LEASE, on_gave_up=cover.gave_up),
            Job.COVER_TELL: call(
                cover.tell, "cover_id", "user", "about?", lease=PAGING_LEASE, on_gave_up=cover.gave_up
            ),
            Job.COVER_ESCALATE: call(cover.escalate, "cover_id", lease=PAGING_LEASE),
            Job.COVER_EXPIRE: call(cover.expire, "cover_id", lease=PAGING_LEASE),
        },
    )
