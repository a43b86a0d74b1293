"""What the maintenance domain announces (bot/events.py): the other domains subscribe to these instead of being
called. Fields are facts (ids and values), never text: a subscriber reads what else it needs."""

from __future__ import annotations

from bot.events import Event


class ChecklistPosted(Event):
    """A maintenance checklist was recorded (once per kind and due time), committed; its Slack post follows."""

    topic = "maintenance.checklist_posted"
    post_id: int
    kind: str  # daily | weekly | monthly
    items: list[str]

    def key(self) -> str:
        return str(self.post_id)
