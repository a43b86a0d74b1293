"""who_is_on_call(at): the rotation with overrides applied. Incidents page with it; the handoff uses it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.rota import models, store
from bot.rota.rotation import ROLES, Rotation
from bot.services import Services

HORIZON = timedelta(weeks=27)


@dataclass(frozen=True)
class Shift:
    role: str
    user: str | None  # a Slack user id; an email only if Slack knows no user with it
    until: datetime | None
    override_id: int | None = None


@dataclass(frozen=True)
class OnCall:
    at: datetime
    primary: Shift
    secondary: Shift
    manager: Shift

    def shift(self, role: str) -> Shift:
        return getattr(self, role)

    def shifts(self) -> list[Shift]:
        return [self.primary, self.secondary, self.manager]

    def chain(self) -> list[str]:
        """Escalation order, primary -> secondary -> manager, each person once."""
        seen: list[str] = []
        for shift in self.shifts():
            if shift.user and shift.user not in seen:
                seen.append(shift.user)
        return seen

    def same_people(self, other: OnCall) -> bool:
        return [s.user for s in self.shifts()] == [s.user for s in other.shifts()]


def rotation(services: Services) -> Rotation:
    return Rotation(services.config.oncall)


async def who_is_on_call(services: Services, at: datetime, *, overrides: list[models.Override] | None = None) -> OnCall:
    rot = rotation(services)
    week = rot.at(at)
    if overrides is None:
        overrides = await store.overlapping(services.db, at, at + HORIZON)
    shifts = {}
    for role in ROLES:
        mine = sorted((o for o in overrides if o.role == role and o.cancelled_at is None), key=lambda o: o.starts_at)
        # Overrides of a role never overlap, except urgent cover laid over the one running (bot/oncall/cover.py):
        # the latest to start wins while it runs.
        active = max((o for o in mine if o.active_at(at)), key=lambda o: (o.starts_at, o.id), default=None)
        if active is not None:
            shifts[role] = Shift(role, active.user_id, active.ends_at, active.id)
            continue
        member = week.holder(role)
        user = (await services.users.resolve(member) or member) if member else None
        until = week.ends_at if week.index >= 0 else rot.starts_at
        upcoming = next((o.starts_at for o in mine if o.starts_at > at), None)
        if upcoming is not None and upcoming < until:
            until = upcoming
        shifts[role] = Shift(role, user, until)
    return OnCall(at, shifts["primary"], shifts["secondary"], shifts["manager"])


def resumed(on_call: OnCall, roles: list[str], acknowledger: str | None) -> list[str]:
    """The roles an escalation resumed after an acknowledgement ran out pages, in order: those after the role the
    acknowledger holds (they were reminded in the thread already), never a role the acknowledger holds."""
    held = [ROLES.index(r) for r in ROLES if acknowledger and on_call.shift(r).user == acknowledger]
    first = min(held, default=-1)
    return [r for r in roles if ROLES.index(r) > first and on_call.shift(r).user != acknowledger]


async def managers(services: Services) -> set[str]:
    """Everyone who counts as a manager for permissions: the rotation's managers and incident managers."""
    found = set(services.config.permissions.incident_managers)
    for member in services.config.oncall.managers:
        uid = await services.users.resolve(member)
        if uid:
            found.add(uid)
    return found
