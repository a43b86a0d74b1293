"""The incident's record as Slack text, from plain values (no I/O): the timeline, the action items and the
post-mortem draft. All user text is escaped."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.incidents.ids import Action
from bot.incidents.messages import channel_ref, header
from bot.incidents.models import ActionItem, Event, Incident, duration
from bot.slack.blocks import button, context, pieces, section, when
from bot.slack.text import escape, mention, mrkdwn, shorten

Blocks = list[dict[str, Any]]


# Bot-written texts naming users, no user text in them.
_PEOPLE_KINDS = {"commander", "paged", "escalated", "ack_reminder"}


_AT_USER = re.compile(r"@([UW][A-Z0-9]{2,})\b")


def event_text(event: Event) -> str:
    text = mrkdwn(event.text)
    return _AT_USER.sub(r"<@\1>", text) if event.kind in _PEOPLE_KINDS else text


def timeline_lines(events: list[Event], zone: ZoneInfo) -> list[str]:
    return [f"• {when(e.at, zone)} · {mention(e.actor) if e.actor else 'bot'} · {event_text(e)}" for e in events]


def timeline(incident: Incident, events: list[Event], zone: ZoneInfo) -> tuple[str, Blocks]:
    lines = timeline_lines(events, zone)
    blocks: Blocks = [section(f"*Timeline of {header(incident)}*")]
    chunk: list[str] = []
    for line in lines:  # sections hold 3000 characters: split, never cut
        if sum(len(x) + 1 for x in chunk) + len(line) > 2900:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(section("\n".join(chunk)))
    if len(blocks) > 50:
        blocks = [*blocks[:49], context(f"{len(lines)} entries; the post-mortem draft has all of them.")]
    return f"Timeline of {incident.ref}", blocks


def action_line(a: ActionItem) -> str:
    return (
        f"• #{a.id} {mrkdwn(a.text)} · owner {mention(a.owner) if a.owner else '_unassigned_'}"
        + (f" · due {a.due_on.isoformat()}" if a.due_on else "")
        + (f" · done by {mention(a.done_by)}" if a.done_at and a.done_by else " · done" if a.done_at else "")
    )


def action_lines(actions: list[ActionItem]) -> list[str]:
    return [action_line(a) for a in actions]


def actions_blocks(incident: Incident, items: list[ActionItem]) -> tuple[str, Blocks]:
    """The action items, each open one with a *Done* button (a message holds 50 blocks: the rest are listed)."""
    text = actions(incident, items)
    if not items:
        return text, [section(text)]
    blocks: Blocks = [section(f"*Action items of {incident.ref}*")]
    rest: list[str] = []
    for item in items:
        if item.done_at is None and len(blocks) < 48:
            blocks.append(section(action_line(item), button("Done", Action.ACTION_DONE, str(item.id))))
        else:
            rest.append(action_line(item))
    blocks += [section(p) for p in pieces("\n".join(rest))] if rest else []
    if len(blocks) > 50:
        blocks = [
            *blocks[:49],
            context("More items than one message holds: `/incident action done &lt;n&gt;` closes any."),
        ]
    return text, blocks


def action_due(incident: Incident, item: ActionItem) -> tuple[str, Blocks]:
    text = (
        f":alarm_clock: Action item #{item.id} of {incident.ref} is due today: {mrkdwn(item.text)}"
        f" ({mrkdwn(incident.title)}, {channel_ref(incident)})"
    )
    return text, [section(text, button("Done", Action.ACTION_DONE, str(item.id), style="primary"))]


def actions(incident: Incident, items: list[ActionItem]) -> str:
    if not items:
        return (
            f"{incident.ref} has no action items yet. "
            "Add one with `/incident action &lt;text&gt; [@owner] [due YYYY-MM-DD]`."
        )
    return f"*Action items of {incident.ref}*\n" + "\n".join(action_lines(items))


def postmortem(
    template: str, incident: Incident, events: list[Event], items: list[ActionItem], zone: ZoneInfo, now: datetime
) -> str:
    end = incident.resolved_at or now
    values = {
        "number": incident.ref,
        "title": mrkdwn(incident.title),
        "summary": mrkdwn(incident.summary or incident.description or "_to be written_"),
        "severity": incident.severity,
        "duration": duration(incident.declared_at, end) + ("" if incident.resolved_at else " (still open)"),
        "timeline": "\n".join(timeline_lines(events, zone)) or "_no entries_",
        "action_items": "\n".join(action_lines(items)) or "_none yet_",
        "commander": mention(incident.commander),
        "declared": when(incident.declared_at, zone),
        "resolved": when(incident.resolved_at, zone) if incident.resolved_at else "_not yet_",
    }
    return template.format_map(_Missing(values))


class _Missing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def split_text(text: str) -> Blocks:
    """A long text as sections, split on lines: nothing is dropped."""
    return [section(p) for p in pieces(text)]


# -- timeline entries: the text each event is recorded with (kept raw: escaped when shown) ------------------


def declared_entry(incident: Incident) -> str:
    commander = f" (commander {incident.commander})" if incident.commander != incident.reporter else ""
    return f"declared {incident.severity}: {incident.title}{commander}"


def severity_entry(was: str, now: str) -> str:
    return f"severity {was} → {now}"


def stage_entry(was: str, now: str) -> str:
    return f"stage {escape(was)} → {escape(now)}"


def resolved_entry(incident: Incident, ttr: str, tta: str) -> str:
    return f"resolved after {ttr} (time to acknowledge: {tta})" + (f": {incident.summary}" if incident.summary else "")


def acknowledged_entry(incident: Incident, now: datetime) -> str:
    return f"acknowledged after {duration(incident.declared_at, now)}"


def check_entry(stage: str, item: str, *, ticked: bool) -> str:
    return f"{'✓' if ticked else 'unticked'} {escape(stage)}: {escape(item)}"


def commander_entry(was: str, now: str, why: str = "") -> str:
    return f"commander @{was} → @{now}{why}"


def command_asked_entry(asker: str, commander: str) -> str:
    return f"@{asker} asked @{commander} for command"


def command_kept_entry(by: str, asker: str) -> str:
    return f"@{by} kept command (asked by @{asker})"


def action_entry(item: ActionItem) -> str:
    said = f"action item #{item.id}: {item.text}" + (f" (owner @{item.owner})" if item.owner else "")
    return said + (f", due {item.due_on.isoformat()}" if item.due_on else "")


def fix_forward_text(environment: str, from_version: str, version: str) -> str:
    """The text of a rollback's action item (safe mrkdwn: versions escaped)."""
    return (
        f"Fix forward or revert `{escape(from_version)}` ({environment} was rolled back to `{escape(version)}` "
        "and stays pinned there until another version is deployed)"
    )


