"""Text in and out of Slack: its encoding, mentions, channel-name slugs.

Two kinds of text reach the bot. Slash-command text and message text arrive *Slack-encoded* (the manifest
sets `should_escape: true`): `&amp;` `&lt;` `&gt;`, mentions `<@U1|bob>`, channels `<#C1|ops>`, links
`<https://x|label>`, broadcasts `<!here>`. Text from modals, webhooks and the ops config arrives *raw*.

- `from_slack(encoded)` turns Slack-encoded text into safe mrkdwn: mentions, channel links and links keep
  working, broadcast mentions are shown as text and never notify, nothing is encoded twice. It is idempotent,
  so safe mrkdwn passes through unchanged; user text is stored in this form.
- `escape(raw)` encodes raw text once (`&`, `<`, `>`), which is also safe mrkdwn.
- `plain(mrkdwn)` is what a person reads: for channel names, plain_text fields, lengths.
"""

from __future__ import annotations

import re
import unicodedata

_USER_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_BARE_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
# A Slack control sequence `<…>`, an entity, or one character: the units text is cut and measured in.
_UNIT = re.compile(r"<[^<>]*>|&(?:amp|lt|gt);|.", re.DOTALL)
_ENTITY = re.compile(r"&(amp|lt|gt);")
_LINK = re.compile(r"^(?:https?://|mailto:|tel:)[^\s|<>]+$", re.IGNORECASE)
_CHANNEL = re.compile(r"^#[CG][A-Z0-9]+$")
_USER = re.compile(r"^@[UW][A-Z0-9]+$")
_BROADCASTS = {"here", "channel", "everyone"}
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


def escape(text: str) -> str:
    """Encode raw text (a modal, a webhook, the config) once: no <!channel>, <@U…> or links smuggled in."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_label(label: str) -> str:
    """A label inside `<…|label>` is already encoded; only a bare `&` is left to encode."""
    return re.sub(r"&(?!(?:amp|lt|gt);)", "&amp;", label)


def _control(inner: str) -> str:
    """One `<…>` sequence from Slack -> safe mrkdwn."""
    target, bar, label = inner.partition("|")
    if _USER.match(target) or _CHANNEL.match(target):
        return f"<{target}|{_escape_label(label)}>" if bar and label else f"<{target}>"
    if _LINK.match(target):
        return f"<{target}|{_escape_label(label)}>" if bar and label else f"<{target}>"
    if target.startswith("!date^") and bar:
        return f"<{target}|{_escape_label(label)}>"
    if target.startswith("!"):
        # Broadcasts (@here, @channel, @everyone) and user groups: shown as text, never notifying.
        name = target[1:].split("^", 1)[0]
        if name in _BROADCASTS:
            return "@" + name
        shown = label or target[1:].split("^", 1)[-1]
        return _escape_label(shown if shown.startswith("@") else "@" + shown)
    return "&lt;" + _escape_label(inner) + "&gt;"


def from_slack(encoded: str) -> str:
    """Slack-encoded text -> safe mrkdwn (see the module's docstring). Idempotent."""
    out = []
    for unit in _UNIT.findall(encoded):
        if unit.startswith("<") and len(unit) > 1:
            out.append(_control(unit[1:-1]))
        elif unit == "<":
            out.append("&lt;")
        elif unit == ">":
            out.append("&gt;")
        elif unit == "&":
            out.append("&amp;")
        else:
            out.append(unit)
    return "".join(out)


def mrkdwn(text: str) -> str:
    """Stored user text (already safe mrkdwn) for a message; a no-op on safe text, a safety net otherwise."""
    return from_slack(text)


def unescape(text: str) -> str:
    """The three entities Slack's text uses (`&amp;`, `&lt;`, `&gt;`), back to what they stand for (once)."""
    return _ENTITY.sub(lambda m: _ENTITIES[m[1]], text)


def _plain_control(inner: str) -> str:
    target, bar, label = inner.partition("|")
    if bar and label:
        return label
    if target.startswith("!"):
        name = target[1:].split("^", 1)
        return "@" + (name[1] if len(name) > 1 else name[0])
    if target.lower().startswith("mailto:"):
        return target[7:]
    return target


def plain(text: str) -> str:
    """Slack-encoded text or mrkdwn -> what a reader sees: labels for links and mentions, entities decoded."""
    parts = []
    for unit in _UNIT.findall(text):
        if unit.startswith("<") and len(unit) > 1:
            parts.append(unescape(_plain_control(unit[1:-1])))
        elif unit.startswith("&") and len(unit) > 1:
            parts.append(_ENTITIES[unit[1:-1]])
        else:
            parts.append(unit)
    return "".join(parts)


def length(text: str) -> int:
    """How long mrkdwn looks to a reader (a mention or a link counts as its label)."""
    return len(plain(text))


def shorten(text: str, limit: int) -> str:
    """Cut mrkdwn to at most `limit` visible characters ending with "…", never inside a mention, link or entity."""
    if length(text) <= limit:
        return text
    out, seen = [], 0
    for unit in _UNIT.findall(text):
        size = length(unit)
        if seen + size > limit - 1:
            break
        out.append(unit)
        seen += size
    return "".join(out).rstrip() + "…"


def first_word(text: str) -> str:
    """The first word of Slack-encoded text, a `<…>` sequence kept whole: a link's label may hold spaces
    (`<https://x|the log>`), and half of one is a broken link."""
    out = []
    for unit in _UNIT.findall(text.lstrip()):
        if unit.isspace():
            break
        out.append(unit)
    return "".join(out)


def user_id(token: str) -> str | None:
    """`<@U123|name>` or `<@U123>` (or a bare U123) -> U123; None otherwise."""
    token = token.strip()
    match = _USER_MENTION.match(token)
    if match:
        return match[1]
    return token if _BARE_USER_ID.match(token) else None


def mention(user: str) -> str:
    return f"<@{user}>"


def slug(text: str, max_len: int) -> str:
    """Slack channel-name rules: lowercase, letters/digits/`-`/`_` only, no leading/trailing `-`.
    `text` is plain (see `plain()`); apostrophes vanish so "carol's" stays one word."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"['’`]", "", text)
    text = re.sub(r"[^\w-]+", "-", text, flags=re.UNICODE)
    text = re.sub(r"-{2,}", "-", text).strip("-_")
    return text[:max_len].rstrip("-_")


def truncate(text: str, limit: int) -> str:
    """Cut to `limit` characters, saying so (never cut silently); never inside a mention, link or entity."""
    if len(text) <= limit:
        return text
    out, seen = [], 0
    for unit in _UNIT.findall(text):
        if seen + len(unit) > limit - 1:
            break
        out.append(unit)
        seen += len(unit)
    return "".join(out) + "…"


BIGINT_MAX = 2**63 - 1


def whole_number(token: str, most: int = BIGINT_MAX) -> int | None:
    """An ASCII whole number from 0 to `most` (a PostgreSQL bigint by default); None for anything else:
    `²`, `١٢`, 5,000 digits and ids past bigint are not numbers a user or a button means."""
    if not token or len(token) > 19 or not token.isascii() or not token.isdigit():
        return None
    value = int(token)
    return value if value <= most else None
