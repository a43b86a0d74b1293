"""The status domain's records: what its store returns and the other domains may import (never its store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.status.ids import Public


@dataclass(frozen=True)
class Published:
    """An incident as the status page shows it (with what the page needs from the incident itself)."""

    incident_id: int
    number: int
    severity: str
    public_id: str  # the page's own name for it (0025_public_ids.sql): the internal id and number stay internal
    public_title: str
    status: str
    components: list[str]
    published_at: datetime
    updated_at: datetime
    resolved_at: datetime | None  # public resolution, else the incident's own, else still going
    declared_at: datetime

    @property
    def is_resolved(self) -> bool:
        return self.status == Public.RESOLVED


@dataclass(frozen=True)
class Draft:
    """A public update to publish. `key` makes publishing it twice a no-op; the title and components are the
    public record's, set by the first update only."""

    key: str
    status: str
    body: str  # Slack-encoded
    title: str | None = None
    components: list[str] | None = None


@dataclass(frozen=True)
class Update:
    id: int
    incident_id: int
    at: datetime
    status: str
    body: str  # Slack-encoded
    author: str
