"""Block Kit for runbooks, from plain values (no I/O). Long runbooks are paged, never cut."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from bot.opsconfig import Runbook
from bot.runbooks.store import Run, Step
from bot.slack.blocks import clock_time as when
from bot.slack.blocks import context, pieces, section
from bot.slack.text import escape, mention, mrkdwn

Blocks = list[dict[str, Any]]
MAX_BLOCKS = 50
DONE, SKIP, SKIP_VIEW = "runbook_done", "runbook_skip", "runbook_skip_reason"


def listing(runbooks: list[Runbook]) -> str:
    lines = [
        f"• `{r.slug}` *{escape(r.name)}* ({len(r.steps)} steps)"
        + (f" · for alerts: {', '.join(escape(a) for a in r.alerts)}" if r.alerts else "")
        for r in runbooks
    ]
    return "*Runbooks* (`/runbook &lt;name&gt;` runs one step by step)\n" + "\n".join(lines)


def step_blocks(run: Run, index: int, recorded: Step | None, zone: ZoneInfo) -> Blocks:
    step = run.steps[index]
    text = f"*{index + 1}.* {escape(step['text'])}"
    if step.get("command"):
        text += f"\n```{escape(step['command'])}```"
    if step.get("link"):
        text += f"\n<{step['link']}|more>"
    blocks = [section(p) for p in pieces(text)]
    value = f"{run.id}:{index}"
    if recorded is None:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"run:{value}",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Done"},
                        "style": "primary",
                        "action_id": DONE,
                        "value": value,
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Skip…"},
                        "action_id": SKIP,
                        "value": value,
                    },
                ],
            }
        )
    elif recorded.status == "done":
        blocks.append(context(f":white_check_mark: done by {mention(recorded.by_user)} at {when(recorded.at, zone)}"))
    else:
        blocks.append(
            context(
                f":fast_forward: skipped by {mention(recorded.by_user)} at {when(recorded.at, zone)}: "
                f"{mrkdwn(recorded.reason or '')}"
            )
        )
    return blocks


def header(run: Run, recorded: dict[int, Step], incident_ref: str | None, page: int, pages: int) -> dict[str, Any]:
    done = len(recorded)
    text = (
        f":books: *Runbook: {escape(run.name)}* · started by {mention(run.started_by)} · "
        f"{done}/{len(run.steps)} steps recorded"
    )
    if incident_ref:
        text += f" · part of {incident_ref}"
    if pages > 1:
        text += f" · page {page + 1} of {pages}"
    return section(text)


def pages(
    run: Run, recorded: dict[int, Step], zone: ZoneInfo, incident_ref: str | None
) -> list[tuple[int, int, Blocks]]:
    """[(first step, last step, blocks)]: as many messages as it takes to stay under 50 blocks each."""
    packed: list[tuple[int, int, Blocks]] = []
    first, body = 0, []
    for i in range(len(run.steps)):
        blocks = step_blocks(run, i, recorded.get(i), zone)
        if body and len(body) + len(blocks) > MAX_BLOCKS - 1:
            packed.append((first, i - 1, body))
            first, body = i, []
        body.extend(blocks)
    packed.append((first, len(run.steps) - 1, body))
    return [
        (a, b, [header(run, recorded, incident_ref, n, len(packed)), *blocks])
        for n, (a, b, blocks) in enumerate(packed)
    ]


def summary(run: Run, recorded: dict[int, Step], duration: str) -> str:
    done = sum(1 for s in recorded.values() if s.status == "done")
    skipped = [s for s in recorded.values() if s.status == "skipped"]
    text = f":checkered_flag: Runbook *{escape(run.name)}* finished in {duration}: {done} done, {len(skipped)} skipped"
    if skipped:
        text += " (" + "; ".join(f"step {s.step + 1}: {mrkdwn(s.reason or '')}" for s in skipped) + ")"
    return text + "."


def skip_modal(run: Run, index: int) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": SKIP_VIEW,
        "private_metadata": f"{run.id}:{index}",
        "title": {"type": "plain_text", "text": "Skip a step"},
        "submit": {"type": "plain_text", "text": "Skip it"},
        "blocks": [
            section(f"*{index + 1}.* {escape(run.steps[index]['text'])[:2900]}"),
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Why skip it?"},
                "element": {"type": "plain_text_input", "action_id": "value", "max_length": 500},
            },
        ],
    }
