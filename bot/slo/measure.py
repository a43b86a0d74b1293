"""The manual's targets as numbers, and what Prometheus says about them (values, error budgets, burn rates)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.opsconfig import Objective, SloGroup
from bot.prom import Prometheus, PrometheusError, with_window

_TARGET = re.compile(r"^\s*(<=|>=|<|>|=|≤|≥)?\s*(\d+(?:\.\d+)?)\s*(%|ms|s)?\s*$")
HOUR, SIX_HOURS = timedelta(hours=1), timedelta(hours=6)
# The SRE workbook's paging thresholds: 2% of a 30-day budget in 1 h, 5% in 6 h.
FAST_BURN, SLOW_BURN = 14.4, 6.0
AT_RISK_BUDGET = 0.25
Ask = Coroutine[Any, Any, float | None]  # one Prometheus query, not yet awaited


class Status(StrEnum):
    OK = "ok"
    AT_RISK = "at risk"
    BREACHING = "breaching"
    NO_DATA = "no data"
    NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Target:
    at_most: bool  # "<= x" (bad things, latencies) or ">= x" (success, uptime)
    value: float  # a ratio for %, seconds for ms/s
    unit: str  # "%", "s" or ""

    @property
    def is_ratio(self) -> bool:
        return self.unit == "%"

    @property
    def allowed_bad(self) -> float:
        """The error budget as a ratio of events (ratio targets only)."""
        return self.value if self.at_most else 1 - self.value

    def bad(self, value: float) -> float:
        return value if self.at_most else 1 - value

    def met(self, value: float) -> bool:
        return value <= self.value if self.at_most else value >= self.value


def parse_target(text: str | None) -> Target | None:
    """'<= 0.3%', '>= 97%', '99.9%', '<= 600ms', '<= 60s', '<= 0.1'; None when it is not a number."""
    match = _TARGET.match(text or "")
    if not match:
        return None
    op, number, unit = match.group(1) or "", float(match.group(2)), match.group(3) or ""
    if unit == "%":
        value = number / 100
    elif unit == "ms":
        value, unit = number / 1000, "s"
    else:
        value = number
    at_most = op in ("<=", "<", "≤", "=") or (not op and not (unit == "%" and number >= 50))
    return Target(at_most=at_most, value=value, unit=unit)


def objective_target(objective: Objective) -> str | None:
    """The target a query is compared with: the first of target, p95, p99."""
    return objective.target or objective.p95 or objective.p99


def show(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{value * 100:.3f}".rstrip("0").rstrip(".") + "%"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f}".rstrip("0").rstrip(".") + " s"
    return f"{value:.3f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Measured:
    group: str
    name: str
    target: str | None
    window: timedelta | None
    status: Status
    value: str = "—"
    budget_left: float | None = None  # 1.0 = untouched, 0 = spent, < 0 = overspent
    burn_1h: float | None = None
    burn_6h: float | None = None


def judge(
    objective: Objective, group: str, target: Target, value: float | None, h1: float | None, h6: float | None
) -> Measured:
    base = Measured(group, objective.name, objective_target(objective), objective.window, Status.NO_DATA)
    if value is None:
        return base
    shown = show(value, target.unit)
    if not target.is_ratio:
        recent_bad = h1 is not None and not target.met(h1)
        status = Status.BREACHING if not target.met(value) else Status.AT_RISK if recent_bad else Status.OK
        return replace(base, status=status, value=shown)
    allowed = target.allowed_bad
    if allowed <= 0:  # a 0% target has no budget: any bad event breaches it
        return replace(base, status=Status.OK if target.met(value) else Status.BREACHING, value=shown)
    left = 1 - target.bad(value) / allowed
    burn_1h = None if h1 is None else target.bad(h1) / allowed
    burn_6h = None if h6 is None else target.bad(h6) / allowed
    if left < 0:
        status = Status.BREACHING
    elif left < AT_RISK_BUDGET or (burn_1h or 0) > FAST_BURN or (burn_6h or 0) > SLOW_BURN:
        status = Status.AT_RISK
    else:
        status = Status.OK
    return replace(base, status=status, value=shown, budget_left=left, burn_1h=burn_1h, burn_6h=burn_6h)


def not_measured(objective: Objective, group: str) -> Measured:
    return Measured(group, objective.name, objective_target(objective), None, Status.NOT_MEASURED)


async def now(prom: Prometheus, groups: list[SloGroup], at: datetime) -> list[Measured]:
    """Every SLO over its window, with 1 h and 6 h burn rates. Raises PrometheusError (bounded by the timeout)."""
    plans: list[tuple[Objective, str, Target | None]] = []
    asks: list[Ask] = []
    for group in groups:
        for objective in group.objectives:
            target = parse_target(objective_target(objective))
            if objective.query is None or target is None:
                plans.append((objective, group.group, None))
                continue
            plans.append((objective, group.group, target))
            for window in (objective.window, HOUR, SIX_HOURS):
                asks.append(prom.value(with_window(objective.query, window), at))
    values = await query_all(prom, asks)
    out, i = [], 0
    for objective, group_name, target in plans:
        if target is None:
            out.append(not_measured(objective, group_name))
            continue
        out.append(judge(objective, group_name, target, *values[i : i + 3]))
        i += 3
    return out


@dataclass(frozen=True)
class Month:
    group: str
    name: str
    target: str | None
    status: Status
    value: str = "—"
    budget_spent: float | None = None  # of the month's error budget; > 1 = overspent


async def month(prom: Prometheus, groups: list[SloGroup], starts: datetime, ends: datetime) -> list[Month]:
    """Each SLO over [starts, ends): its value and the share of the error budget it spent."""
    plans: list[tuple[Objective, str, Target | None]] = []
    asks: list[Ask] = []
    for group in groups:
        for objective in group.objectives:
            target = parse_target(objective_target(objective))
            plans.append((objective, group.group, target if objective.query else None))
            if objective.query and target:
                asks.append(prom.value(with_window(objective.query, ends - starts), ends))
    values = await query_all(prom, asks)
    out, i = [], 0
    for objective, group_name, target in plans:
        name, shown_target = objective.name, objective_target(objective)
        if target is None:
            out.append(Month(group_name, name, shown_target, Status.NOT_MEASURED))
            continue
        value = values[i]
        i += 1
        if value is None:
            out.append(Month(group_name, name, shown_target, Status.NO_DATA))
            continue
        spent = target.bad(value) / target.allowed_bad if target.is_ratio and target.allowed_bad > 0 else None
        status = Status.OK if target.met(value) else Status.BREACHING
        out.append(Month(group_name, name, shown_target, status, show(value, target.unit), spent))
    return out


async def query_all(prom: Prometheus, asks: list[Ask]) -> list[float | None]:
    """All queries at once, within one timeout in total."""
    seconds = prom.timeout.total_seconds()
    try:
        async with asyncio.timeout(seconds):
            return await _gather(asks)
    except TimeoutError:
        raise PrometheusError(f"Prometheus did not answer within {seconds:g} s") from None


async def _gather(asks: list[Ask]) -> list[float | None]:
    """Like gather, but the first failure cancels the rest (no query is left running unattended)."""
    failure: PrometheusError | None = None
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(ask) for ask in asks]
    except* PrometheusError as failed:
        # Raised here it would leave wrapped in a new ExceptionGroup; raised after, it is the plain error.
        failure = _first(failed.exceptions[0])
    if failure is not None:
        raise failure.with_traceback(None) from None
    return [task.result() for task in tasks]


def _first(error: PrometheusError | ExceptionGroup[PrometheusError]) -> PrometheusError:
    """The first plain error of what a task group raised (its groups nest only if a task ran a group itself)."""
    return _first(error.exceptions[0]) if isinstance(error, ExceptionGroup) else error
