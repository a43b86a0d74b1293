"""The alerts domain's events (bot/alerts/events.py): facts only, one key per occurrence, a payload that comes
back whole from job_runs' JSON."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.alerts.events import AlertAcknowledged, AlertPaged, AlertResolved
from bot.opsconfig import Severity

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_each_occurrence_has_its_own_key() -> None:
    keys = [
        AlertPaged(alert_id=5, priority=Severity.P1).key(),
        AlertPaged(alert_id=5, priority=Severity.P1, digest_id=2).key(),
        AlertPaged(alert_id=6, priority=Severity.P1).key(),
        AlertAcknowledged(alert_id=5, priority=Severity.P1, actor="U0BOB", at=AT).key(),
        AlertResolved(alert_id=5, priority=Severity.P1, at=AT).key(),
    ]
    assert keys == ["5:paged", "d2:paged", "6:paged", "5:acknowledged", "5:resolved"]
    # The same occurrence told twice (a page job retried) is one key: its subscribers run once.
    assert AlertPaged(alert_id=5, priority=Severity.P1).key() == keys[0]


def test_a_payload_comes_back_whole() -> None:
    for event in (
        AlertPaged(alert_id=5, priority=Severity.P1, digest_id=2),
        AlertAcknowledged(alert_id=5, priority=Severity.P2, actor="U0BOB", at=AT, request_id="pagerduty:Q1"),
        AlertResolved(alert_id=5, priority=Severity.P3, at=AT),
    ):
        payload = event.model_dump(mode="json")
        assert type(event).model_validate(payload) == event
        assert payload["priority"] in {"P1", "P2", "P3"}
