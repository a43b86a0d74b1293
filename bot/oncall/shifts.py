"""Who held each role when, over a span of time: the rotation's weeks with the accepted overrides cut out of them
and put in as shifts of their own (pure: no I/O). The calendar feed and the on-call report both read it.

Each shift has a key that stays the same while the shift changes shape, so a calendar that subscribed to the feed
updates the event instead of adding another:
- an override: `override-<id>` (cancelling it removes the event; a new override is a new event). Urgent cover laid
  over a running override wins while it runs, as in bot/rota/lookup.py (the later start wins), so it cuts that
  override into pieces like a week: `override-<id>` for piece 0, `override-<id>-<k>` for the later pieces;
- the rotation's week n of a role, cut by overrides into pieces: `rota-<n>-<role>-<k>`, k counting the pieces of
  that week from 0. An override laid over the start of a week moves piece 0 (same key, new start); one laid over
  its middle shortens piece 0 and adds piece 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.rota.models import Override
from bot.rota.rotation import ROLES, Rotation

TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Shift:
    key: str
    role: str
    member: str | None  # a rotation member (user id or email) or an override's user; None: nobody
    starts_at: datetime
    ends_at: datetime
    week: int  # the rotation week it falls in (an override: the week of its start)
    override_id: int | None = None

    @property
    def hours(self) -> float:
        return (self.ends_at.astimezone(UTC) - self.starts_at.astimezone(UTC)).total_seconds() / 3600  # not wall time

    def clipped(self, starts: datetime, ends: datetime) -> Shift | None:
        """The part of the shift inside [starts, ends), same key; None when it has none."""
        a, b = max(self.starts_at, starts), min(self.ends_at, ends)
        if a >= b:
            return None
        return Shift(self.key, self.role, self.member, a, b, self.week, self.override_id)


def _pieces(starts: datetime, ends: datetime, cuts: list[Override]) -> list[tuple[datetime, datetime]]:
    """[starts, ends) minus the overrides' spans, in order."""
    pieces: list[tuple[datetime, datetime]] = []
    at = starts
    for o in sorted(cuts, key=lambda o: o.starts_at):
        if o.starts_at > at:
            pieces.append((at, min(o.starts_at, ends)))
        at = max(at, o.ends_at)
        if at >= ends:
            break
    if at < ends:
        pieces.append((at, ends))
    return pieces


def _override_pieces(rot: Rotation, o: Override, mine: list[Override]) -> list[Shift]:
    """An override minus the later-starting overrides of its role laid over it (they win while they run)."""
    later = [
        c
        for c in mine
        if (c.starts_at, c.id) > (o.starts_at, o.id) and c.starts_at < o.ends_at and c.ends_at > o.starts_at
    ]
    found = []
    for k, (a, b) in enumerate(_pieces(o.starts_at, o.ends_at, later)):
        key = f"override-{o.id}" if k == 0 else f"override-{o.id}-{k}"
        found.append(Shift(key, o.role, o.user_id, a, b, rot.week_index(a), o.id))
    return found


def shifts(rot: Rotation, overrides: list[Override], starts: datetime, ends: datetime) -> list[Shift]:
    """Every shift of every role touching [starts, ends), whole (not clipped), in start order. Weeks before the
    rotation begins are shifts with nobody in them (overrides still apply)."""
    live = [o for o in overrides if o.status == "accepted" and o.cancelled_at is None]
    found: list[Shift] = []
    for role in ROLES:
        mine = [o for o in live if o.role == role]
        for n in range(rot.week_index(starts), rot.week_index(ends - TICK) + 1):
            week = rot.week(n)
            cuts = [o for o in mine if o.starts_at < week.ends_at and o.ends_at > week.starts_at]
            for k, (a, b) in enumerate(_pieces(week.starts_at, week.ends_at, cuts)):
                found.append(Shift(f"rota-{n}-{role}-{k}", role, week.holder(role), a, b, n))
        for o in mine:
            if o.starts_at < ends and o.ends_at > starts:
                found.extend(_override_pieces(rot, o, mine))
    return sorted(
        (s for s in found if s.starts_at < ends and s.ends_at > starts),
        key=lambda s: (s.starts_at, ROLES.index(s.role), s.key),
    )
