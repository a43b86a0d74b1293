"""What the other domains may use of the deploys domain's data: the reads. Its records are in models.py; its
store (the SQL) is its own. A domain that needs more of it adds it here, in the deploys domain's words."""

from __future__ import annotations

from bot.deploys.messages import pin_line
from bot.deploys.store import (
    active,
    checks,
    finished_between,
    get,
    open_watches,
    outcomes_between,
    pin,
    pinned,
    tick,
    watching,
)

__all__ = [
    "active",
    "checks",
    "finished_between",
    "get",
    "open_watches",
    "outcomes_between",
    "pin",
    "pin_line",
    "pinned",
    "tick",
    "watching",
]
