"""Block Kit for on-call, from plain values (no I/O)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.oncall.ids import Action
from bot.oncall.store import Override
from bot.opsconfig.contacts import EmergencyContact
from bot.rota.lookup import OnCall, Shift
from bot.rota.rotation import Week
from bot.slack.blocks import button, context, section
from bot.slack.blocks import when as _when
from bot.slack.text import escape, mention


def when(at: datetime, zone: ZoneInfo) -> str:
    return _when(at, zone, year=True)


ROLE_TITLES = {"primary": "Primary", "secondary": "Secondary", "manager": "Manager"}


def when_both(at: datetime, team: ZoneInfo, viewer: ZoneInfo | None) -> str:
    """Team time, and the viewer's own time when it differs."""
    text = when(at, team)
    if viewer is not None and at.astimezone(viewer).utcoffset() != at.astimezone(team).utcoffset():
        text += f" ({when(at, viewer)} your time)"
    return text


def who(user: str | None) -> str:
    if not user:
        return "_nobody_"
    return mention(user) if user[:1] in "UW" and "@" not in user else escape(user)


def shift_line(shift: Shift, team: ZoneInfo, viewer: ZoneInfo | None) -> str:
    line = f"*{ROLE_TITLES[shift.role]}:* {who(shift.user)}"
    if shift.until is not None:
        line += f" until {when_both(shift.until, team, viewer)}"
    if shift.override_id is not None:
        line += f" _(override #{shift.override_id})_"
    return line


def on_call(
    now: OnCall, team: ZoneInfo, viewer: ZoneInfo | None, *, title: str, roles: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    lines = "\n".join(shift_line(s, team, viewer) for s in now.shifts())
    blocks = [section(f"*{title}*\n{lines}")]
    if roles:  # the manual's words for each role, from the config (oncall.roles)
        meanings = [f"*{ROLE_TITLES.get(role, escape(role.title()))}:* {escape(text)}" for role, text in roles.items()]
        blocks.append(context("What each role means: " + " · ".join(meanings)))
    return [*blocks, context(f"Team time zone: {team.key}")]


def not_started(starts_at: datetime, team: ZoneInfo) -> str:
    return f"The rotation starts {when(starts_at, team)}; nobody is on call by rotation before then."


def schedule(weeks: list[Week], overrides: list[Override], team: ZoneInfo) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [section(f"*On-call schedule, next {len(weeks)} week(s)*")]
    for week in weeks:
        notes = [
            f"   ↳ override #{o.id}: {who(o.user_id)} as {o.role} {when(o.starts_at, team)} → {when(o.ends_at, team)}"
            for o in overrides
            if o.starts_at < week.ends_at and o.ends_at > week.starts_at
        ]
        text = (
            f"*{when(week.starts_at, team)} → {when(week.ends_at, team)}*\n"
            f"Primary {who(week.primary)} · Secondary {who(week.secondary)} · Manager {who(week.manager)}"
        )
        blocks.append(section("\n".join([text, *notes])))
    blocks.append(context(f"Team time zone: {team.key} · overrides win over the rotation"))
    return blocks[:50]


def override_line(o: Override, team: ZoneInfo) -> str:
    return f"#{o.id} {who(o.user_id)} as *{o.role}* from {when(o.starts_at, team)} until {when(o.ends_at, team)}"


def overrides(items: list[Override], team: ZoneInfo) -> str:
    if not items:
        return "No overrides now or ahead. Add one with `/oncall override @user &lt;role&gt; &lt;from&gt; &lt;to&gt;`."
    lines = [override_line(o, team) + f" _(by {who(o.created_by)})_" for o in items]
    return "*Overrides now and ahead*\n" + "\n".join(lines)


def now_on_call(now: OnCall, team: ZoneInfo, reason: str) -> tuple[str, list[dict[str, Any]]]:
    people = ", ".join(f"{s.role} {who(s.user)}" for s in now.shifts())
    text = f"Now on call: {people}"
    blocks = [
        section("*:rotating_light: Now on call*\n" + "\n".join(shift_line(s, team, None) for s in now.shifts())),
        context(reason),
    ]
    return text, blocks


def handoff_reminder(
    outgoing: OnCall, incoming: OnCall, handoff_at: datetime, team: ZoneInfo, summary: list[str]
) -> tuple[str, list[dict[str, Any]]]:
    rows = "\n".join(
        f"*{ROLE_TITLES[o.role]}:* {who(o.user)} → {who(i.user)}"
        for o, i in zip(outgoing.shifts(), incoming.shifts(), strict=True)
    )
    text = f"On-call handoff at {when(handoff_at, team)}"
    blocks = [
        section(f"*:handshake: On-call handoff at {when(handoff_at, team)}*\n{rows}"),
        section("*The week in review*\n" + ("\n".join(summary) if summary else "_Nothing to report._")),
        context("Handoff meeting at the handoff time. Outgoing: hand over open incidents and action items."),
    ]
    return text, blocks


def incoming_dm(shift: Shift, starts_at: datetime, team: ZoneInfo, viewer: ZoneInfo | None, kit: list[str]) -> str:
    lines = [
        f"Heads-up: you are on call as *{shift.role}* from {when_both(starts_at, team, viewer)}"
        + (f" until {when_both(shift.until, team, viewer)}." if shift.until else "."),
    ]
    if kit:
        lines.append("On-call kit: " + "; ".join(escape(k) for k in kit) + ".")
    return "\n".join(lines)


def override_request(o: Override, team: ZoneInfo) -> tuple[str, list[dict[str, Any]]]:
    """The DM to the engineer whose shift someone asks to take."""
    text = f"{who(o.created_by)} asks to take your *{o.role}* shift: {override_line(o, team)}."
    buttons = {
        "type": "actions",
        "block_id": f"override:{o.id}",
        "elements": [
            button("Accept", Action.OVERRIDE_ACCEPT, str(o.id), "primary"),
            button("Decline", Action.OVERRIDE_DECLINE, str(o.id)),
        ],
    }
    return text, [section(text), context("It counts only once you accept it."), buttons]


def contacts(people: list[EmergencyContact]) -> str:
    """The emergency contact list (config text: raw, escaped once); phones and emails as links."""
    if not people:
        return (
            "*Emergency contacts*\nNone are configured yet: add them under `oncall.contacts` in the ops config "
            "(name, role, phone, email)."
        )
    lines = []
    for c in people:
        ways = []
        if c.phone:
            ways.append(f"<tel:{c.dial}|{escape(c.phone)}>")
        if c.email:
            ways.append(f"<mailto:{escape(c.email)}|{escape(c.email)}>")
        lines.append(f"• *{escape(c.name)}*, {escape(c.role)}: " + " · ".join(ways))
    heading = (
        "*Emergency contacts* (the on-call kit; for the rotation, whoever is on call and the incident managers only)"
    )
    return heading + "\n" + "\n".join(lines)
