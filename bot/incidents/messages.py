"""Block Kit for incidents, from plain values (no I/O). All user text is escaped."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.deploys.ids import Action as DeployAction
from bot.deploys.store import Deploy
from bot.incidents.ids import Action, Block, View
from bot.incidents.store import Action as FollowUp
from bot.incidents.store import Event, Incident, Page, duration
from bot.opsconfig import OpsConfig, SeverityLevel
from bot.slack.blocks import button, checkbox_groups, context, option_text, pieces, section, when
from bot.slack.text import escape, mention, mrkdwn, truncate

Blocks = list[dict[str, Any]]
STATUS_EMOJI = {"open": ":red_circle:", "resolved": ":large_green_circle:"}


def header(incident: Incident) -> str:
    return f"{incident.ref} · {incident.severity} · {mrkdwn(incident.title)}"


def channel_ref(incident: Incident) -> str:
    return f"<#{incident.channel_id}>" if incident.channel_id else "_channel not created yet_"


def topic(incident: Incident) -> str:
    status = "RESOLVED" if not incident.is_open else incident.stage
    title = mrkdwn(incident.title)  # stored as safe mrkdwn: no `<!everyone>` reaches a topic
    return truncate(f"{incident.severity} · {status} · commander {mention(incident.commander)} · {title}", 250)


def paged_line(pages: list[Page], pagerduty: str | None = None) -> str:
    """`Paged <@A>, <@B>. Could not reach <@C> (HTTP 500 from Slack).` ('' when nobody was to be paged). With
    PagerDuty paged too, both paths: `Paged in PagerDuty · DM'd <@A>.`"""
    reached = [mention(p.user_id) for p in pages if p.delivered_at]
    missed = [
        f"{mention(p.user_id) if p.reachable else escape(p.user_id)} ({escape(p.last_error or 'not tried yet')})"
        for p in pages
        if not p.delivered_at
    ]
    parts = []
    if reached:
        parts.append(("DM'd " if pagerduty else "Paged ") + ", ".join(dict.fromkeys(reached)) + ".")
    if missed:
        parts.append("Could not reach " + ", ".join(dict.fromkeys(missed)) + ".")
    if pagerduty:
        return f"{pagerduty} · " + " ".join(parts) if parts else f"{pagerduty}."
    return " ".join(parts)


def announcement(
    incident: Incident,
    level: SeverityLevel,
    zone: ZoneInfo,
    now: datetime,
    pages: list[Page] | None = None,
    pagerduty: str | None = None,
) -> tuple[str, Blocks]:
    status = "Resolved" if not incident.is_open else "Open"
    ack = (
        f"{mention(incident.acknowledged_by)} at {when(incident.acknowledged_at, zone)}"
        if incident.acknowledged_at and incident.acknowledged_by
        else f"in PagerDuty at {when(incident.acknowledged_at, zone)}"
        if incident.acknowledged_at
        else "_not yet_"
    )
    lines = [
        f"{STATUS_EMOJI[incident.status]} *{header(incident)}*",
        f"*Status:* {status} · *Stage:* {escape(incident.stage)} · *Commander:* {mention(incident.commander)}",
        f"*Severity:* {incident.severity}, {escape(level.definition.lower())} ({escape(level.response.lower())})",
        f"*Channel:* {channel_ref(incident)} · *Acknowledged:* {ack}",
        f"*Declared:* {when(incident.declared_at, zone)} by {mention(incident.reporter)}",
    ]
    if pages or pagerduty:
        lines.append(f"*Paging:* {paged_line(pages or [], pagerduty)}")
    if not incident.is_open and incident.resolved_at:
        lines.append(
            f"*Resolved:* {when(incident.resolved_at, zone)} after "
            f"{duration(incident.declared_at, incident.resolved_at)}"
            + (f": {mrkdwn(incident.summary)}" if incident.summary else "")
        )
    blocks: Blocks = [section("\n".join(lines))]
    if incident.is_open:
        value = str(incident.id)
        buttons = [button("Join channel", Action.JOIN, value)]
        if incident.acknowledged_at is None:
            buttons.append(button("Acknowledge", Action.ACKNOWLEDGE, value, style="primary"))
        buttons.append(button("Take command", Action.TAKE_COMMAND, value))
        blocks.append({"type": "actions", "block_id": f"incident:{incident.id}", "elements": buttons})
    text = f"{incident.ref} {incident.severity} {status.lower()}: {mrkdwn(incident.title)}"
    return text, blocks


def kickoff(
    incident: Incident,
    level: SeverityLevel,
    config: OpsConfig,
    ticks: dict[tuple[int, int], tuple[str, datetime]],
    zone: ZoneInfo,
    recent: list[Deploy] | None = None,
) -> tuple[str, Blocks]:
    intro = [
        f":rotating_light: *{header(incident)}*",
        f"*Severity {level.level}:* {escape(level.definition)}. _Example: {escape(level.example)}._",
        f"*Response:* {escape(level.response)}. *Commander:* {mention(incident.commander)}",
    ]
    if incident.description:
        intro.append(f"*Description:* {mrkdwn(incident.description)}")
    if level.level == "P1":
        intro.append("*Emergency contacts:* `/oncall contacts` (for the rotation and the incident managers)")
    blocks: Blocks = [
        section("\n".join(intro)),
        context(
            "Tick items as they are done; each tick is recorded with who and when. `/incident help` lists the commands."
        ),
    ]
    if recent is not None:
        blocks += recent_changes(recent, config, zone)
    for s, stage in enumerate(config.incidents.stages):
        options, selected = [], []
        for i, item in enumerate(stage.items):
            option: dict[str, Any] = {"text": {"type": "mrkdwn", "text": option_text(item)}, "value": f"{s}:{i}"}
            if (s, i) in ticks:
                who, at = ticks[(s, i)]
                option["description"] = {"type": "mrkdwn", "text": f"{mention(who)} · {when(at, zone)}"}
            options.append(option)
            if (s, i) in ticks:
                selected.append(option)
        marker = " ← now" if stage.name == incident.stage and incident.is_open else ""
        blocks.append(section(f"*{s + 1}. {escape(stage.name)}*{marker}"))
        blocks += checkbox_groups(f"stage:{s}", f"{Action.CHECK}:{s}", options, selected)
    return f"{incident.ref} kickoff: {mrkdwn(incident.title)}", blocks


def production(config: OpsConfig) -> str:
    environments = config.deploy.environments
    return "prod" if "prod" in environments else environments[-1]


def recent_changes(recent: list[Deploy], config: OpsConfig, zone: ZoneInfo) -> Blocks:
    """Investigation's "Check recent changes": prod deploys of the 24 h before the declaration, and a way back."""
    env = production(config)
    lines = [
        f"• {'rollback to ' if d.kind == 'rollback' else ''}`{escape(d.version)}` by {mention(d.requested_by)}, "
        f"finished {when(d.finished_at, zone)}"
        for d in recent
        if d.finished_at
    ]
    text = f"*Recent changes:* {env} deploys in the 24 h before the declaration\n" + (
        "\n".join(lines) if lines else "_none_"
    )
    blocks: Blocks = [section(text)]
    if lines:
        blocks.append(
            {
                "type": "actions",
                "block_id": "recent_changes",
                "elements": [button(f"Roll back {env}…", DeployAction.ROLLBACK_OFFER, env)],
            }
        )
    return blocks


