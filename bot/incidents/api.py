"""What the other domains may use of the incidents domain's data: the timeline note others add (an alert
linked, a PagerDuty ack, a runbook run, a status update) and the reads. Its records are in models.py; its
store (the SQL) is its own. A domain that needs more of it adds it here, in the incidents domain's words."""

from __future__ import annotations

from bot.incidents.paging import wait_for_channel
from bot.incidents.store import (
    add_event,
    by_channel,
    declared_between,
    get,
    open_during,
    open_incidents,
    pages_delivered,
    tick,
)

__all__ = [
    "add_event",
    "by_channel",
    "declared_between",
    "get",
    "open_during",
    "open_incidents",
    "pages_delivered",
    "tick",
    "wait_for_channel",
]
