"""Block Kit for runbooks, from plain values (no I/O). Long runbooks are paged, never cut."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.deploys.ids import PROD
from bot.deploys.ids import Action as DeployAction
from bot.opsconfig import Runbook
from bot.runbooks.ids import Action, RunStep, StepStatus
from bot.runbooks.models import Drill, Run, Step
from bot.slack.blocks import button, context, pieces, section
from bot.slack.blocks import clock_time as when
from bot.slack.blocks import when as day_time
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
    if run.drill and _step_action(step):
        text += f"\n{DRILL_NOT_FOR_REAL}"
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
                    *([] if run.drill else _step_action(step)),  # a drill rolls nothing back
                ],
            }
        )
        return blocks
    at = when(recorded.at, zone) + (f" (+{span(recorded.at - run.started_at)})" if run.drill else "")
    if recorded.status == StepStatus.DONE:
        blocks.append(context(f":white_check_mark: done by {mention(recorded.by_user)} at {at}"))
    else:
        blocks.append(
            context(f":fast_forward: skipped by {mention(recorded.by_user)} at {at}: {mrkdwn(recorded.reason or '')}")
        )
    return blocks


DRILL_NOT_FOR_REAL = "_In a drill this is not done for real (no button): press Done when you would have._"


def _step_action(step: dict[str, Any]) -> list[dict[str, Any]]:
    """A step's own button (config `action:`): `rollback` offers the rollback of prod, as `/rollback prod` does."""
    if step.get("action") == "rollback":
        return [button(f"Roll back {PROD}…", DeployAction.ROLLBACK_OFFER, PROD, "danger")]
    return []


def span(delta: timedelta) -> str:
    """`42m`, `1h 05m`, `2d 3h`: a drill's times."""
    minutes = max(0, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    if hours >= 48:
        return f"{hours // 24}d {hours % 24}h"
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def header(run: Run, recorded: dict[int, Step], incident_ref: str | None, page: int, pages: int) -> dict[str, Any]:
    done = len(recorded)
    text = (
        f":books: *Runbook: {escape(run.name)}* · started by {mention(run.started_by)} · "
        f"{done}/{len(run.steps)} steps recorded"
    )
    if run.drill:
        text = ":stopwatch: *Drill* · each step is timed from the start · " + text
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


# -- recovery: suggested, drilled ---------------------------------------------------------------------------------


def recovery_note(runbook: Runbook) -> str:
    """The kickoff's line when no prod deploy came before the incident."""
    return (
        f":ambulance: *Recovery:* no prod deploy in the 24 h before this incident: if the service needs recovering, "
        f"run *{escape(runbook.name)}* step by step: `/runbook {runbook.slug}`"
    )


def _verdict(met: bool | None) -> str:
    return "not told yet" if met is None else (":white_check_mark: met" if met else ":x: missed")


def drill_ask(run: Run, drill: Drill) -> tuple[str, Blocks]:
    """A drill's last step is recorded: its restore time, and the question of the restored data's age."""
    restore = drill.restore_time or timedelta(0)
    text = (
        f":stopwatch: Drill of *{escape(run.name)}*: every step recorded, restore time {span(restore)} "
        f"(RTO {span(drill.rto)}: {_verdict(drill.rto_met)}). How old is the restored data? "
        f"(RPO {span(drill.rpo)})"
    )
    action = button("Record the data age…", Action.DRILL_AGE, str(run.id), "primary")
    return text, [section(text), {"type": "actions", "block_id": f"drill:{run.id}", "elements": [action]}]


def data_age_modal(run: Run, rpo: timedelta) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": Action.DRILL_AGE_VIEW,
        "private_metadata": str(run.id),
        "title": {"type": "plain_text", "text": "Restored data's age"},
        "submit": {"type": "plain_text", "text": "Record"},
        "blocks": [
            section(
                f"Drill of *{escape(run.name)}*: how old was the newest data the restore brought back, when the "
                f"drill started? (RPO {span(rpo)})"
            ),
            {
                "type": "input",
                "block_id": "age",
                "label": {"type": "plain_text", "text": "Data age, or the newest restored row's time"},
                "hint": {"type": "plain_text", "text": "e.g. 2h, 45m, 1h30m, or 2026-12-01 04:00 (team time zone)"},
                "element": {"type": "plain_text_input", "action_id": "value", "max_length": 40},
            },
        ],
    }


