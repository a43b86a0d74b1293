"""PagerDuty's webhook signature and payload, and the words they become: no bot, no database."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from pydantic import ValidationError

from bot.pagerduty import messages
from bot.pagerduty.payloads import Unreadable, Webhook, read, verify

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


def test_the_documented_payload_parses() -> None:
    event = Webhook.model_validate_json(BODY).event
    assert (event.event_type, event.data.number, event.agent and event.agent.id) == ("incident.escalated", 2, "PLH1HKV")
    assert (event.data.incident_key, event.data.merged_into) == ("INC-12", None)


def test_a_merge_names_the_incident_it_went_into() -> None:
    data = json.loads(BODY)
    target = {"id": "PX1", "type": "incident_reference", "summary": "[#7] DB <down>", "html_url": None}
    data["event"]["data"]["resolve_reason"] = {"type": "merge_resolve_reason", "incident": target}
    event = Webhook.model_validate(data).event
    assert event.data.merged_into is not None and event.data.merged_into.id == "PX1"
    assert (
        messages.resolved_summary(event)
        == "resolved in PagerDuty by Tenex &lt;Engineer&gt;: merged into [#7] DB &lt;down&gt;"
    )


def test_read_keeps_what_jsonb_takes_and_names_what_it_refuses() -> None:
    assert read(b'{"a\\u0000": ["x\\u0000y", 1, null]}') == {"a\ufffd": ["x\ufffdy", 1, None]}
    for body, error in [
        (b'{"e": {"d": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}", "e.d.0.0.0.0.0.0…: nested deeper than 32 levels"),
        (b'{"e": {"d": ' + b"[" * 31 + b"]" * 31 + b"}}", "e.d.0.0.0.0.0.0…: nested deeper than 32 levels"),
        (b'{"e": [1, 2e999]}', "e.1: a number out of range"),
        (b'{"e": NaN}', "body: not JSON (expected value at line 1 column 7)"),
    ]:
        with pytest.raises(Unreadable) as refused:
            read(body)
        assert str(refused.value) == error
    assert read(b'{"e": {"d": ' + b"[" * 30 + b"]" * 30 + b"}}")  # 32 levels: fine


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
