"""The reviews domain's records: a period's figures, as the flows gather them and the messages word them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.alerts.models import RuleCount
from bot.deploys.models import Outcomes


@dataclass(frozen=True)
class Period:
    kind: str  # weekly | monthly
    starts: datetime
    ends: datetime  # [starts, ends)
    previous_starts: datetime  # the period before: [previous_starts, starts)

    @property
    def noun(self) -> str:
        return "week" if self.kind == "weekly" else "month"


@dataclass(frozen=True)
class Severity:
    """The incidents of one severity declared in the period."""

    severity: str
    declared: int
    still_open: int
    to_acknowledge: list[timedelta]  # of those acknowledged
    to_resolve: list[timedelta]  # of those resolved


@dataclass(frozen=True)
class Trend:
    name: str  # "error rate", "p95"
    unit: str  # "%" or "s"
    value: float | None
    previous: float | None


@dataclass(frozen=True)
class Review:
    period: Period
    items: list[str]  # the checklist's items these figures serve
    daily_items: list[str]  # the week's daily reviews they serve too (a weekly review)
    alerts: list[RuleCount]
    incidents: list[Severity]
    deploys: list[Outcomes]
    trends: list[Trend]
    not_measured: str | None  # why there is no trend (no Prometheus, or it failed)
