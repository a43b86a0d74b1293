"""Slack-encoded text (as slash commands deliver it) made public, and turned into plain pieces for the page, the
feed and posts.

Slack sends `<@U1|bob>`, `<#C1|general>`, `<!here>`, `<https://x|label>` and `&amp;` `&lt;` `&gt;`. An update
is cleaned once on the way in (`public`), before anyone sees its preview and before it is stored: characters an
XML 1.0 feed cannot carry are removed, a mention becomes the person's name (or goes, when nobody knows it), a
channel link `#general`, a broadcast a plain word; links stay. What is stored is still Slack-encoded; showing
it decodes the entities once and each output format escapes the plain text once for itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.slack.text import escape

_MARKUP = re.compile(r"<([^<>]*)>")
_LINK_SCHEMES = ("http://", "https://", "mailto:")
# What XML 1.0 cannot carry (C0 controls but tab, newline and carriage return; U+FFFE, U+FFFF) and lone
# surrogates (PostgreSQL cannot store them): one of them in the last 50 updates breaks every reader of the feed.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_USER = re.compile(r"@([UW][A-Z0-9]+)")
_CHANNEL = re.compile(r"#[CG][A-Z0-9]+")
_LINK = re.compile(r"(?:https?://|mailto:|tel:)[^\s|<>]+", re.IGNORECASE)
_DROPPED = "\x00"  # where a mention nobody knows was (a character `public` has removed from the text)
_BROADCASTS = {"here", "channel", "everyone"}


def without_controls(text: str) -> str:
    """Text every output can carry: JSON, HTML, Slack and an XML 1.0 feed."""
    return _UNSAFE.sub("", text)


def mentioned(slack_text: str) -> list[str]:
    """The user ids mentioned in Slack-encoded text (`<@U1>`, `<@U1|bob>`), each once, in order."""
    found = (_USER.fullmatch(m[1].partition("|")[0]) for m in _MARKUP.finditer(slack_text))
    return list(dict.fromkeys(f[1] for f in found if f))


def _public_markup(inner: str, names: Mapping[str, str | None]) -> str:
    target, bar, label = inner.partition("|")
    user = _USER.fullmatch(target)
    if user:
        name = names.get(user[1])
        if name:
            return escape(name)
        return label.lstrip("@") or _DROPPED  # a label is Slack-encoded already
    if _CHANNEL.fullmatch(target):
        return "#" + (label.lstrip("#") or "channel")
    if target.startswith("!"):
        word = target[1:].split("^", 1)[0]
        if word in _BROADCASTS:
            return "@" + word
        if word == "subteam":
            return "@" + (label.lstrip("@") or "group")
        return label  # <!date^…|fallback>: its words
    if _LINK.fullmatch(target):
        return f"<{target}|{label}>" if bar and label else f"<{target}>"
    return label or "&lt;" + inner + "&gt;"


def public(slack_text: str, names: Mapping[str, str | None]) -> str:
    """Slack-encoded text as the public may see it, still Slack-encoded (links kept): no control characters, no
    Slack ids. `names`: user id -> display name (None or missing: the mention's label, else it is dropped).
    Idempotent: what it returns holds nothing it would change."""
    text = without_controls(slack_text)
    text = _MARKUP.sub(lambda m: _public_markup(m[1], names), text)
    # A dropped mention takes one of the spaces around it along: "ask <@U0NOPE> now" -> "ask now".
    return re.sub(f" {_DROPPED}(?= )|{_DROPPED}", "", text).strip()


@dataclass(frozen=True)
class Piece:
    text: str
    href: str | None = None


def _entities(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _markup(inner: str) -> Piece:
    target, _, label = inner.partition("|")
    label = _entities(label)
    # Updates are cleaned on the way in (`public`); what was stored before shows no Slack id either.
    if target.startswith("@"):
        return Piece("@" + label.lstrip("@") if label else "")
    if target.startswith("#"):
        return Piece("#" + (label.lstrip("#") or "channel"))
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
