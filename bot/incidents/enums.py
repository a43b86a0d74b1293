"""The incident's states and severities, as the database's CHECK constraints have them
(migrations/0003_incidents.sql, 0006_trust.sql)."""

from __future__ import annotations

from enum import StrEnum

from bot.enums import Choice


class Severity(Choice):
    """`Severity.parse(value)`: the severity `value` names exactly ("P2"), else None (bot.enums.Choice)."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"

    @property
    def rank(self) -> int:
        """1 is the most severe."""
        return int(self.value[1:])

    def worse_than(self, other: Severity) -> bool:
        return self.rank < Severity(other).rank


class Status(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class CommandAnswer(StrEnum):
    """How a request for command ended."""

    HANDED_OVER = "handed_over"
    KEPT = "kept"
    MOOT = "moot"  # command changed hands otherwise, or the incident was resolved
