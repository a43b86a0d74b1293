"""Block Kit for runbooks, from plain values (no I/O). Long runbooks are paged, never cut."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from bot.opsconfig import Runbook
from bot.runbooks.ids import Action, RunStep, StepStatus
from bot.runbooks.models import Run, Step
from bot.slack.blocks import clock_time as when
from bot.slack.blocks import context, pieces, section
from bot.slack.text import escape, mention, mrkdwn

Blocks = list[dict[str, Any]]
MAX_BLOCKS = 50


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
    value = RunStep(run.id, index).value()
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
                        "action_id": Action.DONE,
                        "value": value,
                    },
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Skip…"},
                        "action_id": Action.SKIP,
                        "value": value,
                    },
                ],
            }
        )
    elif recorded.status == StepStatus.DONE:
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
    first = 0
    body: Blocks = []
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
    done = sum(1 for s in recorded.values() if s.status == StepStatus.DONE)
    skipped = [s for s in recorded.values() if s.status == StepStatus.SKIPPED]
    text = f":checkered_flag: Runbook *{escape(run.name)}* finished in {duration}: {done} done, {len(skipped)} skipped"
    if skipped:
        text += " (" + "; ".join(f"step {s.step + 1}: {mrkdwn(s.reason or '')}" for s in skipped) + ")"
    return text + "."


def skip_modal(run: Run, index: int) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": Action.SKIP_VIEW,
        "private_metadata": RunStep(run.id, index).value(),
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


# -- answers -----------------------------------------------------------------------------------------------------

NO_CHANNEL = "Start a runbook from a channel."
NO_STEP = "That step is not part of a runbook run."


def no_runbook(name: str, suggestion: Runbook | None) -> str:
    if suggestion is not None:
        return f"There is no runbook `{mrkdwn(name)}`. Did you mean `{suggestion.slug}` ({escape(suggestion.name)})?"
    return f"There is no runbook `{mrkdwn(name)}`; `/runbook` lists them."


def already_started(name: str) -> str:
    return f"That run of {escape(name)} was already started."


def not_posted(run_id: int, error: str) -> str:
    return (
        f"The run is recorded (#{run_id}) but Slack refused to post it here: {error}. "
        "Invite the bot to this channel and start it again."
    )


def already_recorded(index: int, recorded: Step) -> str:
    return f"Step {index + 1} was already {recorded.status} by <@{recorded.by_user}>."


def message_text(name: str) -> str:
    """The notification text of a run's messages."""
    return f"Runbook: {escape(name)}"


# -- the incident timeline (plain text, stored as mrkdwn) -----------------------------------------------------------


def started_entry(name: str) -> str:
    return f"runbook {escape(name)} started"


def step_entry(run: Run, index: int, status: str, reason: str | None) -> str:
    what = "done" if status == StepStatus.DONE else f"skipped ({reason})"
    return f"runbook {escape(run.name)} step {index + 1} {what}: {escape(run.steps[index]['text'])}"


def finished_entry(run: Run) -> str:
    return f"runbook {escape(run.name)} finished"


def in_progress(runs: list[tuple[Run, int, str]]) -> str:
    """/runbook runs: (run, steps recorded, how long ago it started)."""
    if not runs:
        return "No runbook runs in progress."
    lines = [
        f"• #{run.id} *{escape(run.name)}* in <#{run.channel}> · {recorded}/{len(run.steps)} steps · started by "
        f"<@{run.started_by}> {ago} ago"
        for run, recorded, ago in runs
    ]
    return "*Runbook runs in progress*\n" + "\n".join(lines)
