"""Incidents in words and Block Kit, from plain values (no I/O): the messages the bot keeps up to date and
the answers to what the stories return (`answer`). All user text is escaped."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.deploys.ids import Action as DeployAction
from bot.deploys.models import Deploy
from bot.incidents import ids
from bot.incidents.enums import Severity, Status
from bot.incidents.ids import Action
from bot.incidents.models import Incident, Page, duration
from bot.incidents.outcomes import (
    Acknowledged,
    ActionAdded,
    ActionClosed,
    AlreadyCommander,
    CommandAnswered,
    CommandAsked,
    CommanderChanged,
    CommandSettled,
    Joined,
    Outcome,
    Reopened,
    Resolved,
    SetupUnderWay,
    SeverityChanged,
    StageChanged,
)
from bot.incidents.parse import MAX_TITLE
from bot.opsconfig import OpsConfig, SeverityLevel
from bot.slack.blocks import button, checkbox_groups, clock_time, context, option_text, section, when
from bot.slack.text import escape, mention, mrkdwn, truncate

Blocks = list[dict[str, Any]]
STATUS_EMOJI = {Status.OPEN: ":red_circle:", Status.RESOLVED: ":large_green_circle:"}


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


def _acknowledged_line(incident: Incident, zone: ZoneInfo, now: datetime) -> str:
    """Who acknowledged it and when, and a snooze of the acknowledgement's reminder while it lasts."""
    ack = (
        f"{mention(incident.acknowledged_by)} at {when(incident.acknowledged_at, zone)}"
        if incident.acknowledged_at and incident.acknowledged_by
        else f"in PagerDuty at {when(incident.acknowledged_at, zone)}"
        if incident.acknowledged_at
        else "_not yet_"
    )
    if incident.is_open and incident.acknowledged_at and incident.snoozed_until and incident.snoozed_until > now:
        ack += (
            f" · reminder snoozed until {clock_time(incident.snoozed_until, zone)}"
            f" by {mention(incident.snoozed_by or '?')}"
        )
    return ack


def announcement(
    incident: Incident,
    level: SeverityLevel,
    zone: ZoneInfo,
    now: datetime,
    pages: list[Page] | None = None,
    pagerduty: str | None = None,
) -> tuple[str, Blocks]:
    status = "Resolved" if not incident.is_open else "Open"
    ack = _acknowledged_line(incident, zone, now)
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
        if incident.acknowledged_at is not None:
            buttons += _snooze_buttons(incident)
        blocks.append({"type": "actions", "block_id": ids.incident_block(incident.id), "elements": buttons})
    text = f"{incident.ref} {incident.severity} {status.lower()}: {mrkdwn(incident.title)}"
    return text, blocks


def _snooze_buttons(incident: Incident) -> list[dict[str, Any]]:
    """*Snooze 1h* / *Snooze 4h*: the acknowledgement's reminder waits (ack_expiry.py)."""
    return [button(f"Snooze {h}h", f"{Action.SNOOZE}:{h}h", ids.snooze_value(incident.id, h)) for h in (1, 4)]


def ack_reminder(incident: Incident, now: datetime, role: str | None, after: timedelta) -> tuple[str, Blocks]:
    """The thread reply when an acknowledgement runs out with no activity: the acknowledger is asked."""
    since = incident.ack_since or incident.acknowledged_at or now
    who = mention(incident.acknowledged_by or incident.commander)
    text = (
        f":hourglass: {who}, {incident.ref} was acknowledged {duration(since, now)} ago and nothing has happened "
        f"since (no update, stage or severity change). Still on it? "
        + (
            f"If nobody answers, the {role} is paged in {duration(now, now + after)}, then the next role."
            if role
            else "Nobody else on call is left to page."
        )
    )
    buttons = [button("Still on it", Action.STILL_ON_IT, str(incident.id), style="primary"), *_snooze_buttons(incident)]
    return text, [section(text), {"type": "actions", "block_id": f"incident_ack:{incident.id}", "elements": buttons}]


SNOOZE_HOURS = "Snooze for 1 or 4 hours."


