"""The maintenance domain's records: what its store returns and the other domains may import (never its store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Post:
    id: int
    kind: str
    due_at: datetime
    items: list[str]
    posted_at: datetime
    deadline_at: datetime
    late: bool
    posted_by: str | None
    channel: str | None
    ts: str | None
    completed_at: datetime | None
    nudged_at: datetime | None


@dataclass(frozen=True)
class Item:
    item: int
    assignee: str | None
    done_by: str | None
    done_at: datetime | None
    note: str | None = None  # what the bot checked when it ticked the item itself (done_by BY_THE_BOT)


BY_THE_BOT = "bot"  # done_by of an item the bot ticked itself, with a note (e.g. the backups' last runs)
