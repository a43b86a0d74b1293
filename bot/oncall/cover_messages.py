"""Words and Block Kit of urgent cover (`/oncall cover`), from plain values (no I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.oncall.ids import Action
from bot.oncall.messages import ROLE_TITLES, when, when_both, who
from bot.oncall.models import CoverRequest
from bot.rota.models import Override
from bot.slack.blocks import button, context, section

Blocks = list[dict[str, Any]]
TAKE = "I'll cover"


def minutes(span: timedelta) -> str:
    total = int(span.total_seconds() // 60)
    return f"{total} min" if total < 120 or total % 60 else f"{total // 60} h"


def request_line(c: CoverRequest, team: ZoneInfo) -> str:
    """`@alice needs cover for *primary* now, until …` (who is replaced, when a manager asked for them)."""
    line = f"{who(c.requested_by)} needs urgent cover for *{c.role}* now, until {when(c.ends_at, team)}"
    if c.replaced and c.replaced != c.requested_by:
        line += f" (the shift of {who(c.replaced)})"
    return line + "."


def request(c: CoverRequest, team: ZoneInfo, *, waited: timedelta | None = None) -> tuple[str, Blocks]:
    """The message with the button: to the rotation, the incidents channel, and (`waited`: nobody took it in
    that long) the manager."""
    text = f":sos: {request_line(c, team)}"
    if waited is not None:
        text = f"Nobody has taken this in {minutes(waited)}. {text}"
    blocks = [
        section(text),
        context(f"The first to press *{TAKE}* is on call as {c.role} at once, with no acceptance step."),
        {
            "type": "actions",
            "block_id": f"cover:{c.id}",
            "elements": [button(TAKE, Action.COVER_TAKE, str(c.id), "primary")],
        },
    ]
    return text, blocks


def outcome(c: CoverRequest, team: ZoneInfo, until: datetime | None = None) -> tuple[str, Blocks]:
    """What every request message becomes once it is taken, cancelled or over: who took it, or why not."""
    match c.status:
        case "taken":
            said = f":white_check_mark: Covered by {who(c.taken_by)} until {when(until or c.ends_at, team)}."
        case "cancelled":
            said = f"Cancelled by {who(c.closed_by)}: no cover needed."
        case _:
            said = f"Nobody took it; the request ended {when(c.ends_at, team)}."
    return said, [section(f"~{request_line(c, team)}~"), section(said)]


def asked(
    c: CoverRequest,
    team: ZoneInfo,
    viewer: ZoneInfo | None,
    *,
    reached: list[str],
    waiting: list[str],
    manager_after: timedelta,
    clipped: bool,
    manager: bool = True,
) -> str:
    """The asker's answer: who was asked, and what happens next."""
    lines = [f"Asked for urgent *{c.role}* cover until {when_both(c.ends_at, team, viewer)} (request #{c.id})."]
    if clipped:
        lines.append("That is where the shift ends: the next one is someone else's.")
    if reached:
        lines.append("Sent to " + ", ".join(reached) + f". The first to press *{TAKE}* is on call at once.")
    if waiting:
        lines.append("Not reached yet, retrying: " + ", ".join(waiting) + ".")
    if not manager and not reached and not waiting:
        lines.append("Nobody else in the rotation can be asked, and there is no manager to ask.")
    elif not manager:
        lines.append(f"There is no manager to ask: if nobody takes it within {minutes(manager_after)}, you hear so.")
    elif not reached and not waiting:
        lines.append("Nobody else in the rotation can be asked: the manager is asked now.")
    else:
        lines.append(f"Nobody within {minutes(manager_after)}: the on-call manager is asked.")
    lines.append("`/oncall cover cancel` calls it off.")
    return " ".join(lines)


def taken(c: CoverRequest, o: Override, team: ZoneInfo, viewer: ZoneInfo | None) -> str:
    return (
        f"You cover *{c.role}* for {who(c.replaced or c.requested_by)} until {when_both(o.ends_at, team, viewer)} "
        f"(override #{o.id}): you are on call now."
    )


def told(c: CoverRequest, o: Override, team: ZoneInfo, *, requester: bool) -> str:
    """The DM to the one who asked, or to the manager."""
    if requester:
        return (
            f"{who(c.taken_by)} took your request for *{c.role}* cover: on call until {when(o.ends_at, team)} "
            f"(override #{o.id})."
        )
    shift = f" for {who(c.replaced)}" if c.replaced else ""
    return (
        f"Urgent cover: {who(c.taken_by)} took *{ROLE_TITLES.get(c.role, c.role).lower()}*{shift} until "
        f"{when(o.ends_at, team)} (override #{o.id}), asked by {who(c.requested_by)}."
    )


def no_manager(c: CoverRequest, team: ZoneInfo) -> str:
    return (
        f"Nobody has taken your request for *{c.role}* cover (#{c.id}) and there is no manager to ask: nobody else "
        f"could be asked. It stays open until {when(c.ends_at, team)}; `/oncall cover cancel` calls it off."
    )


def nobody_took(c: CoverRequest, team: ZoneInfo) -> str:
    return (
        f"Nobody took your request for *{c.role}* cover (#{c.id}); it ended {when(c.ends_at, team)}. "
        "Whoever the rotation has is still on call."
    )


def not_delivered(c: CoverRequest, what: str) -> str:
    return f"Your request for *{c.role}* cover (#{c.id}): {what}. Tell them another way."


def closed(c: CoverRequest, team: ZoneInfo) -> str:
    """The answer to a press on a request that is no longer open."""
    match c.status:
        case "taken":
            return f"Too late: {who(c.taken_by)} already took this cover."
        case "cancelled":
            return f"This request was cancelled by {who(c.closed_by)}: no cover needed."
        case _:
            return f"This request ended {when(c.ends_at, team)}; nobody took it."
