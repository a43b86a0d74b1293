"""The 90-day uptime bars, from incident history: which components each published incident affected, and for how
long (declared until resolved, or until now). Pure arithmetic, no I/O.

A day's colour is the worst impact of any incident that touched it. Uptime counts outages only (major and partial,
P1 and P2); a degradation (P3, P4) shows on the bar but is not downtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.status.ids import Impact
from bot.status.models import Published

DAYS = 90
IMPACT_OF_SEVERITY = {"P1": Impact.MAJOR, "P2": Impact.PARTIAL, "P3": Impact.DEGRADED, "P4": Impact.DEGRADED}
LABEL = {
    Impact.OPERATIONAL: "Operational",
    Impact.DEGRADED: "Degraded performance",
    Impact.PARTIAL: "Partial outage",
    Impact.MAJOR: "Major outage",
}
OUTAGES = (Impact.MAJOR, Impact.PARTIAL)


def impact(incident: Published) -> Impact:
    return IMPACT_OF_SEVERITY.get(incident.severity, Impact.DEGRADED)


def worst(impacts: list[Impact]) -> Impact:
    return max(impacts, key=lambda i: i.rank, default=Impact.OPERATIONAL)


@dataclass(frozen=True)
class Day:
    day: date
    impact: Impact
    down: timedelta  # outage time that day
    titles: tuple[str, ...]  # the public titles of the incidents that touched it


@dataclass(frozen=True)
class Bar:
    days: list[Day]
    uptime: float  # percent over the whole window, up to now

    @property
    def incident_days(self) -> int:
        return sum(1 for d in self.days if d.impact != Impact.OPERATIONAL)


def window_start(now: datetime, zone: ZoneInfo) -> datetime:
    first = now.astimezone(zone).date() - timedelta(days=DAYS - 1)
    return datetime.combine(first, time(0), tzinfo=zone)


def _span(incident: Published, now: datetime) -> tuple[datetime, datetime]:
    return incident.declared_at, min(incident.resolved_at or now, now)


def _union(spans: list[tuple[datetime, datetime]]) -> timedelta:
    total, end = timedelta(0), None
    for start, stop in sorted(spans):
        if end is not None and start < end:
            start = end
        if stop > start:
            total += stop - start
            end = stop if end is None else max(end, stop)
    return total


def bar(component: str, incidents: list[Published], now: datetime, zone: ZoneInfo) -> Bar:
    mine = [i for i in incidents if component in i.components]
    today = now.astimezone(zone).date()
    days: list[Day] = []
    down_total = timedelta(0)
    for offset in range(DAYS - 1, -1, -1):
        day = today - timedelta(days=offset)
        # Midnight to midnight on the local calendar (23 or 25 hours on a daylight-saving day).
        starts = datetime.combine(day, time(0), tzinfo=zone)
        ends = min(datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone), now)
        touching, outage = [], []
        for incident in mine:
            start, stop = _span(incident, now)
            lo, hi = max(start, starts), min(stop, ends)
            if lo < hi or (start == stop and starts <= start < ends):
                touching.append(incident)
                if impact(incident) in OUTAGES and lo < hi:
                    outage.append((lo, hi))
        down = _union(outage)
        down_total += down
        days.append(
            Day(
                day,
                worst([impact(i) for i in touching]),
                down,
                tuple(dict.fromkeys(i.public_title for i in touching)),
            )
        )
    window = now - window_start(now, zone)
    uptime = 100.0 * (1 - down_total / window) if window > timedelta(0) else 100.0
    return Bar(days, max(0.0, uptime))


def component_status(component: str, incidents: list[Published]) -> Impact:
    """Now: the worst impact among the incidents affecting it that are not resolved publicly."""
    return worst([impact(i) for i in incidents if component in i.components and not i.is_resolved])
