"""PagerDuty's webhook signature and payload, and the words they become: no bot, no database."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from pydantic import ValidationError

from bot.pagerduty import messages
from bot.pagerduty.inbound import numbers
from bot.pagerduty.payloads import Webhook, verify

BODY = json.dumps(
    {
        "event": {
            "id": "01DEN7Y5V4Q2JHXN0MWG0M3ABC",
            "event_type": "incident.escalated",
            "resource_type": "incident",
            "occurred_at": "2026-11-25T03:04:05.123Z",
            "agent": {"id": "PLH1HKV", "type": "user_reference", "summary": "Tenex <Engineer>"},
            "client": {"name": "PagerDuty"},
            "data": {
                "id": "PGR0VU2",
                "type": "incident",
                "html_url": "https://acme.pagerduty.com/incidents/PGR0VU2",
                "number": 2,
                "status": "triggered",
                "incident_key": "INC-12",
                "title": "INC-12 P1: Checkout is down",
                "assignees": [{"id": "PTUXL6G", "type": "user_reference", "summary": "User & 123"}],
            },
        }
    }
).encode()


def sign(secret: str, body: bytes = BODY) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_any_v1_signature_of_the_body_passes() -> None:
    assert verify(sign("new"), BODY, "new")
    assert verify(f"{sign('old')},{sign('new')}", BODY, "new")  # a rotation: both secrets sign
    assert verify(f"{sign('old')}, {sign('new')}", BODY, "old")


@pytest.mark.parametrize(
    "header",
    ["", sign("other"), sign("new", b"{}"), "v0=" + sign("new")[3:], sign("new")[3:], sign("new").upper()],
)
def test_anything_else_fails(header: str) -> None:
    assert not verify(header, BODY, "new")


def test_no_secret_verifies_nothing() -> None:
    assert not verify(sign(""), BODY, None)
    assert not verify(sign(""), BODY, "")


def test_the_documented_payload_parses_and_matches_by_key_then_title() -> None:
    event = Webhook.model_validate_json(BODY).event
    assert (event.event_type, event.data.number, event.agent and event.agent.id) == ("incident.escalated", 2, "PLH1HKV")
    assert numbers(event) == [12]
    other_key = event.model_copy(update={"data": event.data.model_copy(update={"incident_key": "a1b2c3"})})
    assert numbers(other_key) == [12]  # the title starts with the ref
    neither = event.model_copy(update={"data": event.data.model_copy(update={"incident_key": None, "title": "CPU"})})
    assert numbers(neither) == []
    assert numbers(event.model_copy(update={"data": event.data.model_copy(update={"title": "INC-123 x"})})) == [12, 123]


def test_a_malformed_event_names_its_field() -> None:
    data = json.loads(BODY)
    del data["event"]["data"]["id"]
    with pytest.raises(ValidationError) as error:
        Webhook.model_validate(data)
    assert [e["loc"] for e in error.value.errors()] == [("event", "data", "id")]


def test_webhook_text_is_escaped_once() -> None:
    event = Webhook.model_validate_json(BODY).event
    assert messages.who(event.agent) == "Tenex &lt;Engineer&gt;"
    assert messages.who(None) == "PagerDuty"
    assert messages.note(event) == "escalated in PagerDuty to User &amp; 123"
