"""Block Kit building blocks shared by every domain's messages.py (plain values in, dicts out)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.slack.text import truncate

Blocks = list[dict[str, Any]]
TEXT_LIMIT = 3000  # a section's or context element's text


def section(text: str, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, TEXT_LIMIT)}}
    if accessory:
        block["accessory"] = accessory
    return block


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, TEXT_LIMIT)}]}


def confirm_dialog(title: str, text: str, yes: str) -> dict[str, Any]:
    return {
        "title": {"type": "plain_text", "text": title[:100]},
        "text": {"type": "mrkdwn", "text": text[:300]},
        "confirm": {"type": "plain_text", "text": yes[:30]},
        "deny": {"type": "plain_text", "text": "Cancel"},
        "style": "danger",
    }


def button(
    text: str, action_id: str, value: str, style: str | None = None, confirm: dict[str, Any] | None = None
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75]},
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def when(at: datetime, zone: ZoneInfo, *, year: bool = False) -> str:
    """`Mon 30 Nov 10:00 CET` (with the year if asked) in the given zone."""
    local = at.astimezone(zone)
    return local.strftime("%a %d %b %Y %H:%M " if year else "%a %d %b %H:%M ") + (local.tzname() or zone.key)


def clock_time(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return local.strftime("%H:%M ") + (local.tzname() or zone.key)


def pieces(text: str, limit: int = 2900) -> list[str]:
    """Split text into section-sized pieces on line breaks (hard only inside an over-long line), dropping nothing."""
    out, chunk = [], ""
    for line in text.split("\n"):
        while len(line) > limit:
            if chunk:
                out.append(chunk)
                chunk = ""
            out.append(line[:limit])
            line = line[limit:]
        candidate = f"{chunk}\n{line}" if chunk else line
        if len(candidate) > limit:
            out.append(chunk)
            chunk = line
        else:
            chunk = candidate
    if chunk:
        out.append(chunk)
    return out
