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
from bot.opsconfig import Prometheus as PrometheusConfig
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
    """The first of target, p95, p99 (the burn-rate alerts read `target`, a ratio)."""
    return objective.target or objective.p95 or objective.p99


QUANTILE = {"p95": "0.95", "p99": "0.99"}
RUM = re.compile(r"\b(rum|lighthouse)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Check:
    """One target of an SLO row and the query that measures it (None: not measured)."""

    which: str  # "" for `target`, else "p95" / "p99"
    text: str | None  # the target as the config writes it
    target: Target | None
    query: str | None


def checks(objective: Objective, config: PrometheusConfig) -> list[Check]:
    """Each target of the row: `target`, p95, p99, with its query (a p95/p99 row without one: route_latency)."""
    out = []
    for which, text in (("", objective.target), ("p95", objective.p95), ("p99", objective.p99)):
        if not text:
            continue
        query = objective.query
        if query is None and which and config.route_latency:
            route = objective.route.replace("\\", "\\\\").replace('"', '\\"')  # inside the template's quotes
            query = config.route_latency.replace("$route_label", config.route_label).replace("$route", route)
        if query is not None and which:
            query = query.replace("$quantile", QUANTILE[which])
        out.append(Check(which, text, parse_target(text), query))
    return out or [Check("", None, None, None)]


def why_not_measured(objective: Objective, config: PrometheusConfig) -> str | None:
    """Why Prometheus does not measure a row (None: it does, every target of it)."""
    found = checks(objective, config)
    if any(c.query is None for c in found):
        if objective.measurement and RUM.search(objective.measurement):
            return f"measured by {objective.measurement}, not Prometheus"
        return "no query" + (" (and prometheus.route_latency is null)" if objective.p95 or objective.p99 else "")
    if any(c.target is None for c in found):
        return "its target is not a number"
    if config.url is None:
        return "no Prometheus is configured (prometheus.url)"
    return None


def unmeasured(groups: list[SloGroup], config: PrometheusConfig) -> list[tuple[str, str]]:
    """(SLO, why) for every SLO /slo and the monthly report cannot measure."""
    out = []
    for group in groups:
        for objective in group.objectives:
            if (why := why_not_measured(objective, config)) is not None:
                out.append((objective.name, why))
    return out


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
    which: str = ""  # "p95" / "p99" for a row with percentile targets, each judged on its own
    why: str = ""  # why it is not measured (Prometheus refused its query)

    @property
    def label(self) -> str:
        return f"{self.name} {self.which}" if self.which else self.name


def judge(
    objective: Objective, group: str, check: Check, value: float | None, h1: float | None, h6: float | None
) -> Measured:
    base = Measured(group, objective.name, check.text, objective.window, Status.NO_DATA, which=check.which)
    target = check.target
    if value is None or target is None:
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


def not_measured(objective: Objective, group: str, check: Check, why: str = "") -> Measured:
    return Measured(group, objective.name, check.text, None, Status.NOT_MEASURED, which=check.which, why=why)


def _plans(groups: list[SloGroup], config: PrometheusConfig) -> list[tuple[Objective, str, Check, bool]]:
    """(row, group, one of its targets, measurable) in the config's order."""
    return [
        (objective, group.group, check, check.query is not None and check.target is not None)
        for group in groups
        for objective in group.objectives
        for check in checks(objective, config)
    ]


async def now(prom: Prometheus, config: PrometheusConfig, groups: list[SloGroup], at: datetime) -> list[Measured]:
    """Every SLO target over its window, with 1 h and 6 h burn rates; a target whose query Prometheus refused is
    not measured (the others are). Raises PrometheusError (bounded by the timeout, or every query failed)."""
    plans = _plans(groups, config)
    asks: list[Ask] = [
        prom.value(with_window(check.query, window), at)
        for objective, _, check, measurable in plans
        if measurable and check.query is not None
        for window in (objective.window, HOUR, SIX_HOURS)
    ]
    answers = await query_each(prom, asks)
    out, i = [], 0
    for objective, group_name, check, measurable in plans:
        if not measurable:
            out.append(not_measured(objective, group_name, check))
            continue
        three = answers[i : i + 3]
        i += 3
        failed = next((a for a in three if isinstance(a, PrometheusError)), None)
        if failed is not None:
            out.append(not_measured(objective, group_name, check, str(failed)))
            continue
        value, h1, h6 = (a if not isinstance(a, PrometheusError) else None for a in three)
        out.append(judge(objective, group_name, check, value, h1, h6))
    return out


@dataclass(frozen=True)
class Month:
    group: str
    name: str
    target: str | None
    status: Status
    value: str = "—"
    budget_spent: float | None = None  # of the month's error budget; > 1 = overspent
    which: str = ""
    why: str = ""  # why it is not measured (Prometheus refused its query)

    @property
    def label(self) -> str:
        return f"{self.name} {self.which}" if self.which else self.name


async def month(
    prom: Prometheus, config: PrometheusConfig, groups: list[SloGroup], starts: datetime, ends: datetime
) -> list[Month]:
    """Each SLO target over [starts, ends): its value and the share of the error budget it spent (a target whose
    query Prometheus refused is not measured, the others are)."""
    plans = _plans(groups, config)
    asks: list[Ask] = [
        prom.value(with_window(check.query, ends - starts), ends)
        for _, _, check, measurable in plans
        if measurable and check.query is not None
    ]
    answers = await query_each(prom, asks)
    out, i = [], 0
    for objective, group_name, check, measurable in plans:
        name, shown_target, which, target = objective.name, check.text, check.which, check.target
        if not measurable or target is None:
            out.append(Month(group_name, name, shown_target, Status.NOT_MEASURED, which=which))
            continue
        value = answers[i]
        i += 1
        if isinstance(value, PrometheusError):
            out.append(Month(group_name, name, shown_target, Status.NOT_MEASURED, which=which, why=str(value)))
            continue
        if value is None:
            out.append(Month(group_name, name, shown_target, Status.NO_DATA, which=which))
            continue
        spent = target.bad(value) / target.allowed_bad if target.is_ratio and target.allowed_bad > 0 else None
        status = Status.OK if target.met(value) else Status.BREACHING
        out.append(Month(group_name, name, shown_target, status, show(value, target.unit), spent, which))
    return out


async def query_all(prom: Prometheus, asks: list[Ask]) -> list[float | None]:
    """All queries at once, within one timeout in total."""
    seconds = prom.timeout.total_seconds()
    try:
        async with asyncio.timeout(seconds):
            return await _gather(asks)
    except TimeoutError:
        raise PrometheusError(f"Prometheus did not answer within {seconds:g} s") from None


async def query_each(prom: Prometheus, asks: list[Ask]) -> list[float | PrometheusError | None]:
    """All queries at once, within one timeout in total, each answered on its own: a query Prometheus refuses is
    its error in the list and never sinks the others. Raises PrometheusError on the timeout, or when every query
    failed (Prometheus is down: nothing to judge)."""
    seconds = prom.timeout.total_seconds()
    try:
        async with asyncio.timeout(seconds):
            answers = await asyncio.gather(*asks, return_exceptions=True)
    except TimeoutError:
        raise PrometheusError(f"Prometheus did not answer within {seconds:g} s") from None
    out: list[float | PrometheusError | None] = []
    for answer in answers:
        if isinstance(answer, BaseException) and not isinstance(answer, PrometheusError):
            raise answer
        out.append(answer)
    failed = [a for a in out if isinstance(a, PrometheusError)]
    if failed and len(failed) == len(out):
        raise failed[0].with_traceback(None)
    return out


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
