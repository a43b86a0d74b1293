"""Block Kit building blocks shared by every domain's messages.py (plain values in, dicts out)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from bot.slack.text import escape, truncate

Blocks = list[dict[str, Any]]
T = TypeVar("T", int, str)
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


OPTION_TEXT = 75  # an option's text


def option_text(raw: str) -> str:
    """Config text as an option's mrkdwn: escaped, and shortened with "…" past Slack's 75 characters
    (`check-config` names such items, so the cut is never silent)."""
    return escape(truncate(raw, OPTION_TEXT - 1)) if len(escape(raw)) > OPTION_TEXT else escape(raw)


MESSAGE_BLOCKS = 50  # blocks in one message


def message_parts(blocks: Blocks, most: int = MESSAGE_BLOCKS) -> list[Blocks]:
    """Blocks for as many messages as Slack's limit needs (each at most `most`), in order, nothing dropped."""
    return [blocks[i : i + most] for i in range(0, len(blocks), most)] or [[]]


CHECKBOXES_MOST = 10  # options in one checkboxes element
_PART = ":part"


def checkbox_groups(
    block_id: str, action_id: str, options: list[dict[str, Any]], selected: list[dict[str, Any]]
) -> Blocks:
    """A checklist of any length: Slack's checkboxes hold 10 options, so a longer list is split over several
    actions blocks (block ids `<id>`, `<id>:part2`, …), never cut. `checkbox_part` tells a click's items apart."""
    out: Blocks = []
    for start in range(0, len(options), CHECKBOXES_MOST):
        chunk = options[start : start + CHECKBOXES_MOST]
        element: dict[str, Any] = {"type": "checkboxes", "action_id": action_id, "options": chunk}
        initial = [o for o in selected if o in chunk]
        if initial:
            element["initial_options"] = initial
        part = start // CHECKBOXES_MOST + 1
        out.append(
            {
                "type": "actions",
                "block_id": block_id if part == 1 else f"{block_id}{_PART}{part}",
                "elements": [element],
            }
        )
    return out


def checkbox_part(block_id: str) -> tuple[str, slice]:
    """`deploy:3:pre:part2` -> ("deploy:3:pre", the items that part shows): a click reports only its own part."""
    base, _, part = block_id.partition(_PART)
    number = int(part) if part.isascii() and part.isdigit() and 0 < len(part) < 4 and int(part) > 0 else 1
    return base, slice((number - 1) * CHECKBOXES_MOST, number * CHECKBOXES_MOST)


@dataclass(frozen=True)
class Change(Generic[T]):
    """What a checkbox click changes: the items to tick and the items to untick, each in order."""

    tick: list[T]
    untick: list[T]


def selection_change(selected: Iterable[T], current: Iterable[T], shown: Iterable[T] | None = None) -> Change[T]:
    """Checkboxes report the whole selection, not a toggle: what to tick and untick so the stored state matches it
    (so a double click changes nothing). Only the `shown` items are touched when given (the part of a long list
    that was clicked, the items still on the list); the rest are left as they are."""
    scope = None if shown is None else set(shown)
    want = set(selected) if scope is None else set(selected) & scope
    have = set(current) if scope is None else set(current) & scope
    return Change(tick=sorted(want - have), untick=sorted(have - want))  # type: ignore[type-var]


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