def fix_forward_said(incident: Incident, item: ActionItem) -> str:
    owner = mention(item.owner) if item.owner else "_unassigned_"
    return f":memo: Action item #{item.id} of {incident.ref} for {owner}: {mrkdwn(item.text)}"


PIN_TEXT = 600  # visible characters of a pinned message in its timeline entry (sections hold 3,000)


def pin_entry(text: str, permalink: str | None) -> str:
    """A pinned message's timeline entry: its text as Slack sent it (safe mrkdwn, on one line, shortened), and
    its link."""
    one_line = " ".join(text.split())
    shown = shorten(one_line, PIN_TEXT) if one_line else "_a message without text_"
    return f":pushpin: {shown}" + (f" (<{permalink}|message>)" if permalink else "")


def pinned_reply(incident: Incident, by: str) -> str:
    return (
        f":pushpin: Added to the timeline of {incident.ref} by {mention(by)}: it is in `/incident timeline` and the "
        "post-mortem draft. Take the reaction off to take it out."
    )


def unpinned_reply(incident: Incident, by: str) -> str:
    return f":pushpin: Taken out of the timeline of {incident.ref} ({mention(by)} took the last pin off)."


def already_pinned(incident: Incident) -> str:
    return f":pushpin: That message is already in the timeline of {incident.ref}."


def shortcut_pinned(incident: Incident) -> str:
    return (
        f":pushpin: In the timeline of {incident.ref} (`/incident timeline`) and its post-mortem draft; "
        "the message's thread says so."
    )


def action_done_entry(item: ActionItem) -> str:
    return f"action item #{item.id} done: {item.text}"


ACK_RENEWED = "still on it: acknowledgement renewed"


def ack_reminder_entry(who: str) -> str:
    return f"acknowledgement ran out with no activity: reminded @{who}"


def ack_reminder_lost_entry(error: str) -> str:
    return f"acknowledgement reminder could not be posted: {escape(error)}"


def ack_snoozed_entry(until: str) -> str:
    return f"acknowledgement reminder snoozed until {until}"


def ack_escalated_entry(role: str, user: str | None, waited: str, error: str | None) -> str:
    """The timeline's (and the channel's) line for a page after an acknowledgement ran out."""
    if user is not None:
        return f"escalated to {role} @{user} (acknowledged {waited} ago, no activity since)"
    return f"escalation to {role} failed: {error or 'nobody on call'} (retried)"


def escalated_entry(role: str, user: str | None, waited: str, error: str | None) -> str:
    """The timeline's (and the channel's) line for an escalation page: delivered (user) or not."""
    if user is not None:
        return f"escalated to {role} @{user} (not acknowledged after {waited})"
    return f"escalation to {role} failed: {error or 'nobody on call'} (retried)"


def week_in_review(
    *,
    declared: list[Incident],
    resolved: list[Incident],
    still_open: list[Incident],
    open_actions: list[tuple[str, ActionItem]],
) -> list[str]:
    """The incidents' lines of the on-call handoff summary."""
    lines: list[str] = []
    if declared:
        lines.append(f"*Incidents declared ({len(declared)})*")
        lines += [
            f"{i.ref} {i.severity} {mrkdwn(i.title)}"
            + (f" · resolved in {duration(i.declared_at, i.resolved_at)}" if i.resolved_at else " · open")
            for i in declared
        ]
    if resolved:
        lines.append(f"*Incidents resolved ({len(resolved)})*")
        lines += [
            f"{i.ref} {i.severity} {mrkdwn(i.title)} · {duration(i.declared_at, i.resolved_at)}"
            for i in resolved
            if i.resolved_at
        ]
    if still_open:
        lines.append(f"*Still open ({len(still_open)})*")
        lines += [f"{i.ref} {i.severity} {mrkdwn(i.title)} · commander {mention(i.commander)}" for i in still_open]
    if open_actions:
        lines.append(f"*Open action items ({len(open_actions)})*")
        lines += [
            f"{ref} #{a.id} {mrkdwn(a.text)} · {mention(a.owner) if a.owner else '_unassigned_'}"
            for ref, a in open_actions
        ]
    return lines
