"""The words and Block Kit of the status domain, from plain values (no I/O).

Stakeholder posts are plain language for people outside the incident: no channel, no commander, no internal
title, no timeline; what is affected, what is being done, when they will hear next.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.incidents.models import Incident, duration
from bot.opsconfig import OpsConfig
from bot.slack.blocks import button, clock_time, context, section, when
from bot.slack.text import escape, mention
from bot.status import text as slacktext
from bot.status.ids import Action, Block, Confirmation, Public, View
from bot.status.models import Published, Update

Blocks = list[dict[str, Any]]
MAX_TITLE = 150


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _option(label: str, value: str) -> dict[str, Any]:
    return {"text": _plain(label[:75]), "value": value}


def status_options() -> list[dict[str, Any]]:
    return [_option(s.label, s.value) for s in Public]


def publish_modal(incident: Incident, config: OpsConfig, body: str, status: str, channel: str | None) -> dict[str, Any]:
    """The first publication's form: public title, public status, affected components, and a preview."""
    default_title = slacktext.plain(incident.title)[:MAX_TITLE]
    statuses = status_options()
    components = [_option(c.name, c.id) for c in config.components]
    preview = f"*{escape(default_title)}* — {Public(status).label}\n{slacktext.mrkdwn(body)}"
    blocks: Blocks = [
        section(
            f"Publish about *{incident.ref}* on the public status page. Nothing about this incident is public "
            "until you press *Publish*; stakeholders hear about it too."
        ),
        {
            "type": "input",
            "block_id": Block.TITLE,
            "label": _plain("Public title"),
            "hint": _plain("What the public sees; the incident's own title stays internal."),
            "element": {
                "type": "plain_text_input",
                "action_id": "value",
                "initial_value": default_title,
                "max_length": MAX_TITLE,
            },
        },
        {
            "type": "input",
            "block_id": Block.STATUS,
            "label": _plain("Public status"),
            "element": {
                "type": "radio_buttons",
                "action_id": "value",
                "options": statuses,
                "initial_option": next(o for o in statuses if o["value"] == status),
            },
        },
    ]
    if components:
        blocks.append(
            {
                "type": "input",
                "block_id": Block.COMPONENTS,
                "label": _plain("Affected components"),
                "element": {"type": "checkboxes", "action_id": "value", "options": components},
            }
        )
    blocks += [
        {"type": "header", "text": _plain("Preview")},
        section(preview),
        context(
            "The update text is the one you typed after `/incident public`, as the public will read it: mentions "
            "as names, channels as #names, no Slack ids. The status page shows it as plain text."
        ),
    ]
    return {
        "type": "modal",
        "callback_id": View.PUBLISH,
        "title": _plain("Status page"),
        "submit": _plain("Publish"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps({"incident": incident.id, "body": body, "channel": channel}, ensure_ascii=False),
        "blocks": blocks,
    }


def update_preview(published: Published, confirmation: Confirmation) -> tuple[str, Blocks]:
    """The ephemeral preview of a later update: the text as the public will read it, *Publish* or *Edit*."""
    status = Public(confirmation.status).label
    head = f"Preview of the update on the status page: *{escape(published.public_title)}* — {status}"
    blocks: Blocks = [
        section(f"{head}\n{slacktext.mrkdwn(confirmation.body)}"),
        context("Nothing is public until you press *Publish*; stakeholders hear about it too."),
        {
            "type": "actions",
            "block_id": "status_preview",
            "elements": [
                button("Publish", Action.PUBLISH, confirmation.value(), "primary"),
                button("Edit", Action.EDIT, "edit"),
            ],
        },
    ]
    return f"{head}: {slacktext.mrkdwn(confirmation.body)}", blocks


NOT_PUBLISHED = (
    "Not published. Run `/incident public` again with the text you want "
    "(optionally starting with investigating, identified, monitoring or resolved)."
)


def published_notice(incident: Incident, published: Published, update: Update, components: list[str], url: str) -> str:
    """What the incident channel sees when something was published."""
    status = Public(update.status).label
    where = f"<{url}|status page>" if url.startswith("http") else "status page"
    affects = ", ".join(escape(c) for c in components) or "no component"
    return (
        f":globe_with_meridians: Published to the {where} by {mention(update.author)}: "
        f"*{escape(published.public_title)}* — {status} (affects {affects})\n>{slacktext.mrkdwn(update.body)}"
    )


def _link(url: str) -> str:
    return f" Status page: <{url}|{escape(url)}>" if url.startswith("http") else ""


def stakeholders_declared(incident: Incident, config: OpsConfig, zone: ZoneInfo, url: str) -> str:
    level = config.severity(incident.severity)
    return (
        f":rotating_light: *We are handling a {level.definition.lower()}* ({incident.severity}) since "
        f"{clock_time(incident.declared_at, zone)}. The team is working on it; updates follow in this channel."
        + _link(url)
    )


def stakeholders_update(published: Published, update: Update, components: list[str], url: str) -> str:
    affects = ", ".join(escape(c) for c in components)
    return (
        f":information_source: *{escape(published.public_title)}* — {Public(update.status).label}"
        + (f" (affects {affects})" if affects else "")
        + f"\n{slacktext.mrkdwn(update.body)}"
        + _link(url)
    )


def stakeholders_resolved(
    incident: Incident, published: Published | None, config: OpsConfig, url: str, resolved_at: datetime | None
) -> str:
    took = duration(incident.declared_at, resolved_at or incident.declared_at)
    what = _public_name(incident, published, config)
    return f":white_check_mark: {what} is resolved, after {took}. Thank you for your patience." + _link(url)


def stakeholders_reopened(incident: Incident, published: Published | None, config: OpsConfig, url: str) -> str:
    what = _public_name(incident, published, config)
    return (
        f":rotating_light: {what} is not over after all: the team has reopened it and is working on it; updates "
        "follow in this channel." + _link(url)
    )


def _public_name(incident: Incident, published: Published | None, config: OpsConfig) -> str:
    """The incident as the public knows it: its public title, or what kind of trouble it is."""
    if published:
        return f"*{escape(published.public_title)}*"
    return f"The {config.severity(incident.severity).definition.lower()}"


def manager_reminder(incident: Incident, last: datetime, now: datetime, every: timedelta, zone: ZoneInfo) -> str:
    since = duration(last, now)
    channel = f"<#{incident.channel_id}>" if incident.channel_id else incident.ref
    return (
        f":bell: *{incident.ref} ({incident.severity})* has had no stakeholder update for {since} "
        f"(since {when(last, zone)}; the rule is one every {duration(now - every, now)}). "
        f"Post one in {channel}: `/incident public` followed by what users should know."
    )
