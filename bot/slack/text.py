"""Text in and out of Slack: escaping user text, parsing mentions, channel-name slugs."""

from __future__ import annotations

import re
import unicodedata

_USER_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_BARE_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def escape(text: str) -> str:
    """Escape user text for mrkdwn: no <!channel>, <@U…> or links can be smuggled in."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
    """Slack channel-name rules: lowercase, letters/digits/`-`/`_` only, no leading/trailing `-`."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w-]+", "-", text, flags=re.UNICODE)
    text = re.sub(r"-{2,}", "-", text).strip("-_")
    return text[:max_len].rstrip("-_")


def truncate(text: str, limit: int) -> str:
    """Cut to `limit` characters, saying so (never cut silently)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
