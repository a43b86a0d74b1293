"""Names of the SLO domain: its job names (stored in job_runs: a value never changes)."""

from __future__ import annotations

from enum import StrEnum


class Job(StrEnum):
    WATCH_TICK = "slo.watch_tick"  # key <deploy id>:<n>: one minute of a prod deploy's watch window
    ROLLBACK_CHECK = "slo.rollback_check"  # key <rollback id>:<n>: are the error rates back to normal yet
    MONTHLY_REPORT = "slo.monthly_report"  # key <checklist post id>: the report in the monthly checklist's thread
    START_WATCH = "slo.start_watch"  # DeployFinished: a prod deploy's watch or a rollback's check starts
    REVIEW_DUE = "slo.review_due"  # maintenance ChecklistPosted: a monthly checklist with an SLO review