def drill_result(run: Run, drill: Drill, recorded: dict[int, Step], *, here: bool = False) -> tuple[str, Blocks]:
    """The drill's result: restore time against RTO, data age against RPO, and when each step was recorded."""
    restore = drill.restore_time or timedelta(0)
    age = drill.data_age or timedelta(0)
    text = (
        f":stopwatch: *Drill: {escape(run.name)}* by {mention(drill.started_by)}: "
        f"restore time {span(restore)} against RTO {span(drill.rto)}: {_verdict(drill.rto_met)} · "
        f"data age {span(age)} against RPO {span(drill.rpo)}: {_verdict(drill.rpo_met)}"
    )
    steps = [
        f"{i + 1}. {escape(step['text'])}: "
        + (
            f"+{span(recorded[i].at - run.started_at)}"
            + (f" (skipped: {mrkdwn(recorded[i].reason or '')})" if recorded[i].status == StepStatus.SKIPPED else "")
            if i in recorded
            else "not recorded"
        )
        for i, step in enumerate(run.steps)
    ]
    told = f"Data age told by {mention(drill.data_age_by)}." if drill.data_age_by else ""
    if here:  # where the drill ran: say where else the result went
        told += (
            " Also in the monthly checklist's thread."
            if drill.monthly_post_id is not None
            else " No monthly checklist is posted yet: the result is only here."
        )
    told = told.strip()
    return text, [section(text), *(section(p) for p in pieces("\n".join(steps))), *([context(told)] if told else [])]


def drills(rows: list[Drill], names: dict[str, str], zone: ZoneInfo) -> str:
    """/runbook drills: the latest drills, newest first."""
    if not rows:
        return "No drills yet. `/runbook drill &lt;name&gt;` runs one (e.g. `/runbook drill db-recovery`)."
    lines = []
    for d in rows:
        name = escape(names.get(d.runbook, d.runbook))
        line = f"• {day_time(d.started_at, zone)} · *{name}* by {mention(d.started_by)} · "
        restore = d.restore_time
        if restore is None:
            lines.append(line + "not finished")
            continue
        line += f"restore {span(restore)} vs RTO {span(d.rto)}: {_verdict(d.rto_met)} · "
        age = f"{span(d.data_age)} " if d.data_age is not None else ""
        lines.append(line + f"data age {age}vs RPO {span(d.rpo)}: {_verdict(d.rpo_met)}")
    return "*Recovery drills* (newest first)\n" + "\n".join(lines)


def drill_offer(items: list[str], runbooks: list[Runbook], rto: timedelta, rpo: timedelta) -> tuple[str, Blocks]:
    """In the monthly checklist's thread: its backup test and recovery drill, offered as a timed drill."""
    named = " and ".join(f"*{escape(i)}*" for i in items)
    text = (
        f":stopwatch: {named}: run them as a drill. Each step is timed; at the end the restore time is held "
        f"against RTO {span(rto)} and the restored data's age against RPO {span(rpo)}, and the result is posted here."
    )
    buttons = [button(f"Start drill: {r.name}"[:75], f"{Action.DRILL_START}:{r.slug}", r.slug) for r in runbooks[:5]]
    return text, [section(text), {"type": "actions", "block_id": "drill_offer", "elements": buttons}]


NOT_FINISHED = "That drill is not finished: record its last step first."
BAD_AGE = "Say how old the data was (2h, 45m) or the newest restored row's time (2026-12-01 04:00)."
FUTURE_AGE = "That time is after the drill started: give the newest restored row's time, or the age (2h)."


def not_drillable(runbook: Runbook, drillable: list[str]) -> str:
    return (
        f"{escape(runbook.name)} is not a drill. Drills (config recovery.drills): "
        + (", ".join(f"`{s}`" for s in drillable) or "none")
        + "."
    )


def drill_started(name: str) -> str:
    return f"Drill of {escape(name)} started: record each step as you go; the clock runs from now."


def age_already_recorded(drill: Drill) -> str:
    """Plain text: it is also a form's error."""
    told = f" ({span(drill.data_age)})" if drill.data_age is not None else ""
    return f"That drill's data age was already recorded{told}."
