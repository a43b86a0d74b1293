"""Slack-encoded text (as slash commands deliver it) turned into plain pieces for the page, the feed and posts.

Slack sends `<@U1|bob>`, `<#C1|general>`, `<!here>`, `<https://x|label>` and `&amp;` `&lt;` `&gt;`. Outside
Slack none of that markup means anything: a mention becomes `@bob`, a link keeps its address, the entities
are decoded once. Each output format then escapes the plain text once for itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.slack.text import escape

_MARKUP = re.compile(r"<([^<>]*)>")
_LINK_SCHEMES = ("http://", "https://", "mailto:")


@dataclass(frozen=True)
class Piece:
    text: str
    href: str | None = None


def _entities(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _markup(inner: str) -> Piece:
    target, _, label = inner.partition("|")
    label = _entities(label)
    if target.startswith("@"):
        return Piece("@" + (label.lstrip("@") or target[1:]))
    if target.startswith("#"):
        return Piece("#" + (label.lstrip("#") or target[1:]))
    if target.startswith("!"):
        # <!here>, <!channel>, <!subteam^S1|@team>, <!date^…|fallback>: words, never a broadcast
        return Piece(label or "@" + target[1:].split("^")[0])
    url = _entities(target)
    if url.lower().startswith(_LINK_SCHEMES):
        return Piece(label or url.removeprefix("mailto:"), url)
    return Piece(label or url)


def pieces(slack_text: str) -> list[Piece]:
    """Slack-encoded text as plain pieces, links kept as (label, address)."""
    out: list[Piece] = []
    last = 0
    for match in _MARKUP.finditer(slack_text):
        if match.start() > last:
            out.append(Piece(_entities(slack_text[last : match.start()])))
        out.append(_markup(match[1]))
        last = match.end()
    if last < len(slack_text):
        out.append(Piece(_entities(slack_text[last:])))
    return [p for p in out if p.text]


def plain(slack_text: str) -> str:
    """Plain text, a link written as `label (address)` when the label is not the address."""
    return "".join(
        p.text if not p.href or p.href in (p.text, "mailto:" + p.text) else f"{p.text} ({p.href})"
        for p in pieces(slack_text)
    )


def mrkdwn(slack_text: str) -> str:
    """Safe to post to another channel: links kept, every mention turned into plain words, escaped once."""
    return "".join(f"<{escape(p.href)}|{escape(p.text)}>" if p.href else escape(p.text) for p in pieces(slack_text))


def from_plain(text: str) -> str:
    """Raw text (a form field, our own words) in the Slack-encoded form the updates are stored in."""
    return escape(text)
