"""Names of the maintenance domain, each built and parsed here: action ids, job names, block ids, button values."""

from __future__ import annotations

from enum import StrEnum

from bot.errors import NotFound
from bot.slack.text import whole_number

KINDS = ("daily", "weekly", "monthly")  # the manual's checklists (config maintenance.checklists)


class Action(StrEnum):
    CHECK = "maintenance_check"  # block id: maint:<post id>[:partN]
    ASSIGN = "maintenance_assign"  # value: <post id>:<item index>


class Job(StrEnum):
    OVERDUE = "maintenance.overdue"  # key <post id>: one nudge when the deadline passes with tasks open
    # The recurring jobs that post each checklist on its schedule (posted(kind) picks one).
    DAILY = "maintenance.daily"
    WEEKLY = "maintenance.weekly"
    MONTHLY = "maintenance.monthly"


def posted(kind: str) -> Job:
    """The recurring job that posts a checklist on its schedule."""
    return Job(f"maintenance.{kind}")


def checklist_block(post_id: int) -> str:
    return f"maint:{post_id}"


def parse_checklist_block(block_id: str) -> int:
    """`maint:<post id>` (without the part suffix) -> the post's id."""
    if not block_id.startswith("maint:") or whole_number(block_id[6:]) is None:
        raise NotFound("That checklist does not exist.")
    return int(block_id[6:])


def task_value(post_id: int, item: int) -> str:
    """An Assign button's value: `<post id>:<item index>`."""
    return f"{post_id}:{item}"


def parse_task(value: str | None) -> tuple[int, int]:
    """`<post id>:<item index>` -> (post id, item index)."""
    post, _, item = (value or "").partition(":")
    post_id, index = whole_number(post), whole_number(item, 10_000)
    if post_id is None or index is None:
        raise NotFound("That task is not on a checklist.")
    return post_id, index
