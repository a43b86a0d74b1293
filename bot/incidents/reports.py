"""Detection's "User report": a message shortcut opens the Declare form prefilled with the message, and the
incident's timeline links the message."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from bot import log
from bot.incidents import forms, parse, store
from bot.incidents.models import Incident
from bot.services import Services
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.text import escape, plain, shorten

logger = log.get("zzik.incidents")


async def open_declare_form(
    services: Services, *, trigger_id: str, reporter: str, channel: str | None, message: dict[str, Any]
) -> None:
    """The Declare form with the message's text (title: its first line, description: all of it) and its link.
    A monitoring bot's post says it in attachments, a screenshot in its file's name; mentions show names."""
    said, link = await asyncio.gather(
        _with_names(services, reported_text(message)), _permalink(services, channel, message)
    )
    text = plain(said).strip()
    first_line = " ".join((text.splitlines() or [""])[0].split())
    title = shorten(escape(first_line), parse.MAX_TITLE) if first_line else ""
    description = text if len(text) <= parse.MAX_TEXT else text[: parse.MAX_TEXT - 1] + "…"
    view = forms.declare_modal(
        services.config,
        reporter,
        channel,
        title=plain(title) if title else None,
        description=description or None,
        source=link or (f"{channel}:{message.get('ts')}" if channel else None),
    )
    await services.slack.views_open(trigger_id=trigger_id, view=view)


async def _permalink(services: Services, channel: str | None, message: dict[str, Any]) -> str | None:
    if not channel or not message.get("ts"):
        return None
    try:
        return (await services.slack.chat_getPermalink(channel=channel, message_ts=message["ts"]))["permalink"]
    except SLACK_FAILURES as exc:  # the form still opens: the link is a nicety, the report is not
        logger.warning("no permalink for the reported message", error=slack_error(exc))
        return None


def reported_text(message: dict[str, Any]) -> str:
    """What a reported message says, Slack-encoded, first line first: its text; else (a monitoring bot's post,
    text empty) its attachments' title, pretext, text and fields; else (a screenshot) its files' names."""
    text = str(message.get("text") or "").strip()
    if text:
        return text
    lines = [line for attachment in message.get("attachments") or [] for line in _attachment_lines(attachment)]
    lines += [_file_name(file) for file in message.get("files") or [] if isinstance(file, dict)]
    return "\n".join(line for line in lines if line)


def _attachment_lines(attachment: Any) -> list[str]:
    """An attachment's title, pretext, text and fields; the fallback (the plain summary Slack shows in
    notifications) when nothing else is there."""
    if not isinstance(attachment, dict):
        return []
    parts = [_str(attachment.get(key)) for key in ("title", "pretext", "text")]
    parts += [_field(field) for field in attachment.get("fields") or [] if isinstance(field, dict)]
    return [p for p in parts if p] or [_str(attachment.get("fallback"))]


def _field(field: dict[str, Any]) -> str:
    return ": ".join(p for p in (_str(field.get("title")), _str(field.get("value"))) if p)


def _file_name(file: dict[str, Any]) -> str:
    return escape(_str(file.get("title")) or _str(file.get("name")))  # file names are raw text


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


_MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")
MOST_NAMES = 10  # users.info calls before the form opens (the trigger expires in 3 s; profiles are cached)


async def _with_names(services: Services, text: str) -> str:
    """`<@U0BOB>` as the person's name (`@Bob`): the title and the channel name are read by people; a mention
    Slack gave a label to keeps it, one whose profile cannot be had stays as it is."""
    users = list(dict.fromkeys(_MENTION.findall(text)))[:MOST_NAMES]

    async def name(user: str) -> str | None:
        try:
            return await services.users.name(user)
        except SLACK_FAILURES as exc:
            logger.warning("no name for a mentioned user", user=user, error=slack_error(exc))
            return None

    names = dict(zip(users, await asyncio.gather(*(name(u) for u in users)), strict=True))
    return _MENTION.sub(lambda m: escape("@" + names[m[1]]) if names.get(m[1]) else m[0], text)


async def link_source(services: Services, incident: Incident, source: str, actor: str) -> None:
    """The timeline links the message the incident was declared from."""
    shown = f"<{source}|the reported message>" if source.startswith("https://") else escape(source)
    await store.add_event(services.db, incident.id, services.clock.now(), actor, "source", f"declared from {shown}")
