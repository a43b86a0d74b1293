"""Block Kit for the maintenance checklists, from plain values (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.maintenance.ids import Action, checklist_block, task_value
from bot.maintenance.models import Item, Post
from bot.slack.blocks import checkbox_groups, context, option_text, section, when
from bot.slack.text import escape, mention

TITLES = {"daily": "Daily", "weekly": "Weekly", "monthly": "Monthly"}


def checklist(post: Post, items: list[Item], zone: ZoneInfo, now: datetime) -> tuple[str, list[dict[str, Any]]]:
    title = f"{TITLES.get(post.kind, post.kind)} maintenance checklist"
    done = [i for i in items if i.done_by]
    head = (
        f":broom: *{title}* · {when(post.due_at, zone)} · due by {when(post.deadline_at, zone)} · "
        f"{len(done)}/{len(items)} done"
    )
    if post.late:
        head += f"\n:warning: Posted late ({when(post.posted_at, zone)}): the bot was down when it was due."
    if post.posted_by:
        head += f"\nPosted by {mention(post.posted_by)}."
    if post.completed_at:
        head += f"\n:white_check_mark: Completed {when(post.completed_at, zone)}."
    elif now > post.deadline_at:
        head += "\n:alarm_clock: Past its deadline."
    options, selected = [], []
    for item in items:
        option: dict[str, Any] = {
            "text": {"type": "mrkdwn", "text": option_text(post.items[item.item])},
            "value": str(item.item),
        }
        if item.done_by and item.done_at:
            ticked = f"{mention(item.done_by)} · {when(item.done_at, zone)}"
            if item.note:  # the bot says what it checked (raw text, cut to the option's 75 characters)
                ticked = option_text(f"{item.note} · {when(item.done_at, zone)}")
            option["description"] = {"type": "mrkdwn", "text": ticked}
            selected.append(option)
        options.append(option)
    blocks = [section(head), *checkbox_groups(checklist_block(post.id), Action.CHECK, options, selected)]
    still_open = [item for item in items if not item.done_by]
    room = 50 - len(blocks) - 1  # Slack's 50 blocks, one kept for saying what did not fit
    if len(still_open) > room:
        shown = ", ".join(escape(post.items[i.item]) for i in still_open[room:])
        blocks.append(
            context(f"{len(still_open) - room} more open tasks (tick them above; no room for their buttons): {shown}")
        )
        still_open = still_open[:room]
    for item in still_open:
        who = f"assigned to {mention(item.assignee)}" if item.assignee else "_unassigned_"
        blocks.append(
            section(
                f"{escape(post.items[item.item])} · {who}",
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Assign to me"},
                    "action_id": Action.ASSIGN,
                    "value": task_value(post.id, item.item),
                },
            )
        )
    return f"{title}: {len(done)}/{len(items)} done", blocks


def open_items(post: Post, items: list[Item]) -> list[str]:
    return [
        escape(post.items[i.item]) + (f" ({mention(i.assignee)})" if i.assignee else "") for i in items if not i.done_by
    ]


def nudge(post: Post, items: list[Item], zone: ZoneInfo) -> str:
    left = open_items(post, items)
    return (
        f":alarm_clock: The {post.kind} checklist was due by {when(post.deadline_at, zone)}; still open: "
        + "; ".join(left)
        + "."
    )


def overview(
    rows: Sequence[tuple[str, Post | None, list[Item], datetime | None]], zone: ZoneInfo, now: datetime
) -> str:
    lines = ["*Maintenance checklists*"]
    for kind, post, items, next_due in rows:
        title = TITLES.get(kind, kind)
        nxt = f" · next {when(next_due, zone)}" if next_due else ""
        if post is None:
            lines.append(f"• *{title}*: not posted yet{nxt}")
            continue
        done = sum(1 for i in items if i.done_by)
        state = (
            "complete"
            if post.completed_at
            else ("*overdue*" if now > post.deadline_at else f"due by {when(post.deadline_at, zone)}")
        )
        lines.append(f"• *{title}* of {when(post.due_at, zone)}: {done}/{len(items)} done, {state}{nxt}")
        left = open_items(post, items)
        if left and not post.completed_at:
            lines.append("   open: " + "; ".join(left))
    return "\n".join(lines)


# -- answers -----------------------------------------------------------------------------------------------------


def not_a_checklist(kind: str) -> str:
    return f"`{kind}` is not a maintenance checklist: use daily, weekly or monthly"


def not_posted(kind: str, error: str) -> str:
    return f"The {kind} checklist is recorded but Slack refused to post it: {error}."


def posted(kind: str, channel: str, post: Post, zone: ZoneInfo) -> str:
    return f"The {kind} checklist is posted in {channel} (due by {when(post.deadline_at, zone)})."


def already_yours(task: str) -> str:
    return f"“{task}” is already yours."


def assigned(task: str) -> str:
    return f"“{task}” is assigned to you."


def missed(posts: list[tuple[Post, list[Item]]], zone: ZoneInfo) -> list[str]:
    """The handoff summary's lines: checklists whose deadline passed with tasks still open."""
    if not posts:
        return []
    lines = [f"*Missed maintenance ({len(posts)})*"]
    for post, items in posts:
        lines.append(f"{post.kind} of {when(post.due_at, zone)}: " + "; ".join(open_items(post, items)))
    return lines
