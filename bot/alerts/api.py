"""What the other domains may use of the alerts domain's data: the reads. Its records are in models.py; its
store (the SQL) is its own. A domain that needs more of it adds it here, in the alerts domain's words."""

from __future__ import annotations

from bot.alerts.store import by_rule_between, get

__all__ = ["by_rule_between", "get"]
