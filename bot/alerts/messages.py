"""The words and blocks of alert messages (pure: values in, Block Kit out). Webhook text is raw: escaped once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.alerts.ids import Acknowledged, Action, Source, alert_value
from bot.alerts.models import Alert, Digest, IngestNote
from bot.opsconfig import Runbook, Severity
from bot.slack.blocks import Blocks, button, clock_time, confirm_dialog, context, pieces, section, when
from bot.slack.text import escape, mention, truncate

ICON = {
    Severity.P1: ":red_circle:",
    Severity.P2: ":large_orange_circle:",
    Severity.P3: ":large_yellow_circle:",
    Severity.P4: ":white_circle:",
}
LOUD = (Severity.P1, Severity.P2)  # priorities whose message names the on-call primary
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


def _loud(alert: Alert) -> bool:
    """A firing P1/P2 nobody acknowledged names the on-call primary (the message and its notification)."""
    return alert.firing and alert.priority in LOUD and bool(alert.primary_user) and not alert.acknowledged_at


def _body(alert: Alert, ctx: Context) -> str:
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
    return "\n".join(lines)


def _notes(alert: Alert, ctx: Context) -> list[str]:
    notes: list[str] = []
    if _loud(alert):
        notes.append(f":pager: {mention(alert.primary_user or '?')} (on-call primary)")
    if ctx.deploy:
        d = ctx.deploy
        notes.append(
            f":rocket: Started {d.minutes_after} min after {escape(d.ref)} (`{escape(d.version)}`, by {mention(d.who)})"
        )
    if alert.flapping:
        notes.append(f":repeat: *Flapping*: {ctx.flap_count} episodes within {duration(ctx.flap_window)}")
    elif alert.episode > 1:
        notes.append(f":leftwards_arrow_with_hook: Episode {alert.episode} of this alert")
    notes += _acknowledged_notes(alert, ctx)
    if alert.firing and alert.silence_id and alert.silenced_until and alert.silenced_until > ctx.now:
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
    return notes


def _acknowledged_notes(alert: Alert, ctx: Context) -> list[str]:
    """Who acknowledged it, and a snooze of the acknowledgement's reminder while it lasts."""
    if not alert.acknowledged_at:
        return []
    notes = [
        f":eyes: Acknowledged by {mention(alert.acknowledged_by or '?')} after "
        f"{duration(alert.acknowledged_at - alert.starts_at)}"
    ]
    if alert.firing and alert.snoozed_until and alert.snoozed_until > ctx.now:
        until = clock_time(alert.snoozed_until, ctx.zone)
        notes.append(f":zzz: Reminder snoozed until {until} by {mention(alert.snoozed_by or '?')}")
    return notes


def alert_message(alert: Alert, ctx: Context) -> tuple[str, Blocks]:
    blocks: Blocks = [section(_body(alert, ctx))]
    notes = _notes(alert, ctx)
    if notes:
        blocks.append(context("\n".join(notes)))
    if alert.firing:
        buttons = _buttons(alert, ctx)
        if buttons:
            blocks.append({"type": "actions", "block_id": f"alert:{alert.id}", "elements": buttons[:25]})
    text = escape(truncate(("" if alert.firing else "Resolved: ") + headline(alert), 2900))
    if _loud(alert):
        text += f" {mention(alert.primary_user or '?')}"
    return text, blocks


def _url(url: str) -> str:
    """A link target: no `|` or `>` may break out of <url|label>."""
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")


def _buttons(alert: Alert, ctx: Context) -> list[dict]:
    value = str(alert.id)
    out = []
    if not alert.acknowledged_at:
        out.append(button("Acknowledge", Action.ACKNOWLEDGE, value, "primary"))
    elif not ctx.incident_ref:  # an alert of an incident reminds through the incident's acknowledgement
        out += _snooze_buttons(alert)
    if not ctx.incident_ref:
        out.append(button("Declare incident", Action.DECLARE, value))
    for r in ctx.runbooks[:3]:
        out.append(button(f"Start runbook: {r.name}", f"{Action.RUNBOOK}:{r.slug}", alert_value(alert.id, r.slug)))
    if ctx.deploy:
        out.append(button("Roll back", Action.ROLL_BACK, value, "danger"))
    if ctx.can_silence:
        if alert.silence_id:
            out.append(button("Unsilence", Action.UNSILENCE, value))
        else:
            out += [button(f"Silence {h}h", f"{Action.SILENCE}:{h}h", alert_value(alert.id, h)) for h in (1, 4)]
    return out


