"""Runbook messages (bot/runbooks/messages.py, ids.py): paging long runbooks, step states, answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.errors import NotFound
from bot.runbooks import messages
from bot.runbooks.ids import Action, RunStep, StepStatus
from bot.runbooks.models import Run, Step

ZONE = ZoneInfo("UTC")
AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def run(steps: int = 3) -> Run:
    return Run(
        id=8,
        runbook="db-failover",
        name="DB <failover>",
        steps=[{"text": f"step {i}"} for i in range(steps)],
        channel="C0INC",
        messages=[],
        incident_id=None,
        started_by="U0BOB",
        started_at=AT,
        finished_at=None,
    )


def test_a_step_offers_done_and_skip_until_recorded() -> None:
    blocks = messages.step_blocks(run(), 1, None, ZONE)
    actions = blocks[-1]
    assert [e["action_id"] for e in actions["elements"]] == [Action.DONE, Action.SKIP]
    assert RunStep.parse(actions["elements"][0]["value"]) == RunStep(8, 1)
    done = messages.step_blocks(run(), 1, Step(1, StepStatus.DONE, None, "U0BOB", AT), ZONE)
    assert done[-1]["elements"][0]["text"] == ":white_check_mark: done by <@U0BOB> at 09:00 UTC"
    skipped = messages.step_blocks(run(), 1, Step(1, StepStatus.SKIPPED, "no replica", "U0BOB", AT), ZONE)
    assert "skipped by <@U0BOB> at 09:00 UTC: no replica" in skipped[-1]["elements"][0]["text"]


def test_a_long_runbook_is_paged_under_fifty_blocks_and_never_cut() -> None:
    pages = messages.pages(run(60), {}, ZONE, "INC-3")
    assert len(pages) > 1 and all(len(blocks) <= 50 for _, _, blocks in pages)
    assert pages[0][0] == 0 and pages[-1][1] == 59
    assert "page 1 of" in pages[0][2][0]["text"]["text"] and "part of INC-3" in pages[0][2][0]["text"]["text"]


def test_summary_counts_done_and_skipped() -> None:
    recorded = {
        0: Step(0, StepStatus.DONE, None, "U0BOB", AT),
        1: Step(1, StepStatus.SKIPPED, "not needed", "U0BOB", AT + timedelta(minutes=1)),
    }
    assert messages.summary(run(2), recorded, "3m") == (
        ":checkered_flag: Runbook *DB &lt;failover&gt;* finished in 3m: 1 done, 1 skipped (step 2: not needed)."
    )


def test_answers() -> None:
    assert messages.in_progress([]) == "No runbook runs in progress."
    assert "#8 *DB &lt;failover&gt;* in <#C0INC> · 1/3 steps" in messages.in_progress([(run(), 1, "5m")])
    assert messages.step_entry(run(), 0, StepStatus.SKIPPED, "why").startswith(
        "runbook DB &lt;failover&gt; step 1 skipped (why)"
    )
    with pytest.raises(NotFound):
        RunStep.parse("8")
