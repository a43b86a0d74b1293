"""What the other domains may use of the maintenance domain's data: the reads, and ticking an item as the bot
with a note of what it checked. Its records are in models.py; its store (the SQL) is its own. A domain that
needs more of it adds it here, in the maintenance domain's words."""

from __future__ import annotations

from bot.maintenance.flows import tick_by_the_bot
from bot.maintenance.models import BY_THE_BOT
from bot.maintenance.store import get, items
from bot.maintenance.store import latest as latest_checklist  # the latest post of a kind (daily|weekly|monthly)

__all__ = ["BY_THE_BOT", "get", "items", "latest_checklist", "tick_by_the_bot"]
