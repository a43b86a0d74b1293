"""The alerts domain's durable work: processing deliveries, sending at Slack's pace, pages and escalations, and
the link to an incident declared from an alert (IncidentDeclared)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.alerts import ack_expiry, scheduled, sending
from bot.alerts.ids import Job
from bot.incidents.events import IncidentDeclared
from bot.jobs import PAGING_LEASE, PAGING_RETRY, JobRun, JobRunner, call
from bot.services import Services


def every_sweep(after: datetime) -> datetime:
    """The next multiple of SWEEP_EVERY (UTC) strictly after `after`, so every replica computes the same run."""
    step = sending.SWEEP_EVERY.total_seconds()
    epoch = after.astimezone(UTC).timestamp()
    return datetime.fromtimestamp((epoch // step + 1) * step, UTC)


def register(runner: JobRunner, services: Services) -> None:
    @runner.recurring(Job.SWEEP, spec=f"every {int(sending.SWEEP_EVERY.total_seconds())}s", next_due=every_sweep)
    async def sweep(run: JobRun) -> None:
        await sending.sweep(services)

    runner.declare(
        services,
        {
            # What leads to a page or posts an alert resumes within seconds of a crash (a short heartbeat lease);
            # a page is retried at once, then less often.
            Job.PROCESS: call(sending.process_and_send, "delivery_id", lease=PAGING_LEASE),
            Job.SEND: call(sending.send, "channel", lease=PAGING_LEASE),
            Job.PAGE: call(
                scheduled.page_primary, "alert_id?", "digest_id?", lease=PAGING_LEASE, retry=PAGING_RETRY, urgent=True
            ),
            Job.ESCALATE: call(
                scheduled.escalate,
                "alert_id?",
                "digest_id?",
                "role",
                lease=PAGING_LEASE,
                retry=PAGING_RETRY,
                urgent=True,
            ),
            # An acknowledgement that ran out: the reminder, then one role a step (each keyed by the deadline).
            Job.ACK_EXPIRED: call(
                ack_expiry.expired,
                "alert_id",
                "deadline",
                lease=PAGING_LEASE,
                retry=PAGING_RETRY,
                on_gave_up=ack_expiry.reminder_lost,
            ),
            Job.ACK_ESCALATE: call(
                ack_expiry.escalate, "alert_id", "deadline", "role", lease=PAGING_LEASE, retry=PAGING_RETRY, urgent=True
            ),
            Job.DEPLOY_NOTE: call(scheduled.deploy_thread, "alert_id"),
            Job.DECLARE: call(scheduled.auto_declare, "alert_id", lease=PAGING_LEASE),
            Job.INCIDENT_NOTE: call(scheduled.incident_note, "alert_id"),
            Job.INGEST_NOTE: call(sending.post_note, "note_id"),
        },
    )
    services.events.subscribe(services, IncidentDeclared, Job.LINK_INCIDENT, scheduled.incident_declared)
