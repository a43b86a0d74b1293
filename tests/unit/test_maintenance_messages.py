"""The maintenance checklist message and answers (bot/maintenance/messages.py, ids.py): no bot, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import NotFound
from bot.maintenance import messages
from bot.maintenance.ids import Action, parse_checklist_block, parse_task
from bot.maintenance.models import Item, Post

ZONE = ZoneInfo("UTC")
DUE = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def post(**changes: object) -> Post:
    values: dict = {
        "id": 4,
        "kind": "daily",
        "due_at": DUE,
        "items": ["Check backups", "Rotate <logs>"],
        "posted_at": DUE,
        "deadline_at": DUE + timedelta(hours=8),
        "late": False,
        "posted_by": None,
        "channel": "C0OPS",
        "ts": "1.1",
        "completed_at": None,
        "nudged_at": None,
    }
    return Post(**(values | changes))


ITEMS = [Item(0, None, "U0BOB", DUE + timedelta(hours=1)), Item(1, "U0CAROL", None, None)]


def test_the_checklist_shows_what_is_done_and_who_has_what() -> None:
    text, blocks = messages.checklist(post(), ITEMS, ZONE, DUE + timedelta(hours=2))
    assert text == "Daily maintenance checklist: 1/2 done"
    checkboxes = [b for b in blocks if b["type"] == "actions"]
    assert checkboxes[0]["block_id"].startswith("maint:4") and checkboxes[0]["elements"][0]["action_id"] == Action.CHECK
    assert [o["value"] for o in checkboxes[0]["elements"][0]["initial_options"]] == ["0"]
    assign = blocks[-1]["accessory"]
    assert assign["action_id"] == Action.ASSIGN and parse_task(assign["value"]) == (4, 1)
    assert "Rotate &lt;logs&gt; · assigned to <@U0CAROL>" in blocks[-1]["text"]["text"]


def test_late_and_overdue_checklists_say_so() -> None:
    _, blocks = messages.checklist(post(late=True), ITEMS, ZONE, DUE + timedelta(days=1))
    head = blocks[0]["text"]["text"]
    assert ":warning: Posted late" in head and ":alarm_clock: Past its deadline." in head
    assert messages.nudge(post(), ITEMS, ZONE) == (
        ":alarm_clock: The daily checklist was due by Mon 30 Nov 17:00 UTC; still open: "
        "Rotate &lt;logs&gt; (<@U0CAROL>)."
    )


def test_answers_and_the_weeks_missed_lines() -> None:
    assert messages.already_yours("Check backups") == "“Check backups” is already yours."
    assert messages.missed([], ZONE) == []
    lines = messages.missed([(post(), ITEMS)], ZONE)
    assert lines[0] == "*Missed maintenance (1)*" and lines[1].startswith("daily of ")


def test_ids_are_parsed_in_one_place() -> None:
    assert parse_checklist_block("maint:12") == 12
    assert parse_task("3:0") == (3, 0)
    for bad in ("maint:x", "deploy:1", ""):
        with pytest.raises(NotFound):
            parse_checklist_block(bad)
    with pytest.raises(NotFound):
        parse_task("3")