def _snooze_buttons(alert: Alert) -> list[dict]:
    """*Snooze 1h* / *Snooze 4h*: the acknowledgement's reminder waits (ack_expiry.py)."""
    return [button(f"Snooze {h}h", f"{Action.SNOOZE}:{h}h", alert_value(alert.id, h)) for h in (1, 4)]


def ack_reminder(alert: Alert, now: datetime, role: str | None, after: timedelta) -> tuple[str, Blocks]:
    """The thread reply when an acknowledgement runs out and the alert still fires: the acknowledger is asked."""
    since = alert.ack_since or alert.acknowledged_at or now
    who = mention(alert.acknowledged_by or "?")
    text = (
        f":hourglass: {who}, you acknowledged *{escape(alert.alertname)}* {duration(now - since)} ago and it still "
        f"fires. Still on it? {_next_page(role, duration(after))}"
    )
    buttons = [button("Still on it", Action.STILL_ON_IT, str(alert.id), "primary"), *_snooze_buttons(alert)]
    return text, [section(text), {"type": "actions", "block_id": f"alert_ack:{alert.id}", "elements": buttons}]


def _next_page(role: str | None, after: str) -> str:
    if role is None:
        return "Nobody else on call is left to page."
    return f"If nobody answers, the {role} is paged in {after}, then the next role."


def ack_escalation_note(waited: str, role: str, user: str | None, why: str | None) -> str:
    """The alert's thread hears whom a resumed escalation paged, or why nobody."""
    if user:
        return (
            f":arrow_up: Acknowledged {waited} ago, still firing, nobody answered: "
            f"escalated to the {role} {mention(user)}."
        )
    return f":warning: Acknowledged {waited} ago, still firing; the {role} could not be paged: {why}"


def snoozed(alert: Alert, until: datetime, zone: ZoneInfo) -> str:
    return f"Reminder for {escape(alert.alertname)} snoozed until {clock_time(until, zone)}."


def renewed(alert: Alert, zone: ZoneInfo) -> str:
    until = f" until {clock_time(alert.ack_expires_at, zone)}" if alert.ack_expires_at else ""
    return f"You are on {escape(alert.alertname)}: acknowledged again{until}."


def digest_message(digest: Digest, alerts: list[Alert], now: datetime, zone: ZoneInfo) -> tuple[str, Blocks]:
    firing = [a for a in alerts if a.firing]
    resolved = len(alerts) - len(firing)
    lines = [_digest_head(digest, alerts, firing), *_digest_lines(firing, now)]
    blocks: Blocks = [section(piece) for piece in pieces("\n".join(lines))[:45]]
    blocks.append(context("\n".join(_digest_notes(digest, firing, zone))))
    if firing and not digest.acknowledged_at:
        everything = button("Acknowledge all", Action.ACKNOWLEDGE, Acknowledged(digest=digest.id).value(), "primary")
        blocks.append({"type": "actions", "block_id": f"digest:{digest.id}", "elements": [everything]})
    text = f"Alert storm: {len(firing)} firing, {resolved} resolved" if firing else "Alert storm over"
    return text, blocks


def _digest_head(digest: Digest, alerts: list[Alert], firing: list[Alert]) -> str:
    group = " ".join(f"`{escape(k)}={escape(truncate(v, 60))}`" for k, v in sorted(digest.group_labels.items()))
    if not firing:
        return f":white_check_mark: *Alert storm over*: all {len(alerts)} resolved in {group or 'one group'}"
    icon = ICON.get(min(a.priority for a in firing), ":white_check_mark:")
    resolved = len(alerts) - len(firing)
    return (
        f"{icon} *Alert storm: {len(firing)} firing* in {group or 'one group'} "
        f"({resolved} resolved, {len(alerts)} in all)"
    )


