"""Deploys' scheduled work: the end of a prod watch window, a pipeline call with no answer, expiry so no lock is
held forever, and what is said of a rollback's pin (pins.py; it is also shown in the handoff and new kickoffs)."""

from __future__ import annotations

from datetime import timedelta

from bot.deploys import flows, pins, scheduled
from bot.deploys.ids import Job
from bot.jobs import JobRunner, call
from bot.services import Services

ANNOUNCE_LEASE = timedelta(seconds=10)


def register(runner: JobRunner, services: Services) -> None:
    services.handoff_summary.append(pins.handoff_section)
    services.kickoff_notes.append(pins.kickoff_note)
    runner.declare(
        services,
        {
            Job.WATCH_END: call(scheduled.watch_ended, "deploy_id"),
            Job.CHECK_TRIGGER: call(scheduled.check_trigger, "deploy_id"),
            Job.EXPIRE: call(scheduled.expire, "deploy_id", "status"),
            # A short lease: an announcement cut off by a crash is posted again within seconds, not minutes.
            Job.ANNOUNCE: call(flows.announce, "deploy_id", lease=ANNOUNCE_LEASE),
            Job.FIX_FORWARD_NOTE: call(pins.fix_forward_note, "rollback_id"),
            Job.PIN_CLEARED: call(pins.pin_cleared, "rollback_id", "deploy_id"),
        },
    )
