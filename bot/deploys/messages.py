"""Block Kit for deploys and rollbacks, from plain values (no I/O). User text is escaped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.deploys.ids import STAGING, Action, Checklist, Kind, RollbackOffer, Status, checklist_block
from bot.deploys.models import Deploy, Pin
from bot.opsconfig import CheckItem, OpsConfig
from bot.slack.blocks import button, checkbox_groups, context, option_text, section, when
from bot.slack.blocks import confirm_dialog as confirm
from bot.slack.text import escape, mention, mrkdwn, plain, truncate

Blocks = list[dict[str, Any]]
Ticks = dict[tuple[str, str], tuple[str, datetime]]
STATUS = {
    Status.PENDING: ":hourglass_flowing_sand: waiting for the checklist",
    Status.RUNNING: ":arrows_clockwise: deploying",
    Status.SUCCEEDED: ":white_check_mark: deployed",
    Status.FAILED: ":x: failed",
    Status.CANCELLED: ":no_entry_sign: cancelled",
}


def checklist(
    deploy: Deploy, list_name: str, items: list[CheckItem], ticks: Ticks, zone: ZoneInfo, title: str
) -> Blocks:
    options, selected = [], []
    for item in items:
        option: dict[str, Any] = {"text": {"type": "mrkdwn", "text": option_text(item.text)}, "value": item.id}
        if (list_name, item.id) in ticks:
            who, at = ticks[(list_name, item.id)]
            # "bot:<what>" is a tick the bot measured (the rollback check): it shows the figure.
            by = "the announcement" if who == "bot" else escape(who[4:]) if who.startswith("bot:") else mention(who)
            option["description"] = {"type": "mrkdwn", "text": f"{by} · {when(at, zone)}"}
            selected.append(option)
        options.append(option)
    done = sum(1 for i in items if (list_name, i.id) in ticks)
    return [
        section(f"*{title}* ({done}/{len(items)})"),
        *checkbox_groups(checklist_block(deploy.id, list_name), f"{Action.CHECK}:{list_name}", options, selected),
    ]


def _headline(deploy: Deploy, zone: ZoneInfo) -> list[str]:
    what = "Rollback" if deploy.kind == Kind.ROLLBACK else "Deploy"
    lines = [
        f"*{what} #{deploy.id}: `{escape(deploy.version)}` → {deploy.environment}* · {STATUS[deploy.status]}",
        f"Requested by {mention(deploy.requested_by)} at {when(deploy.created_at, zone)}",
    ]
    if deploy.forced_reason:
        lines.append(
            f":warning: *Staging validation overridden* by {mention(deploy.requested_by)}: "
            f"{mrkdwn(deploy.forced_reason)}"
        )
    if deploy.reason:
        lines.append(f"*Reason:* {mrkdwn(deploy.reason)}")
    if deploy.started_at and deploy.started_by:
        lines.append(f"Started by {mention(deploy.started_by)} at {when(deploy.started_at, zone)}")
    if deploy.finished_at:
        lines.append(
            f"Finished {when(deploy.finished_at, zone)}"
            + (f" ({escape(deploy.finished_by)})" if deploy.finished_by else "")
            + (f" · <{deploy.url}|pipeline run>" if deploy.url else "")
            + (f" · {mrkdwn(deploy.detail)}" if deploy.detail else "")
        )
    return lines


def _mark_buttons(value: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            button("Mark deployed", Action.MARK_DEPLOYED, value, "primary"),
            button("Mark failed", Action.MARK_FAILED, value, "danger"),
        ],
    }


def _running(deploy: Deploy, config: OpsConfig) -> Blocks:
    value = str(deploy.id)
    if deploy.outcome_unknown_at:
        return [
            section(
                ":warning: *Outcome unknown: check CI.* The bot stopped while calling the pipeline. "
                "Check the pipeline, then say how it went (a late report from the pipeline counts too):"
            ),
            _mark_buttons(value),
        ]
    if not config.deploy.webhook_url:
        command = config.deploy.commands.get("rollback" if deploy.kind == Kind.ROLLBACK else deploy.environment, "")
        return [
            section(f"Run it now: `{escape(command)}` (version `{escape(deploy.version)}`), then say how it went:"),
            _mark_buttons(value),
        ]
    return [context("The pipeline was triggered; this message changes when it reports back.")]


def _succeeded(deploy: Deploy, config: OpsConfig, ticks: Ticks, zone: ZoneInfo) -> Blocks:
    if deploy.kind == Kind.ROLLBACK:
        return checklist(deploy, Checklist.VERIFY, config.rollback.verify, ticks, zone, "Verify the rollback")
    if deploy.environment == STAGING:
        blocks = checklist(
            deploy, Checklist.STAGING, config.deploy.staging_validation, ticks, zone, "Staging validation"
        )
        if deploy.validated_at:
            blocks.append(
                context(
                    f":white_check_mark: `{escape(deploy.version)}` is validated on staging "
                    f"({when(deploy.validated_at, zone)}): it may go to prod."
                )
            )
        return blocks
    blocks = checklist(
        deploy, Checklist.POST, config.deploy.post_deploy_validation, ticks, zone, "Post-deployment validation"
    )
    if deploy.watch_until and not deploy.watch_result:
        blocks.append(
            context(
                f":eyes: Watch window open until {when(deploy.watch_until, zone)}: alerts that start in it "
                "are linked to this deploy."
            )
        )
    elif deploy.watch_result:
        blocks.append(context(f"Watch window closed: {escape(deploy.watch_result)}"))
    return blocks


def announcement(deploy: Deploy, config: OpsConfig, ticks: Ticks, zone: ZoneInfo) -> tuple[str, Blocks]:
    blocks: Blocks = [section("\n".join(_headline(deploy, zone)))]
    if deploy.kind == Kind.DEPLOY:
        blocks += checklist(
            deploy, Checklist.PRE, config.deploy.pre_deploy_checklist, ticks, zone, "Pre-deployment checklist"
        )
    match deploy.status:
        case Status.PENDING:
            start = button("Start deploy", Action.START, str(deploy.id), "primary")
            blocks.append({"type": "actions", "elements": [start, button("Cancel", Action.CANCEL, str(deploy.id))]})
        case Status.RUNNING:
            blocks += _running(deploy, config)
        case Status.SUCCEEDED:
            blocks += _succeeded(deploy, config, ticks, zone)
    what = "Rollback" if deploy.kind == Kind.ROLLBACK else "Deploy"
    text = f"{what} #{deploy.id} of {deploy.version} to {deploy.environment}: {deploy.status}"
    return text, blocks


def pin_line(pin: Pin, zone: ZoneInfo) -> str:
    """`prod pinned to v1 (rolled back from v2 on Wed 25 Nov 04:00 CET, INC-3)`: what a held pin says wherever it
    is shown (deploy status, App Home, the handoff, an incident's kickoff)."""
    since = when(pin.pinned_at or pin.created_at, zone)
    where = pin.incident_ref or "no incident"
    owner = f"fix forward or revert: {mention(pin.owner)}" + (
        f" ({pin.incident_ref} action item)" if pin.incident_ref else " (noted in the deploy thread)"
    )
    return (
        f":pushpin: *{pin.environment}* pinned to `{escape(pin.version)}` (rolled back from "
        f"`{escape(pin.from_version)}` on {since}, {where}) · {owner} · a deploy of another version clears it"
    )


def status(
    current: dict[str, Deploy | None],
    active: dict[str, Deploy | None],
    watches: list[Deploy],
    zone: ZoneInfo,
    pins: list[Pin] | None = None,
) -> str:
    lines = ["*What runs where*"]
    for env, dep in current.items():
        lines.append(
            f"• *{env}*: "
            + (
                f"`{escape(dep.version)}` since {when(dep.finished_at, zone)} ({mention(dep.requested_by)})"
                if dep and dep.finished_at
                else "_unknown_"
            )
        )
        lines += [f"   ↳ {pin_line(p, zone)}" for p in pins or [] if p.environment == env]
        holder = active.get(env)
        if holder:
            lines.append(
                f"   ↳ in progress: {holder.ref} ({holder.status}) by {mention(holder.requested_by)} "
                f"since {when(holder.created_at, zone)}"
            )
    if watches:
        lines.append("*Open watch windows*")
        lines += [f"• {w.ref} until {when(w.watch_until, zone)}" for w in watches if w.watch_until]
    return "\n".join(lines)


def history(deploys: list[Deploy], zone: ZoneInfo) -> str:
    if not deploys:
        return "No deploys yet."
    lines = [
        f"• {when(d.created_at, zone)} · {d.ref} · {d.status} · {mention(d.requested_by)}"
        + (" · forced" if d.forced_reason else "")
        for d in deploys
    ]
    return "*Deploy history*\n" + "\n".join(lines)


@dataclass(frozen=True)
class Prompt:
    """What prompted a rollback offer: the reason typed after `/rollback <env>`, the manual's criterion it meets
    (picked in advance), and a note (raw text) on what saw it, e.g. an alert."""

    reason: str | None = None
    criterion: str | None = None
    note: str | None = None


def rollback_offer(env: str, current: Deploy, target: Deploy, config: OpsConfig, prompt: Prompt) -> Blocks:
    """The rollback question: the reasons to pick from, the one `prompt` names picked; the confirm button."""
    reason, note = prompt.reason, prompt.note
    options = [
        {"text": {"type": "plain_text", "text": truncate(c.text, 75)}, "value": c.id} for c in config.rollback.criteria
    ]
    if reason:
        options.append(
            {"text": {"type": "plain_text", "text": truncate(f"Other: {plain(reason)}", 75)}, "value": "other"}
        )
    identify = " · ".join(escape(x) for x in config.rollback.identify)
    value = RollbackOffer(env, current.id, target.version, reason or "").value()
    # Radio buttons hold 10 options; a longer list of criteria becomes a menu (100), never cut.
    kind = "radio_buttons" if len(options) <= 10 else "static_select"
    radio: dict[str, Any] = {"type": kind, "action_id": Action.ROLLBACK_REASON, "options": options}
    if kind == "static_select":
        radio["placeholder"] = {"type": "plain_text", "text": "Pick the reason"}
    if reason:
        radio["initial_option"] = options[-1]
    chosen = next((o for o in options if prompt.criterion and o["value"] == prompt.criterion), None)
    if chosen:
        radio["initial_option"] = chosen
    prompted = f"\n{escape(note)}" if note else ""
    since = when(current.finished_at, config.oncall.zone) if current.finished_at else "?"
    return [
        section(
            f"*Roll back {env}?* It runs `{escape(current.version)}` (since "
            f"{since}); the last good version before it is "
            f"`{escape(target.version)}`.{prompted}\nFirst: {identify}.\n*Roll back when* (pick the reason):"
        ),
        {"type": "actions", "block_id": "rollback_reason", "elements": [radio]},
        {
            "type": "actions",
            "elements": [
                button(
                    f"Roll back to {target.version}",
                    Action.ROLLBACK_CONFIRM,
                    value,
                    "danger",
                    confirm(
                        f"Roll back {env}?",
                        f"{env} goes from `{escape(current.version)}` back to `{escape(target.version)}` now.",
                        "Roll back",
                    ),
                )
            ],
        },
    ]


def watch_breach(deploy: Deploy, met: list[tuple[str, str]]) -> str:
    """The watch's alarm: each rollback criterion the figures meet (the config's text) with what was measured
    (`error rate 20% > 10%`); both raw, escaped here once, so `>` reads `&gt;` throughout."""
    named = "; ".join(f"*{escape(criterion)}*: {escape(measured)}" for criterion, measured in met)
    return f":rotating_light: {deploy.ref} meets the manual's rollback criteria: {named}"


def watch_reminder(deploy: Deploy, zone: ZoneInfo, measured: str | None = None) -> tuple[str, Blocks]:
    value = str(deploy.id)
    text = f"The watch of {deploy.ref} is over. Healthy?"
    return text, [
        section(
            f":eyes: *Watch window of {deploy.ref} is over* ({when(deploy.watch_until or deploy.created_at, zone)})."
            + (f"\n{measured}" if measured else "")
            + "\nError rates, key metrics, feature flags and critical paths checked?"
        ),
        {
            "type": "actions",
            "elements": [
                button("Healthy", Action.HEALTHY, value, "primary"),
                button(
                    "Roll back",
                    Action.ROLL_BACK,
                    value,
                    "danger",
                    confirm(
                        f"Roll back {deploy.environment}?",
                        f"{deploy.environment} goes back to the version before `{escape(deploy.version)}`.",
                        "Roll back",
                    ),
                ),
            ],
        },
    ]


def _actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


def not_ticked(missing: list[str]) -> str:
    return f"{len(missing)} pre-deployment item(s) are not ticked: " + "; ".join(missing)


def start_anyway(deploy: Deploy, missing: list[str]) -> tuple[str, Blocks]:
    """The question when a staging deploy starts with items not ticked."""
    text = f"{len(missing)} checklist item(s) are not ticked: {'; '.join(missing)}. Start anyway?"
    really = confirm(
        "Start with an incomplete checklist?", f"{deploy.environment}: {len(missing)} item(s) not ticked.", "Start"
    )
    return text, [
        section(not_ticked(missing)),
        _actions(button("Start anyway", Action.START_ANYWAY, str(deploy.id), "danger", really)),
    ]
