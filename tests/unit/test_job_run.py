"""A run's scheduled time survives its retries (a recurring run is keyed by it; its due_at moves on a retry)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.jobs import JobRun

SCHEDULED = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


def run(key: str, due_at: datetime) -> JobRun:
    return JobRun(id=1, job="maintenance.daily", run_key=key, due_at=due_at, payload={}, attempts=2, now=due_at)


def test_a_retried_recurring_run_keeps_its_scheduled_time() -> None:
    retried = run(SCHEDULED.isoformat(), SCHEDULED + timedelta(seconds=30))
    assert retried.scheduled_at == SCHEDULED
    assert retried.due_at != retried.scheduled_at


def test_a_one_off_run_is_scheduled_at_its_due_time() -> None:
    for key in ("42", "1:2", "command:abc", "2026-11-26T08:00:00"):  # the last: a time without a zone is no schedule
        assert run(key, SCHEDULED).scheduled_at == SCHEDULED
