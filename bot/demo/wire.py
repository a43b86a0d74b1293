"""What Slack (and Alertmanager, PagerDuty, the pipeline) send the bot, byte for byte: Slack-encoded command
text, signed form bodies, interaction payloads. Shared by `zzik-bot demo` and the tests (tests/slackreq.py)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

# What Slack itself writes into command text: mentions, channel links, links, broadcasts, dates.
_SLACK_MADE = re.compile(
    r"<(?:@[UW][A-Z0-9]+|#[CG][A-Z0-9]+|![a-z]+(?:\^[^<>|]*)?|(?:https?://|mailto:)[^<>|\s]+)(?:\|[^<>]*)?>"
)
_BARE_URL = re.compile(r"(?<![<|])\bhttps?://[^\s<>|]*[^\s<>|.,;:!?)]")
_BROADCAST = re.compile(r"(?<![\w<])@(here|channel|everyone)\b")
_MENTION = re.compile(r"(?<![\w<|@])@([a-z0-9][a-z0-9._-]*)", re.IGNORECASE)
TEAM = {"id": "T0ZZIK", "domain": "zzik"}
APP_ID = "A0ZZIK"
_ids = itertools.count(1)


def slack_encode(typed: str) -> str:
    """Command text as Slack sends it with `should_escape: true`: what is already written the way Slack renders it
    (`<@U1>`, `<#C1|ops>`, `<https://x|label>`) stays, `@here` becomes `<!here>`, a bare URL `<https://…>`,
    and every other `&`, `<`, `>` becomes `&amp;`, `&lt;`, `&gt;`."""
    out, last = [], 0
    for match in _SLACK_MADE.finditer(typed):
        out.append(_encode_plain(typed[last : match.start()]))
        out.append(match[0])
        last = match.end()
    out.append(_encode_plain(typed[last:]))
    return "".join(out)


def _encode_plain(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _BARE_URL.sub(lambda m: f"<{m[0]}>", text)
    return _BROADCAST.sub(lambda m: f"<!{m[1]}>", text)


def mentions_typed(typed: str, people: Mapping[str, str]) -> str:
    """`@alice` typed in a command, as Slack's client turns it into `<@U0ALICE|alice>` (people: name -> user id);
    an unknown name stays text."""

    def link(match: re.Match[str]) -> str:
        user = people.get(match[1].lower())
        return f"<@{user}|{match[1].lower()}>" if user else match[0]

    return _MENTION.sub(link, typed)


def signed_headers(signing_secret: str, body: str, content_type: str, timestamp: int | None = None) -> dict[str, str]:
    """Slack's request signature (v0, HMAC-SHA256 of `v0:<ts>:<body>`) and its headers."""
    ts = str(timestamp if timestamp is not None else int(time.time()))
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=ts, body=body) or ""
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def trigger_id() -> str:
    return f"{next(_ids)}.{int(time.time())}.{uuid.uuid4().hex[:16]}"


def user_ref(user: str, name: str) -> dict[str, Any]:
    return {"id": user, "username": name, "name": name, "team_id": TEAM["id"]}


def command_form(
    command: str,
    text: str,
    *,
    user: str,
    user_name: str,
    channel: str,
    channel_name: str,
    response_url: str,
    trigger: str,
) -> str:
    """A slash command's form body; `text` already Slack-encoded."""
    return urlencode(
        {
            "token": "demo-verification-token",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger,
        }
    )


def interaction_form(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def block_actions(
    action: dict[str, Any],
    *,
    user: dict[str, Any],
    container: dict[str, Any],
    trigger: str,
    channel: dict[str, Any] | None = None,
    message: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    response_url: str | None = None,
) -> dict[str, Any]:
    """Slack's block_actions payload for one element's action (a click, a choice)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": TEAM,
        "user": user,
        "api_app_id": APP_ID,
        "token": "demo-verification-token",
        "container": container,
        "trigger_id": trigger,
        "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
    }
    if channel is not None:
        payload["channel"] = channel
    if message is not None:
        payload["message"] = message
    if view is not None:
        payload["view"] = view
    if state is not None:
        payload["state"] = {"values": state}
    if response_url is not None:
        payload["response_url"] = response_url
    return payload


def view_submission(view: dict[str, Any], values: dict[str, Any], *, user: dict[str, Any], trigger: str) -> dict:
    """Slack's view_submission payload: the view as shown, with `state.values` as the person filled it in."""
    return {
        "type": "view_submission",
        "team": TEAM,
        "user": user,
        "api_app_id": APP_ID,
        "token": "demo-verification-token",
        "trigger_id": trigger,
        "view": {**view, "state": {"values": values}, "hash": view.get("hash") or "h"},
        "response_urls": [],
        "is_enterprise_install": False,
    }


# -- The bot's own hooks, as their senders call them ---------------------------------------------------------------


def alertmanager_message(name: str, labels: dict[str, str], summary: str, fingerprint: str) -> dict[str, Any]:
    """Alertmanager's webhook message (version 4) with one firing alert."""
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    common = {"alertname": name, **labels}
    return {
        "receiver": "zzik",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": common,
                "annotations": {"summary": summary},
                "startsAt": now,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.invalid/graph",
                "fingerprint": fingerprint,
            }
        ],
        "groupLabels": {"alertname": name},
        "commonLabels": common,
        "commonAnnotations": {"summary": summary},
        "externalURL": "http://alertmanager.invalid",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "truncatedAlerts": 0,
    }


def pagerduty_signature(secret: str, body: bytes) -> str:
    """X-PagerDuty-Signature of a v3 webhook: `v1=` and the hex HMAC-SHA256 of the raw body."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def pagerduty_event(
    key: str,
    number: int,
    event_type: str,
    title: str,
    agent: dict[str, Any] | None,
    *,
    status: str | None = None,
    occurred_at: datetime | None = None,
    created_at: datetime | None = None,
    assignees: Sequence[str] = (),
) -> dict[str, Any]:
    """A v3 webhook body about the PagerDuty incident with dedup key `key`, shaped as PagerDuty documents it (its
    status the event's unless given; occurred and created now unless given)."""
    pd_id = f"Q{number:06d}"
    return {
        "event": {
            "id": uuid.uuid4().hex.upper()[:26],
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": _zulu(occurred_at or datetime.now(UTC)),
            "agent": agent,
            "client": None,
            "data": {
                "id": pd_id,
                "type": "incident",
                "self": f"https://api.pagerduty.com/incidents/{pd_id}",
                "html_url": f"https://zzik.pagerduty.com/incidents/{pd_id}",
                "number": number,
                "status": status or event_type.removeprefix("incident."),
                "incident_key": key,
                "created_at": _zulu(created_at or datetime.now(UTC)),
                "title": title,
                "service": {"id": "PSVC001", "type": "service_reference", "summary": "ZZIK LIVE"},
                "assignees": [
                    {"id": f"PU{i}", "type": "user_reference", "summary": name} for i, name in enumerate(assignees)
                ],
                "escalation_policy": {
                    "id": "PESC001",
                    "type": "escalation_policy_reference",
                    "summary": "ZZIK LIVE on call",
                    "self": "https://api.pagerduty.com/escalation_policies/PESC001",
                    "html_url": "https://zzik.pagerduty.com/escalation_policies/PESC001",
                },
                "teams": [],
                "priority": None,
                "urgency": "high",
                "conference_bridge": None,
                "resolve_reason": None,
            },
        }
    }


def _zulu(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")
