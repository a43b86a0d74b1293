"""Incidents' durable work: the Slack set-up, late pages, acknowledgement escalation, update nudges, the
action items' due-date reminders and the messages pinned into the timeline."""

from __future__ import annotations

from bot.incidents import ack_expiry, deploy_notes, flows, followups, paging, pins, scheduled, setup
from bot.incidents.ids import Job
from bot.jobs import PAGING_LEASE, PAGING_RETRY, JobRun, JobRunner, call
from bot.services import Services


def _run_key(run: JobRun) -> str:
    return run.run_key


def _payload(run: JobRun) -> dict:
    return run.payload


def register(runner: JobRunner, services: Services) -> None:
    deploy_notes.register(runner, services)
    services.handoff_summary.append(scheduled.week_in_review)
    runner.declare(
        services,
        {
            # Escalations, pages and declarations resume within seconds of a crash (a short heartbeat lease).
            Job.ESCALATE: call(
                scheduled.escalate, "incident_id", "role", "severity", _run_key, lease=PAGING_LEASE, urgent=True
            ),
            # A declaration and its set-up that failed (the database away a moment) are retried within seconds.
            Job.SETUP: call(setup.run_setup, "incident_id", "reply?", lease=setup.SETUP_LEASE, retry=PAGING_RETRY),
            Job.DECLARE: call(flows.run_declare, _payload, lease=PAGING_LEASE, retry=PAGING_RETRY, urgent=True),
            Job.PAGE_RETRY: call(paging.page_round, "incident_id", lease=PAGING_LEASE, urgent=True),
            # An acknowledgement that ran out: the reminder, then one role a step (each keyed by the deadline).
            Job.ACK_EXPIRED: call(
                ack_expiry.expired,
                "incident_id",
                "deadline",
                lease=PAGING_LEASE,
                retry=PAGING_RETRY,
                on_gave_up=ack_expiry.reminder_lost,
            ),
            Job.ACK_ESCALATE: call(
                ack_expiry.escalate, "incident_id", "deadline", "role", _run_key, lease=PAGING_LEASE, urgent=True
            ),
            Job.ACTION_DUE: call(followups.remind, "action_id"),
            Job.NUDGE: call(scheduled.nudge, "incident_id"),
            # One message's pins and unpins are applied in the order they came (a reaction taken off at once).
            Job.TIMELINE_PIN: call(pins.apply, _payload, in_order="message_key"),
            Job.TIMELINE_PIN_REPLY: call(pins.reply, "pin_id", "added", "by"),
        },
    )
