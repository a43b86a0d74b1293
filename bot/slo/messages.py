"""Block Kit for the SLO tables, from the ops config (no I/O)."""

from __future__ import annotations

from bot.opsconfig import SloGroup
from bot.slack.blocks import Blocks, context, section
from bot.slack.text import escape


def objective_line(name: str, target: str | None, p95: str | None, p99: str | None, measurement: str | None) -> str:
    targets = [t for t in (target, f"p95 {p95}" if p95 else None, f"p99 {p99}" if p99 else None) if t]
    line = f"• {escape(name)}: *{escape(' · '.join(targets))}*"
    return line + (f" _({escape(measurement)})_" if measurement else "")


def tables(groups: list[SloGroup]) -> Blocks:
    blocks: Blocks = []
    for group in groups:
        lines = [objective_line(o.name, o.target, o.p95, o.p99, o.measurement) for o in group.objectives]
        blocks.append(section(f"*{escape(group.group)}*\n" + "\n".join(lines)))
    blocks.append(
        context(
            "What is breaching now comes from the alert webhooks (Alertmanager, Grafana); this "
            "version of the bot does not receive them yet, so no breach is shown."
        )
    )
    return blocks