def listing(incidents: list[Incident], now: datetime) -> str:
    if not incidents:
        return "No open incidents. :tada:"
    lines = [
        f"*{i.ref}* {i.severity} · {mrkdwn(i.title)} · commander {mention(i.commander)} · "
        f"{duration(i.declared_at, now)} old · {escape(i.stage)} · {channel_ref(i)}"
        for i in incidents
    ]
    return f"*Open incidents ({len(incidents)})*\n" + "\n".join(lines)


_PEOPLE_KINDS = {"commander", "paged", "escalated"}  # bot-written texts naming users, no user text in them
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


def action_line(a: FollowUp) -> str:
    return (
        f"• #{a.id} {mrkdwn(a.text)} · owner {mention(a.owner) if a.owner else '_unassigned_'}"
        + (f" · due {a.due_on.isoformat()}" if a.due_on else "")
        + (f" · done by {mention(a.done_by)}" if a.done_at and a.done_by else " · done" if a.done_at else "")
    )


def action_lines(actions: list[FollowUp]) -> list[str]:
    return [action_line(a) for a in actions]


def actions_blocks(incident: Incident, items: list[FollowUp]) -> tuple[str, Blocks]:
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


def action_due(incident: Incident, item: FollowUp) -> tuple[str, Blocks]:
    text = (
        f":alarm_clock: Action item #{item.id} of {incident.ref} is due today: {mrkdwn(item.text)}"
        f" ({mrkdwn(incident.title)}, {channel_ref(incident)})"
    )
    return text, [section(text, button("Done", Action.ACTION_DONE, str(item.id), style="primary"))]