def ack_ran_out(waited: str) -> str:
    """The reason given in a page after an acknowledgement ran out."""
    return f"Acknowledged {waited} ago with no activity since, and nobody answered the reminder; escalating to you"


def not_acknowledged_yet(incident: Incident) -> str:
    return f"{incident.ref} is not acknowledged: acknowledge it instead."


def ack_snoozed(incident: Incident, until: str) -> str:
    return f"Reminder for {incident.ref} snoozed until {until}."


def ack_renewed(incident: Incident, until: str) -> str:
    return f"You are on {incident.ref}: acknowledged again until {until}."


def kickoff(
    incident: Incident,
    level: SeverityLevel,
    config: OpsConfig,
    ticks: dict[tuple[int, int], tuple[str, datetime]],
    zone: ZoneInfo,
    recent: list[Deploy] | None = None,
    notes: list[str] | None = None,
) -> tuple[str, Blocks]:
    intro = [
        f":rotating_light: *{header(incident)}*",
        f"*Severity {level.level}:* {escape(level.definition)}. _Example: {escape(level.example)}._",
        f"*Response:* {escape(level.response)}. *Commander:* {mention(incident.commander)}",
    ]
    if incident.description:
        intro.append(f"*Description:* {mrkdwn(incident.description)}")
    if level.level == Severity.P1:
        intro.append(
            "*Emergency contacts:* `/oncall contacts` (for the rotation, whoever is on call and the incident managers)"
        )
    blocks: Blocks = [
        section("\n".join(intro)),
        context(
            "Tick items as they are done; each tick is recorded with who and when. `/incident help` lists the commands."
        ),
    ]
    if recent is not None:
        blocks += recent_changes(recent, config, zone)
    blocks += [section(note) for note in notes or []]
    for s, stage in enumerate(config.incidents.stages):
        options, selected = [], []
        for i, item in enumerate(stage.items):
            option: dict[str, Any] = {
                "text": {"type": "mrkdwn", "text": option_text(item)},
                "value": ids.check_value(s, i),
            }
            if (s, i) in ticks:
                who, at = ticks[(s, i)]
                option["description"] = {"type": "mrkdwn", "text": f"{mention(who)} · {when(at, zone)}"}
            options.append(option)
            if (s, i) in ticks:
                selected.append(option)
        marker = " ← now" if stage.name == incident.stage and incident.is_open else ""
        blocks.append(section(f"*{s + 1}. {escape(stage.name)}*{marker}"))
        blocks += checkbox_groups(ids.stage_block(s), ids.check_action(s), options, selected)
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


def page_text(incident: Incident, level: SeverityLevel, reason: str, incidents_channel: str | None = None) -> str:
    where = f"in {escape(incidents_channel)} " if incidents_channel else ""
    if not incident.channel_id:  # paged before the set-up created the channel: the announcement will link it
        return (
            f":rotating_light: {reason}: *{header(incident)}* ({escape(level.response.lower())}). "
            f"Its channel is being created: join it and acknowledge {where}from its announcement."
        )
    return (
        f":rotating_light: {reason}: *{header(incident)}* ({escape(level.response.lower())}). "
        f"Join {channel_ref(incident)}; acknowledge {where}with the button on its announcement."
    )


