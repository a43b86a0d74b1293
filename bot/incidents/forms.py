"""The Declare incident form: built here, and its private_metadata read back here (no I/O)."""

from __future__ import annotations

import json
from typing import Any

from bot.incidents.ids import Block, View
from bot.incidents.parse import MAX_TEXT, MAX_TITLE
from bot.opsconfig import OpsConfig
from bot.slack.text import truncate


def declare_modal(
    config: OpsConfig,
    reporter: str,
    origin_channel: str | None,
    *,
    title: str | None = None,
    description: str | None = None,
    source: str | None = None,
    severity: str | None = None,
    alert: int | None = None,
) -> dict[str, Any]:
    """The Declare incident form; from a message shortcut or an alert, prefilled (plain text) and carrying the
    message's link (and the alert it was opened for)."""
    who_commands = "you" if config.incidents.default_commander == "reporter" else "the on-call primary"
    return {
        "type": "modal",
        "callback_id": View.DECLARE,
        "private_metadata": _metadata(origin_channel, source, alert),
        "title": {"type": "plain_text", "text": "Declare incident"},
        "submit": {"type": "plain_text", "text": "Declare"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _text_input(Block.TITLE, "Title", MAX_TITLE, title, placeholder="What is broken, in a few words"),
            _severity_input(config, severity),
            _text_input(Block.DESCRIPTION, "Description", MAX_TEXT, description, optional=True, multiline=True),
            {
                "type": "input",
                "block_id": Block.COMMANDER,
                "optional": True,
                "label": {"type": "plain_text", "text": f"Commander ({who_commands}, if left empty)"},
                "element": {"type": "users_select", "action_id": "value"},
            },
        ],
    }


def _metadata(origin_channel: str | None, source: str | None, alert: int | None) -> str:
    """The origin channel alone (the plain form), or JSON when a message's link or an alert comes along."""
    if not source and alert is None:
        return origin_channel or ""
    return json.dumps({"origin": origin_channel, "source": source, **({"alert": alert} if alert is not None else {})})


def metadata(private_metadata: str) -> tuple[str | None, str | None]:
    """(origin channel, the reported message's link) from the form's private_metadata."""
    if private_metadata.startswith("{"):
        try:
            data = json.loads(private_metadata)
        except ValueError:
            return None, None
        return data.get("origin") or None, data.get("source") or None
    return private_metadata or None, None


def alert_of(private_metadata: str) -> int | None:
    """The alert the form was opened for (an alert's *Declare incident* button), if any."""
    if not private_metadata.startswith("{"):
        return None
    try:
        value = json.loads(private_metadata).get("alert")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


def _text_input(
    block: Block,
    label: str,
    max_length: int,
    initial: str | None,
    *,
    placeholder: str | None = None,
    optional: bool = False,
    multiline: bool = False,
) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value"}
    if multiline:
        element["multiline"] = True
    element["max_length"] = max_length
    if placeholder:
        element["placeholder"] = {"type": "plain_text", "text": placeholder}
    if initial:
        element["initial_value"] = initial
    return {
        "type": "input",
        "block_id": block,
        **({"optional": True} if optional else {}),
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }


def _severity_input(config: OpsConfig, severity: str | None) -> dict[str, Any]:
    options = [
        {
            "text": {"type": "plain_text", "text": truncate(f"{s.level} · {s.response}", 75)},
            "description": {"type": "plain_text", "text": truncate(s.definition, 75)},
            "value": s.level,
        }
        for s in config.severities
    ]
    chosen = next((o for o in options if severity and o["value"] == severity), None)
    return {
        "type": "input",
        "block_id": Block.SEVERITY,
        "label": {"type": "plain_text", "text": "Severity"},
        "element": {
            "type": "static_select",
            "action_id": "value",
            "options": options,
            **({"initial_option": chosen} if chosen else {}),
        },
    }
