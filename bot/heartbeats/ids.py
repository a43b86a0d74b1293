"""Names of the heartbeats domain: job names and the states a watched job is in."""

from __future__ import annotations

from enum import StrEnum


class Job(StrEnum):
    CHECK = "heartbeats.check"  # every minute: Prometheus's last successes read, late jobs alerted
    DAILY_ITEM = "heartbeats.daily_item"  # maintenance ChecklistPosted: the daily "Verify backup completion"
    RECHECK = "heartbeats.recheck"  # a backup reported after the daily item said it was late: check again


class State(StrEnum):
    """How a watched job stands (/backups; the daily item needs every backup FRESH)."""

    FRESH = "fresh"
    LATE = "late"
    FAILED = "failed"
    NEVER = "never"  # no run recorded yet
    NOT_WATCHED = "not watched"  # no interval: shown, never late


class Reason(StrEnum):
    """Why its alert fires (heartbeats.alert_reason)."""

    LATE = "late"
    FAILED = "failed"


class Source(StrEnum):
    """heartbeat_runs.source: where the bot heard of a run."""

    HOOK = "hook"
    PROMETHEUS = "prometheus"


def fingerprint(name: str) -> str:
    """The alert's identity in the alerts pipeline: one heartbeat, one alert (its episodes threaded)."""
    return f"heartbeat:{name}"