def actions(incident: Incident, items: list[FollowUp]) -> str:
    if not items:
        return (
            f"{incident.ref} has no action items yet. "
            "Add one with `/incident action &lt;text&gt; [@owner] [due YYYY-MM-DD]`."
        )
    return f"*Action items of {incident.ref}*\n" + "\n".join(action_lines(items))


def postmortem(
    template: str, incident: Incident, events: list[Event], items: list[FollowUp], zone: ZoneInfo, now: datetime
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


def page_text(incident: Incident, level: SeverityLevel, reason: str, incidents_channel: str | None = None) -> str:
    where = f"in {escape(incidents_channel)} " if incidents_channel else ""
    return (
        f":rotating_light: {reason}: *{header(incident)}* ({escape(level.response.lower())}). "
        f"Join {channel_ref(incident)}; acknowledge {where}with the button on its announcement."
    )


def nudge(incident: Incident, since: datetime, now: datetime) -> str:
    return (
        f":hourglass: {mention(incident.commander)}, {incident.ref} has had no status update for "
        f"{duration(since, now)}. Post one with `/incident update &lt;what we know&gt;`."
    )


def setup_failed(incident: Incident, failures: list[str]) -> Blocks:
    text = f":warning: {incident.ref} is declared and recorded, but Slack refused part of the set-up:\n" + "\n".join(
        f"• {mrkdwn(f)}" for f in failures
    )
    return [
        section(text),
        {
            "type": "actions",
            "elements": [button("Retry set-up", Action.RETRY_SETUP, str(incident.id), style="primary")],
        },
    ]


def resolved_checklist(incident: Incident, config: OpsConfig) -> Blocks:
    stage = config.incidents.stages[-1]
    items = "\n".join(f"• {escape(i)}" for i in stage.items)
    return [
        section(
            f":white_check_mark: *{incident.ref} resolved.* Next: the {escape(stage.name)}.\n{items}\n"
            "`/incident postmortem` drafts it from the timeline."
        )
    ]


def declare_modal(
    config: OpsConfig,
    reporter: str,
    origin_channel: str | None,
    *,
    title: str | None = None,
    description: str | None = None,
    source: str | None = None,
    severity: str | None = None,
    alert: int | None = None,
) -> dict[str, Any]:
    """The Declare incident form; from a message shortcut or an alert, prefilled (plain text) and carrying the
    message's link (and the alert it was opened for)."""
    who_commands = "you" if config.incidents.default_commander == "reporter" else "the on-call primary"
    options = [
        {
            "text": {"type": "plain_text", "text": truncate(f"{s.level} · {s.response}", 75)},
            "description": {"type": "plain_text", "text": truncate(s.definition, 75)},
            "value": s.level,
        }
        for s in config.severities
    ]
    chosen = next((o for o in options if severity and o["value"] == severity), None)
    return {
        "type": "modal",
        "callback_id": View.DECLARE,
        "private_metadata": json.dumps(
            {"origin": origin_channel, "source": source, **({"alert": alert} if alert is not None else {})}
        )
        if source or alert is not None
        else (origin_channel or ""),
        "title": {"type": "plain_text", "text": "Declare incident"},
        "submit": {"type": "plain_text", "text": "Declare"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": Block.TITLE,
                "label": {"type": "plain_text", "text": "Title"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "max_length": 150,
                    "placeholder": {"type": "plain_text", "text": "What is broken, in a few words"},
                    **({"initial_value": title} if title else {}),
                },
            },
            {
                "type": "input",
                "block_id": Block.SEVERITY,
                "label": {"type": "plain_text", "text": "Severity"},
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": options,
                    **({"initial_option": chosen} if chosen else {}),
                },
            },
            {
                "type": "input",
                "block_id": Block.DESCRIPTION,
                "optional": True,
                "label": {"type": "plain_text", "text": "Description"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": 2000,
                    **({"initial_value": description} if description else {}),
                },
            },
            {
                "type": "input",
                "block_id": Block.COMMANDER,
                "optional": True,
                "label": {"type": "plain_text", "text": f"Commander ({who_commands}, if left empty)"},
                "element": {"type": "users_select", "action_id": "value"},
            },
        ],
    }


def command_request(incident: Incident, requested_by: str, request_id: int) -> tuple[str, Blocks]:
    """The DM to the commander when someone else clicks Take command."""
    text = f"{mention(requested_by)} asks to take command of *{header(incident)}* ({channel_ref(incident)})."
    buttons = {
        "type": "actions",
        "block_id": f"command_request:{request_id}",
        "elements": [
            button("Hand over", Action.HAND_OVER, str(request_id), style="primary"),
            button("Keep command", Action.KEEP_COMMAND, str(request_id)),
        ],
    }
    return text, [section(text), buttons]
