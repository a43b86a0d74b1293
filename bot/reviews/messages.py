"""Block Kit for a review: the period's figures in the checklist's thread (no I/O)."""

from __future__ import annotations

from datetime import timedelta, tzinfo

from bot.alerts.models import RuleCount
from bot.deploys.models import Outcomes
from bot.reviews.models import Review, Severity, Trend
from bot.slack.blocks import Blocks, context, section
from bot.slack.text import escape, shorten

MOST_RULES = 10  # the noisiest rules shown; the rest summed up


def review(r: Review, tz: tzinfo) -> tuple[str, Blocks]:
    """The review's message; its dates are the team's calendar days (`tz`)."""
    p = r.period
    dates = f"{p.starts.astimezone(tz):%Y-%m-%d} – {(p.ends - timedelta(seconds=1)).astimezone(tz):%Y-%m-%d}"
    alerts = sum(a.alerts for a in r.alerts)
    declared = sum(s.declared for s in r.incidents)
    shipped = sum(o.deploys for o in r.deploys)
    summary = f"{alerts} alert(s), {declared} incident(s), {shipped} deploy(s)"
    blocks: Blocks = [
        section(f":bar_chart: *{p.kind.capitalize()} review* · {dates} ({tz}) · {summary}"),
        section(shorten(_alerts(r.alerts), 2900)),
        section(_incidents(r.incidents)),
        section(_deploys(r.deploys)),
        section(_trends(r.trends, r.not_measured, p.noun)),
        context(shorten(_served(r.items, r.daily_items), 2900)),
    ]
    return f"{p.kind.capitalize()} review {dates}: {summary}", blocks


def _served(items: list[str], daily: list[str]) -> str:
    text = "For the checklist's " + ", ".join(f"_{escape(i)}_" for i in items)
    return text + (" and the week's daily " + ", ".join(f"_{escape(i)}_" for i in daily) if daily else "")


def _alerts(rules: list[RuleCount]) -> str:
    if not rules:
        return "*Alerts* · none"
    flapping = sum(a.flapping for a in rules)
    head = f"*Alerts* · {sum(a.alerts for a in rules)}" + (f" ({flapping} flapping)" if flapping else "")
    lines = [
        f"• {escape(a.rule)}: {a.alerts}" + (f" ({a.flapping} flapping)" if a.flapping else "")
        for a in rules[:MOST_RULES]
    ]
    rest = rules[MOST_RULES:]
    if rest:
        lines.append(f"• and {sum(a.alerts for a in rest)} more from {len(rest)} other rule(s)")
    return "\n".join([head, *lines])


def _incidents(severities: list[Severity]) -> str:
    if not severities:
        return "*Incidents* · none"
    lines = [f"*Incidents* · {sum(s.declared for s in severities)}"]
    for s in severities:
        line = f"• {s.severity}: {s.declared}"
        if s.still_open:
            line += f" ({s.still_open} still open)"
        line += " · to acknowledge " + _spread(s.to_acknowledge) + " · to resolve " + _spread(s.to_resolve)
        lines.append(line)
    return "\n".join(lines)


def _spread(times: list[timedelta]) -> str:
    if not times:
        return "—"
    return f"median {span(median(times))}, max {span(max(times))}"


def median(times: list[timedelta]) -> timedelta:
    ordered, middle = sorted(times), len(times) // 2
    return ordered[middle] if len(times) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def span(value: timedelta) -> str:
    """4m, 1h 10m, 2d 3h, 45s."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m" if minutes else f"{secs}s"


def _deploys(outcomes: list[Outcomes]) -> str:
    if not outcomes:
        return "*Deploys* · none"
    lines = ["*Deploys*"]
    for o in outcomes:
        parts = [f"{o.deploys} deploy(s)", f"{o.rollbacks} rollback(s)"] + ([f"{o.failed} failed"] if o.failed else [])
        lines.append(f"• {escape(o.environment)}: " + ", ".join(parts))
    return "\n".join(lines)


def _trends(trends: list[Trend], not_measured: str | None, noun: str) -> str:
    if not_measured is not None:
        return f"*Trend* · not measured: {escape(not_measured)}"
    lines = [f"*Trend* (against the previous {noun})"]
    for t in trends:
        now, before = show(t.value, t.unit), show(t.previous, t.unit)
        lines.append(f"• {t.name} {now} (prev {before}{_direction(now, before, t)})")
    return "\n".join(lines)


def _direction(now: str, before: str, t: Trend) -> str:
    if t.value is None or t.previous is None:
        return ""
    if now == before:
        return ", same"
    return ", down" if t.value < t.previous else ", up"


def show(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "%":
        return f"{value * 100:.2f}%"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"
