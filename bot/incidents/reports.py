"""Detection's "User report": a message shortcut opens the Declare form prefilled with the message, and the
incident's timeline links the message."""

from __future__ import annotations

from typing import Any

from bot import log
from bot.incidents import forms, parse, store
from bot.incidents.store import Incident
from bot.services import Services
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.text import escape, plain, shorten

logger = log.get("zzik.incidents")


async def open_declare_form(
    services: Services, *, trigger_id: str, reporter: str, channel: str | None, message: dict[str, Any]
) -> None:
    """The Declare form with the message's text (title: its first line, description: all of it) and its link."""
    text = plain(str(message.get("text") or "")).strip()
    first_line = " ".join((text.splitlines() or [""])[0].split())
    title = shorten(escape(first_line), parse.MAX_TITLE) if first_line else ""
    link = None
    if channel and message.get("ts"):
        try:
            link = (await services.slack.chat_getPermalink(channel=channel, message_ts=message["ts"]))["permalink"]
        except SLACK_FAILURES as exc:  # the form still opens: the link is a nicety, the report is not
            logger.warning("no permalink for the reported message", error=slack_error(exc))
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


async def link_source(services: Services, incident: Incident, source: str, actor: str) -> None:
    """The timeline links the message the incident was declared from."""
    shown = f"<{source}|the reported message>" if source.startswith("https://") else escape(source)
    await store.add_event(services.db, incident.id, services.clock.now(), actor, "source", f"declared from {shown}")
