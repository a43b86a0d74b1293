"""Block Kit for the SLOs: the config's tables, live values from Prometheus, the monthly report (no I/O)."""

from __future__ import annotations

from datetime import datetime

from bot.opsconfig import SloGroup
from bot.prom import duration
from bot.slack.blocks import Blocks, context, pieces, section
from bot.slack.text import escape, shorten
from bot.slo.measure import Measured, Month, Status, show

ICON = {
    Status.OK: ":large_green_circle:",
    Status.AT_RISK: ":large_yellow_circle:",
    Status.BREACHING: ":red_circle:",
    Status.NO_DATA: ":white_circle:",
    Status.NOT_MEASURED: ":heavy_minus_sign:",
}


def objective_line(name: str, target: str | None, p95: str | None, p99: str | None, measurement: str | None) -> str:
    targets = [t for t in (target, f"p95 {p95}" if p95 else None, f"p99 {p99}" if p99 else None) if t]
    line = f"• {escape(name)}: *{escape(' · '.join(targets))}*"
    return line + (f" _({escape(measurement)})_" if measurement else "")


def tables(groups: list[SloGroup], note: str) -> Blocks:
    """The targets alone, when nothing can be measured."""
    blocks: Blocks = []
    for group in groups:
        lines = [objective_line(o.name, o.target, o.p95, o.p99, o.measurement) for o in group.objectives]
        blocks.append(section(f"*{escape(group.group)}*\n" + "\n".join(lines)))
    blocks.append(context(note))
    return blocks


def _burn(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}×"


def _budget(left: float | None) -> str:
    if left is None:
        return ""
    if left < 0:
        return f" · budget *overspent* ({show(-left, '%')} over)"
    return f" · budget left {show(left, '%')}"


def live_line(m: Measured) -> str:
    what = f"{ICON[m.status]} {escape(m.label)}"
    target = f" (target {escape(m.target)})" if m.target else ""
    if m.status in (Status.NOT_MEASURED, Status.NO_DATA):
        return f"{what}{target}: _{m.status}_" + (f" ({shorten(escape(m.why), 200)})" if m.why else "")
    line = f"{what}: *{m.value}* over {duration(m.window)}{target} · {m.status}" if m.window else what
    line += _budget(m.budget_left)
    if m.burn_1h is not None or m.burn_6h is not None:
        line += f" · burn 1h {_burn(m.burn_1h)} / 6h {_burn(m.burn_6h)}"
    return line


def _names(rows: list[Measured] | list[Month], status: Status) -> set[tuple[str, str]]:
    return {(m.group, m.name) for m in rows if m.status == status}


def _grouped(rows: list, line) -> list[str]:
    texts, current = [], None
    for row in rows:
        if row.group != current:
            current = row.group
            texts.append(f"*{escape(current)}*")
        texts.append(line(row))
    return texts


def live(rows: list[Measured], at: datetime) -> tuple[str, Blocks]:
    # A row with p95 and p99 breaches when either does; it counts once.
    breaching = _names(rows, Status.BREACHING)
    at_risk = _names(rows, Status.AT_RISK) - breaching
    summary = (
        f"{len(breaching)} SLO(s) breaching, {len(at_risk)} at risk"
        if breaching or at_risk
        else "All measured SLOs are within target"
    )
    blocks: Blocks = [section(f"*Service level objectives* · {summary}")]
    blocks += [section(p) for p in pieces("\n".join(_grouped(rows, live_line)))]
    blocks.append(
        context(
            f"From Prometheus at {at:%Y-%m-%d %H:%M} UTC. Burn rate 1× spends the budget exactly over the window; "
            f"at risk: under 25% budget left, or burning over 14.4× (1 h) or 6× (6 h)."
        )
    )
    return f"SLOs: {summary}", blocks[:50]


def unavailable(groups: list[SloGroup], reason: str) -> tuple[str, Blocks]:
    text = f"Live SLO values are unavailable: {reason}. The targets:"
    return text, [section(f":warning: {escape(text)}"), *tables(groups, "Try again in a minute.")][:50]


def month_line(m: Month) -> str:
    what = f"{ICON[m.status]} {escape(m.label)}"
    target = f" (target {escape(m.target)})" if m.target else ""
    if m.status in (Status.NOT_MEASURED, Status.NO_DATA):
        return f"{what}{target}: _{m.status}_" + (f" ({shorten(escape(m.why), 200)})" if m.why else "")
    spent = "" if m.budget_spent is None else f" · error budget spent {show(m.budget_spent, '%')}"
    return f"{what}: *{m.value}*{target} · {m.status}{spent}"


def report(rows: list[Month], label: str, partial: bool) -> tuple[str, Blocks]:
    missed = _names(rows, Status.BREACHING)
    summary = f"{len(missed)} SLO(s) missed" if missed else "every measured SLO met"
    title = f"*SLO report {label}*" + (" (month to date)" if partial else "") + f" · {summary}"
    blocks: Blocks = [section(title)]
    blocks += [section(p) for p in pieces("\n".join(_grouped(rows, month_line)))]
    blocks.append(context("Values over the whole month from Prometheus; budget spent is of the month's error budget."))
    return f"SLO report {label}: {summary}", blocks[:50]
