"""What the other domains may use of the maintenance domain's data: the reads. Its records are in models.py; its
store (the SQL) is its own. A domain that needs more of it adds it here, in the maintenance domain's words."""

from __future__ import annotations

from bot.maintenance.store import get
from bot.maintenance.store import latest as latest_checklist  # the latest post of a kind (daily|weekly|monthly)

__all__ = ["get", "latest_checklist"]