def not_reached(incident: Incident, failures: list[str]) -> str:
    """Said where the incident lives when the page retries are spent."""
    return (
        f":warning: {incident.ref}: paging gave up after its retries; "
        + "; ".join(failures)
        + ". Call them: `/oncall contacts` has the numbers."
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


def reposted(incident: Incident, what: str, error: str) -> str:
    """In the thread of a kept message posted again because Slack lost the old one."""
    return (
        f":information_source: The earlier {what} of {incident.ref} could not be updated (`{error}`), "
        "so this is a new one; it is kept up to date from now on."
    )


def escalated_to(severity: str) -> str:
    """The reason given in the pages a severity escalation sends."""
    return f"Escalated to {severity}"


def resolved(incident: Incident, config: OpsConfig) -> tuple[str, Blocks]:
    """The channel's message when the incident is resolved: the last stage's checklist."""
    stage = config.incidents.stages[-1]
    items = "\n".join(f"• {escape(i)}" for i in stage.items)
    text = (
        f":white_check_mark: *{incident.ref} resolved.* Next: the {escape(stage.name)}.\n{items}\n"
        "`/incident postmortem` drafts it from the timeline."
    )
    return f"{incident.ref} resolved", [section(text)]


def command_request(incident: Incident, requested_by: str, request_id: int) -> tuple[str, Blocks]:
    """The DM to the commander when someone else clicks Take command."""
    text = f"{mention(requested_by)} asks to take command of *{header(incident)}* ({channel_ref(incident)})."
    buttons = {
        "type": "actions",
        "block_id": ids.command_request_block(request_id),
        "elements": [
            button("Hand over", Action.HAND_OVER, str(request_id), style="primary"),
            button("Keep command", Action.KEEP_COMMAND, str(request_id)),
        ],
    }
    return text, [section(text), buttons]


# -- answers: what the stories return, in words ---------------------------------------------------------------


def answer(outcome: Outcome, zone: ZoneInfo) -> str:
    """The answer to the person who asked (or the channel), for what a story returned."""
    return _ANSWERS[type(outcome)](outcome, zone)


def _severity_changed(changed: SeverityChanged, zone: ZoneInfo) -> str:
    said = f"{changed.incident.ref} is now {changed.incident.severity} (was {changed.was})."
    return (said + " " + paged_line(changed.paged)).strip() if changed.paged is not None else said


def _resolved(resolved: Resolved, zone: ZoneInfo) -> str:
    ttr, tta = times_to_resolve(resolved.incident)
    return f"{resolved.incident.ref} resolved after {ttr} (time to acknowledge: {tta})."


def _acknowledged(acknowledged: Acknowledged, zone: ZoneInfo) -> str:
    incident = acknowledged.incident
    if not acknowledged.already:
        return f"You acknowledged {incident.ref}."
    by = mention(incident.acknowledged_by) if incident.acknowledged_by else "someone in PagerDuty"
    assert incident.acknowledged_at is not None  # `already`: it was acknowledged
    return f"{incident.ref} was already acknowledged by {by} at {when(incident.acknowledged_at, zone)}."


def _action_added(added: ActionAdded, zone: ZoneInfo) -> str:
    item = added.item
    said = f"Action item #{item.id} added to {added.incident.ref}" + (
        f", owner {mention(item.owner)}" if item.owner else ""
    )
    if added.due is not None:
        said += f", due {added.due.isoformat()}" + ("" if item.owner else " (name an owner to have them reminded)")
    return said + "."


def _action_closed(closed: ActionClosed, zone: ZoneInfo) -> str:
    item = closed.item
    if closed.already:
        assert item.done_at is not None  # `already`: it was done
        return f"Action item #{item.id} was already done ({mention(item.done_by or '?')}, {when(item.done_at, zone)})."
    return f"Action item #{item.id} of {closed.incident.ref} is done: {mrkdwn(item.text)}"


def _joined(joined: Joined, zone: ZoneInfo) -> str:
    return joined.failures[0] if joined.failures else f"You are in {channel_ref(joined.incident)}."


# One answer per outcome type (the incident's ref and state say the rest).
_ANSWERS: dict[type, Callable[[Any, ZoneInfo], str]] = {
    SeverityChanged: _severity_changed,
    StageChanged: lambda o, _: f"{o.incident.ref} moved to *{o.incident.stage}*.",
    Reopened: lambda o, _: (
        f"{o.incident.ref} is reopened, back at *{o.incident.stage}*; {mention(o.incident.commander)} has command."
    ),
    Resolved: _resolved,
    Acknowledged: _acknowledged,
    Joined: _joined,
    CommanderChanged: lambda o, _: f"{mention(o.incident.commander)} is now the commander of {o.incident.ref}.",
    AlreadyCommander: lambda o, _: f"You are already the commander of {o.incident.ref}.",
    CommandAsked: lambda o, _: command_asked(o),
    CommandAnswered: lambda o, _: command_answered(o),
    CommandSettled: lambda o, _: f"That request for command of {o.incident.ref} is already settled.",
    SetupUnderWay: lambda o, _: f"The set-up of {o.incident.ref} is under way; give it a moment.",
    ActionAdded: _action_added,
    ActionClosed: _action_closed,
}


def command_asked(asked: CommandAsked) -> str:
    incident = asked.incident
    if asked.already:
        return f"You already asked {mention(asked.commander)} for command of {incident.ref}; waiting for the answer."
    if asked.error:
        return (
            f"Only {asked.who_may} may hand over command, and the request could not be sent to "
            f"{mention(asked.commander)} ({asked.error}): ask them in {channel_ref(incident)}."
        )
    return (
        f"Only {asked.who_may} may hand over command, so {mention(asked.commander)} is asked to hand it over to "
        "you; you will get a DM with the answer."
    )


def command_verdict(answered: CommandAnswered, by: str) -> str:
    """The DM to the one who asked for command."""
    return f"{mention(by)} {_verdict(answered)} {answered.incident.ref}."


def _verdict(answered: CommandAnswered) -> str:
    return "handed command of" if answered.handed_over else "kept command of"


def command_answered(answered: CommandAnswered) -> str:
    ref, asker = answered.incident.ref, mention(answered.requested_by)
    if answered.told_error:
        return f"You {_verdict(answered)} {ref}; {asker} could not be told ({answered.told_error})."
    return f"You {_verdict(answered)} {ref}" + (f" to {asker}." if answered.handed_over else ".")


def times_to_resolve(incident: Incident) -> tuple[str, str]:
    """(time to resolve, time to acknowledge) of a resolved incident, in words."""
    ack = incident.acknowledged_at
    tta = duration(incident.declared_at, ack) if ack else "never acknowledged"
    return duration(incident.declared_at, incident.resolved_at or incident.declared_at), tta


def already_declared(incident: Incident) -> str:
    return f"That declaration was already made: {incident.ref}, {channel_ref(incident)}."


def declared(
    incident: Incident, pages: list[Page], failures: list[str], *, shortened: bool, pagerduty: str | None
) -> tuple[str, Blocks | None]:
    """The reporter's answer once the set-up ran: where the incident is, who commands, who was paged."""
    text = f"Declared *{incident.ref}* ({incident.severity}): {channel_ref(incident)}."
    if shortened:
        text += (
            f" The title was longer than {MAX_TITLE} characters, so it is shortened to "
            f"“{mrkdwn(incident.title)}” and your full text is the incident's description."
        )
    if incident.commander != incident.reporter:
        text += f" Commander: {mention(incident.commander)}."
    paged = paged_line(pages, pagerduty)
    if paged:
        text += " " + paged
    return text, setup_failed(incident, failures) if failures else None


def set_up_again(incident: Incident, pages: list[Page], failures: list[str]) -> str:
    """The answer to *Retry set-up*, once the run is done."""
    if failures:
        return (f"{incident.ref}: Slack still refused: " + "; ".join(failures)).strip()
    return f"{incident.ref} is fully set up: {channel_ref(incident)}. {paged_line(pages)}".strip()


def update(incident: Incident, actor: str, text: str) -> str:
    """A status update, posted in the channel and broadcast in the announcement's thread."""
    return f":mega: *{incident.ref} update* from {mention(actor)}: {mrkdwn(text)}"


def postmortem_part(incident: Incident, n: int, of: int) -> str:
    return f"Post-mortem draft of {incident.ref}" + (f" (part {n} of {of})" if of > 1 else "")


def not_acknowledged(waited: str) -> str:
    """The reason given in an escalation page."""
    return f"Not acknowledged after {waited}; escalating to you"


def escalation_post(entry: str) -> str:
    return f":arrow_up: {escape(entry)}"


def paged_late(users: list[str]) -> str:
    return f":pager: Paged {', '.join(mention(u) for u in users)} (late)."
