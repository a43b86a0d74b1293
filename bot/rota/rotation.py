"""The weekly rotation as pure wall-clock arithmetic in the team's zone (no I/O).

Week n starts at the handoff (day, time) of the week containing `start`, plus n weeks, computed on the
local calendar and only then made absolute, so a 10:00 handoff stays 10:00 local across daylight saving.
Week n: primary engineers[n % E], secondary engineers[(n+1) % E], manager managers[n % M].
Before week 0 the rotation has not begun: nobody is on call by rotation (overrides still apply).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.enums import Choice
from bot.opsconfig import WEEKDAYS, Oncall


class Role(Choice):
    """The roles on call, in the order they are paged and shown."""

    PRIMARY = "primary"
    SECONDARY = "secondary"
    MANAGER = "manager"


ROLES = tuple(Role.values())  # as plain strings: the keys of a week's holders and of who is on call


@dataclass(frozen=True)
class Week:
    index: int
    starts_at: datetime
    ends_at: datetime
    primary: str | None
    secondary: str | None
    manager: str | None

    def holder(self, role: str) -> str | None:
        return getattr(self, role)


class Rotation:
    def __init__(self, config: Oncall) -> None:
        self.config = config
        self.zone = ZoneInfo(config.timezone)
        weekday = WEEKDAYS.index(config.handoff.day)
        self.anchor = config.start - timedelta(days=(config.start.weekday() - weekday) % 7)

    def week_start(self, n: int) -> datetime:
        """The absolute instant week n begins. Wall-clock: the handoff time on the local calendar day."""
        day = self.anchor + timedelta(weeks=n)
        naive = datetime.combine(day, self.config.handoff.time)
        # fold=0: in the repeated hour of a fall-back, the first occurrence; a spring-forward gap
        # (a handoff inside the skipped hour) lands one hour later, as a wall clock would.
        # Returned in UTC: aware datetimes sharing one tzinfo compare by wall clock, ignoring fold.
        return naive.replace(tzinfo=self.zone).astimezone(UTC)

    def week_index(self, at: datetime) -> int:
        local_day = at.astimezone(self.zone).date()
        n = (local_day - self.anchor).days // 7
        while at < self.week_start(n):
            n -= 1
        while at >= self.week_start(n + 1):
            n += 1
        return n

    def week(self, n: int) -> Week:
        engineers, managers = self.config.engineers, self.config.managers
        started = n >= 0
        return Week(
            index=n,
            starts_at=self.week_start(n),
            ends_at=self.week_start(n + 1),
            primary=engineers[n % len(engineers)] if started and engineers else None,
            secondary=engineers[(n + 1) % len(engineers)] if started and len(engineers) > 1 else None,
            manager=managers[n % len(managers)] if started and managers else None,
        )

    def at(self, when: datetime) -> Week:
        return self.week(self.week_index(when))

    def next_handoff(self, after: datetime) -> datetime:
        """The first handoff strictly after `after`."""
        return self.week_start(self.week_index(after) + 1)

    @property
    def starts_at(self) -> datetime:
        return self.week_start(0)