def _digest_lines(firing: list[Alert], now: datetime) -> list[str]:
    """How many firing of each priority, then the first DIGEST_LINES firing alerts, and how many more."""
    if not firing:
        return []
    by_priority = Counter(a.priority for a in firing)
    lines = [" · ".join(f"{p}: {n}" for p, n in sorted(by_priority.items()))]
    shown = firing[:DIGEST_LINES]
    lines += [
        f"{ICON.get(a.priority, '')} {a.priority} · {escape(truncate(a.summary, 120))} · {_labels(a)} · "
        f"{duration(now - a.starts_at)}"
        for a in shown
    ]
    if len(firing) > len(shown):
        lines.append(f"…and {len(firing) - len(shown)} more firing (`/alerts` lists them all)")
    return lines


def _digest_notes(digest: Digest, firing: list[Alert], zone: ZoneInfo) -> list[str]:
    notes = [f"Since {when(digest.opened_at, zone)} · one message for the whole group, edited as it grows"]
    primary = next((a.primary_user for a in firing if a.primary_user and a.priority in LOUD), None)
    if firing and primary and not digest.acknowledged_at:
        notes.append(f":pager: {mention(primary)} (on-call primary)")
    if digest.acknowledged_at:
        notes.append(f":eyes: Acknowledged by {mention(digest.acknowledged_by or '?')}")
    return notes


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


# -- answers to the buttons --------------------------------------------------------------------------------------

NO_ALERT = "That alert does not exist."
NO_STORM = "That alert storm does not exist."
NOT_IN_WATCH = "This alert did not start in a deploy's watch window."
NO_ALERTMANAGER = "Silences need ZZIK_ALERTMANAGER_URL to be set on the bot."
SILENCE_HOURS = "Silence for 1 or 4 hours."
NOT_SILENCEABLE = "Only Alertmanager's alerts can be silenced from here."

# Answers and notes with blanks, filled by say(): {alertname} (escaped), {summary} (escaped), {priority}, {id} of
# the alert, the rest named (raw text is escaped by say(); numbers and ids are safe).
ALREADY_RESOLVED = "{alertname} has already resolved."
STORM_ACKNOWLEDGED = "You acknowledged the {count} alerts of this storm."
ALREADY_IN_INCIDENT = "This alert is already part of {ref}."
NO_RUNBOOK = "There is no runbook `{slug}` any more."
RUNBOOK_STARTED = "{name} started."
SILENCE_COMMENT = "Silenced from Slack for {hours} h (alert #{id})"
NOT_SILENCED = "Not silenced: {error}"
SILENCED = "Silenced {alertname} for {hours} h (silence `{silence}`)."
NOT_SILENCED_NOW = "{alertname} is not silenced."
NOT_EXPIRED = "Silence not expired: {error}"
UNSILENCED = "Silence `{silence}` expired: {alertname} notifies again."
NOBODY_ON_CALL = "nobody reachable is on call as {role}"
STORM_REASON = "Part of an alert storm: {count} alerts firing in its group"
ESCALATION_REASON = "Not acknowledged after {waited}; escalating to you ({role})"
ACK_EXPIRED_REASON = "Acknowledged {waited} ago, still firing, nobody answered the reminder; escalating to you ({role})"
NOT_ACKNOWLEDGED = "{alertname} is not acknowledged: acknowledge it instead."
SNOOZE_HOURS = "Snooze for 1 or 4 hours."
RESOLVED_NOTE = ":white_check_mark: Alert *{alertname}* ({summary}) resolved after {lasted}."


def say(template: str, alert: Alert | None = None, **blanks: object) -> str:
    """An answer from its template; every blank is escaped once (alert and webhook text is raw)."""
    known: dict[str, object] = {}
    if alert is not None:
        known = {"alertname": alert.alertname, "summary": alert.summary, "priority": alert.priority, "id": alert.id}
    return template.format(**{k: escape(str(v)) for k, v in (known | blanks).items()})


def resolved_entry(alert: Alert, lasted: str) -> str:
    """The incident timeline's line when an alert of the incident resolved (timeline text is plain)."""
    return f"alert {alert.alertname} resolved after {lasted}"


