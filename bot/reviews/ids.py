"""Names of the reviews domain: its job names (stored in job_runs: a value never changes)."""

from __future__ import annotations

from enum import StrEnum


class Job(StrEnum):
    POST = "reviews.post"  # maintenance ChecklistPosted: a weekly/monthly review's figures in the checklist's thread
