"""The words and blocks of alert messages (pure: values in, Block Kit out). Webhook text is raw: escaped once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.alerts.ids import Action
from bot.alerts.store import Alert, Digest
from bot.opsconfig import Runbook
from bot.slack.blocks import Blocks, button, clock_time, confirm_dialog, context, section, when
from bot.slack.text import escape, mention, truncate

ICON = {"P1": ":red_circle:", "P2": ":large_orange_circle:", "P3": ":large_yellow_circle:", "P4": ":white_circle:"}
DIGEST_LINES = 30
SHOWN_LABELS = 8


def duration(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


@dataclass(frozen=True)
class DeployNote:
    ref: str
    version: str
    who: str
    minutes_after: int


@dataclass(frozen=True)
class Context:
    """What an alert's message shows besides the alert itself."""

    now: datetime
    zone: ZoneInfo
    runbooks: tuple[Runbook, ...] = ()
    deploy: DeployNote | None = None
    incident_ref: str | None = None
    can_silence: bool = False
    flap_count: int = 0
    flap_window: timedelta = timedelta(hours=1)


def _labels(alert: Alert) -> str:
    shown = [(k, v) for k, v in sorted(alert.labels.items()) if k != "alertname"][:SHOWN_LABELS]
    return " ".join(f"`{escape(k)}={escape(truncate(v, 60))}`" for k, v in shown)


def headline(alert: Alert) -> str:
    return f"{alert.priority} {alert.alertname}: {alert.summary}"


def alert_message(alert: Alert, ctx: Context) -> tuple[str, Blocks]:
    firing = alert.firing
    icon = ICON.get(alert.priority, ":bell:") if firing else ":white_check_mark:"
    state = (
        f"Firing since {clock_time(alert.starts_at, ctx.zone)} ({duration(ctx.now - alert.starts_at)})"
        if firing
        else f"*Resolved* after {duration((alert.ends_at or ctx.now) - alert.starts_at)}"
    )
    title = f"{icon} *{alert.priority} · {escape(alert.alertname)}*"
    if alert.summary != alert.alertname:
        title += f" — {escape(truncate(alert.summary, 300))}"
    rule = f" · {escape(alert.rule)}" if alert.rule else ""
    lines = [title, f"{state} · respond within {duration(alert.response_time)}{rule}"]
    description = alert.annotations.get("description")
    if description:
        lines.append(escape(truncate(description, 1500)))
    if alert.values_text:
        lines.append(f"Values: `{escape(truncate(alert.values_text, 300))}`")
    labels = _labels(alert)
    if labels:
        lines.append(labels)
    blocks: Blocks = [section("\n".join(lines))]
    notes: list[str] = []
    if firing and alert.priority in ("P1", "P2") and alert.primary_user and not alert.acknowledged_at:
        notes.append(f":pager: {mention(alert.primary_user)} (on-call primary)")
    if ctx.deploy:
        d = ctx.deploy
        notes.append(
            f":rocket: Started {d.minutes_after} min after {escape(d.ref)} (`{escape(d.version)}`, by {mention(d.who)})"
        )
    if alert.flapping:
        notes.append(f":repeat: *Flapping*: {ctx.flap_count} episodes within {duration(ctx.flap_window)}")
    elif alert.episode > 1:
        notes.append(f":leftwards_arrow_with_hook: Episode {alert.episode} of this alert")
    if alert.acknowledged_at:
        notes.append(
            f":eyes: Acknowledged by {mention(alert.acknowledged_by or '?')} after "
            f"{duration(alert.acknowledged_at - alert.starts_at)}"
        )
    if alert.silence_id and alert.silenced_until:
        if firing and alert.silenced_until > ctx.now:
            notes.append(
                f":mute: Silenced until {when(alert.silenced_until, ctx.zone)} by {mention(alert.silenced_by or '?')}"
            )
    if ctx.incident_ref:
        notes.append(f":rotating_light: Incident {escape(ctx.incident_ref)}")
    if ctx.runbooks:
        notes.append(":notebook: Runbook: " + ", ".join(f"*{escape(r.name)}*" for r in ctx.runbooks))
    if alert.runbook_url:
        notes.append(f":notebook: <{_url(alert.runbook_url)}|Runbook link>")
    if alert.generator_url:
        notes.append(f"<{_url(alert.generator_url)}|Source>")
    if notes:
        blocks.append(context("\n".join(notes)))
    if firing:
        buttons = _buttons(alert, ctx)
        if buttons:
            blocks.append({"type": "actions", "block_id": f"alert:{alert.id}", "elements": buttons[:25]})
    text = escape(truncate(("" if firing else "Resolved: ") + headline(alert), 2900))
    if firing and alert.priority in ("P1", "P2") and alert.primary_user and not alert.acknowledged_at:
        text += f" {mention(alert.primary_user)}"
    return text, blocks


def _url(url: str) -> str:
    """A link target: no `|` or `>` may break out of <url|label>."""
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")


def _buttons(alert: Alert, ctx: Context) -> list[dict]:
    value = str(alert.id)
    out = []
    if not alert.acknowledged_at:
        out.append(button("Acknowledge", Action.ACKNOWLEDGE, value, "primary"))
    if not ctx.incident_ref:
        out.append(button("Declare incident", Action.DECLARE, value))
    for r in ctx.runbooks[:3]:
        out.append(button(f"Start runbook: {r.name}", f"{Action.RUNBOOK}:{r.slug}", f"{alert.id}:{r.slug}"))
    if ctx.deploy:
        out.append(button("Roll back", Action.ROLL_BACK, value, "danger"))
    if ctx.can_silence:
        if alert.silence_id:
            out.append(button("Unsilence", Action.UNSILENCE, value))
        else:
            out.append(button("Silence 1h", f"{Action.SILENCE}:1h", f"{alert.id}:1"))
            out.append(button("Silence 4h", f"{Action.SILENCE}:4h", f"{alert.id}:4"))
    return out