def already_acknowledged(by: str | None) -> str:
    return f"Already acknowledged by {mention(by or '?')}."


def acknowledged(alert: Alert, now: datetime) -> str:
    return f"You acknowledged {escape(alert.alertname)} ({alert.priority}) after {duration(now - alert.starts_at)}."


def permalink(alert: Alert) -> str | None:
    if not (alert.message_channel and alert.message_ts):
        return None
    return f"https://slack.com/archives/{alert.message_channel}/p{alert.message_ts.replace('.', '')}"


def timeline_entry(alert: Alert) -> str:
    """The incident timeline's line for an alert linked to it (timeline text is plain)."""
    resolved = ", resolved" if not alert.firing else ""
    return (
        f"alert {alert.priority} {alert.alertname}: {alert.summary} (firing since "
        f"{alert.starts_at:%d %b %H:%M} UTC{resolved})"
    )


def rollback_note(alert: Alert) -> str:
    """What prompted a rollback offer from an alert (raw text: the offer escapes it)."""
    shown = [f"{alert.alertname}: {alert.summary}"]
    if alert.values_text:
        shown.append(f"values {alert.values_text}")
    elif alert.annotations.get("description"):
        shown.append(alert.annotations["description"])
    return "Alert " + " · ".join(shown)


def already_silenced(until: datetime, zone: ZoneInfo) -> str:
    return f"Already silenced until {when(until, zone)}."


# -- pages, escalations and incident notes -----------------------------------------------------------------------


def escalation_note(waited: str, role: str, user: str | None, why: str | None) -> str:
    """The alert's thread hears whom an escalation paged, or why nobody."""
    if user:
        return f":arrow_up: Not acknowledged after {waited}: escalated to the {role} {mention(user)}."
    return f":warning: Not acknowledged after {waited}; the {role} could not be paged: {why}"


# -- a delivery not taken whole ----------------------------------------------------------------------------------

NOTE_REASONS = 5  # unreadable alerts' reasons shown; the rest are counted


def _code(text: str, limit: int = 120) -> str:
    return "`" + escape(truncate(text.replace("`", "'"), limit)) + "`"


def ingest_note(note: IngestNote, rejects: list[tuple[int, str]]) -> str:
    """What a delivery left out, and why: unreadable alerts, alerts past the bot's limits, and alerts the sender
    itself left out (Alertmanager's `max_alerts`)."""
    sender = "Grafana" if note.source == Source.GRAFANA else "Alertmanager"
    missing = note.unreadable + note.over_limit + note.truncated
    where = [f"receiver {_code(note.receiver)}"] if note.receiver else []
    if note.group_key:
        where.append(f"group {_code(note.group_key)}")
    lines = [
        f":warning: *{missing:,} of {note.alert_count + note.truncated:,} alerts* of a delivery from {sender}"
        + (f" ({', '.join(where)})" if where else "")
        + " are not shown here."
    ]
    if note.unreadable:
        lines.append(f"*{note.unreadable:,} unreadable*, recorded as received (alert_rejects, note {note.id}):")
        lines += [f"• {escape(truncate(reason, 200))}" for _, reason in rejects[:NOTE_REASONS]]
        if note.unreadable > NOTE_REASONS:
            lines.append(f"• and {note.unreadable - NOTE_REASONS:,} more")
    if note.over_limit:
        lines.append(
            f"*{note.over_limit:,} not accepted*: the delivery was {escape(note.limit_reason or 'too large')}, "
            "more than the bot takes at once; the alerts before them were taken. "
            + (
                "Set `max_alerts` in Alertmanager's `webhook_config` to stay below them."
                if note.source == Source.ALERTMANAGER
                else "Group by more labels in Grafana's notification policy to stay below them."
            )
        )
    if note.truncated:
        lines.append(
            f"*{note.truncated:,} left out by {sender} itself* (its `max_alerts`): they never reached the bot."
        )
    if note.accepted:
        lines.append(f"The other {note.accepted:,} go through as usual.")
    return "\n".join(lines)
