"""What a received alert becomes in the alerts table (bot/alerts/payloads.py): no bot, no database."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.alerts.payloads import Incoming


def test_an_alert_as_received_fills_exactly_its_own_columns() -> None:
    item = Incoming(
        fingerprint="f1",
        status="firing",
        labels={"alertname": "HighErrorRate", "severity": "critical"},
        annotations={"summary": "5xx above 5%"},
        starts_at=datetime(2026, 11, 25, 3, 0, tzinfo=UTC),
        ends_at=None,
        generator_url="http://prometheus/graph",
        values_text="A=0.07",
        group_key='{}:{alertname="HighErrorRate"}',
        group_labels={"alertname": "HighErrorRate"},
    )
    received = item.as_received()
    # A field added to Incoming would become an INSERT column: it must be named here on purpose.
    assert set(received) == {
        "fingerprint",
        "status",
        "labels",
        "annotations",
        "starts_at",
        "ends_at",
        "generator_url",
        "values_text",
        "group_key",
        "alertname",
    }
    assert received["alertname"] == "HighErrorRate" and received["labels"] is item.labels