def digest_message(digest: Digest, alerts: list[Alert], now: datetime, zone: ZoneInfo) -> tuple[str, Blocks]:
    firing = [a for a in alerts if a.firing]
    resolved = len(alerts) - len(firing)
    group = " ".join(f"`{escape(k)}={escape(truncate(v, 60))}`" for k, v in sorted(digest.group_labels.items()))
    top = min((a.priority for a in firing), default=None)
    icon = ICON.get(top or "", ":white_check_mark:")
    if firing:
        head = (
            f"{icon} *Alert storm: {len(firing)} firing* in {group or 'one group'} "
            f"({resolved} resolved, {len(alerts)} in all)"
        )
    else:
        head = f":white_check_mark: *Alert storm over*: all {len(alerts)} resolved in {group or 'one group'}"
    by_priority = {}
    for a in firing:
        by_priority[a.priority] = by_priority.get(a.priority, 0) + 1
    lines = [head]
    if by_priority:
        lines.append(" · ".join(f"{p}: {n}" for p, n in sorted(by_priority.items())))
    shown = firing[:DIGEST_LINES]
    for a in shown:
        lines.append(
            f"{ICON.get(a.priority, '')} {a.priority} · {escape(truncate(a.summary, 120))} · {_labels(a)} · "
            f"{duration(now - a.starts_at)}"
        )
    if len(firing) > len(shown):
        lines.append(f"…and {len(firing) - len(shown)} more firing (`/alerts` lists them all)")
    blocks: Blocks = [section(line) for line in _chunks(lines)]
    notes = [f"Since {when(digest.opened_at, zone)} · one message for the whole group, edited as it grows"]
    primary = next((a.primary_user for a in firing if a.primary_user and a.priority in ("P1", "P2")), None)
    if firing and primary and not digest.acknowledged_at:
        notes.append(f":pager: {mention(primary)} (on-call primary)")
    if digest.acknowledged_at:
        notes.append(f":eyes: Acknowledged by {mention(digest.acknowledged_by or '?')}")
    blocks.append(context("\n".join(notes)))
    if firing and not digest.acknowledged_at:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"digest:{digest.id}",
                "elements": [button("Acknowledge all", Action.ACKNOWLEDGE, f"d{digest.id}", "primary")],
            }
        )
    text = f"Alert storm: {len(firing)} firing, {resolved} resolved" if firing else "Alert storm over"
    return text, blocks


def _chunks(lines: list[str]) -> list[str]:
    out, chunk = [], ""
    for line in lines:
        candidate = f"{chunk}\n{line}" if chunk else line
        if len(candidate) > 2900:
            out.append(chunk)
            chunk = line
        else:
            chunk = candidate
    if chunk:
        out.append(chunk)
    return out[:45]


def page_text(alert: Alert, reason: str) -> str:
    return (
        f":rotating_light: *{alert.priority} alert*: {escape(alert.alertname)} — {escape(truncate(alert.summary, 300))}"
        f"\n{reason}. Acknowledge it in the alerts channel."
    )


def deploy_thread_note(alert: Alert, note: DeployNote) -> str:
    return (
        f":rotating_light: {alert.priority} alert *{escape(alert.alertname)}* started {note.minutes_after} min after "
        f"this deploy (`{escape(note.version)}` by {mention(note.who)}): {escape(truncate(alert.summary, 300))}"
    )


def listing(alerts: list[Alert], now: datetime) -> str:
    if not alerts:
        return "Nothing is firing."
    lines = [f"*Firing now ({len(alerts)})*"]
    for a in alerts[:60]:
        owner = (
            f"acknowledged by {mention(a.acknowledged_by)}"
            if a.acknowledged_by
            else (f"owner {mention(a.primary_user)} (unacknowledged)" if a.primary_user else "unacknowledged")
        )
        extra = " · silenced" if a.silence_id else ""
        lines.append(
            f"{ICON.get(a.priority, '')} *{a.priority}* {escape(a.alertname)} — {escape(truncate(a.summary, 100))} · "
            f"for {duration(now - a.starts_at)} · {owner}{extra}"
        )
    if len(alerts) > 60:
        lines.append(f"…and {len(alerts) - 60} more")
    return "\n".join(lines)


def history(alerts: list[Alert], zone: ZoneInfo) -> str:
    if not alerts:
        return "No alerts yet."
    lines = [f"*Last {len(alerts)} alerts*"]
    for a in alerts:
        span = f"resolved after {duration(a.ends_at - a.starts_at)}" if a.ends_at and not a.firing else "firing"
        who = f" · acknowledged by {mention(a.acknowledged_by)}" if a.acknowledged_by else ""
        lines.append(
            f"{when(a.starts_at, zone)} · {a.priority} {escape(a.alertname)} — {escape(truncate(a.summary, 80))} · "
            f"{span}{who}"
        )
    return "\n".join(lines)


def declare_prefill(alert: Alert, link: str | None) -> dict[str, str]:
    description = alert.annotations.get("description", "")
    parts = [f"From the {alert.priority} alert {alert.alertname} (firing since {alert.starts_at:%d %b %H:%M} UTC)."]
    if description:
        parts.append(description)
    if link:
        parts.append(f"Alert: {link}")
    if alert.generator_url:
        parts.append(f"Source: {alert.generator_url}")
    return {"title": alert.summary[:150], "severity": alert.priority, "description": "\n".join(parts)[:2000]}


def silence_confirm(hours: int) -> dict:
    return confirm_dialog(f"Silence for {hours} h?", "Alertmanager will not notify this alert until then.", "Silence")
