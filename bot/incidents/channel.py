"""The incident's channel and the messages the bot keeps up to date there: invitations, the topic, the
announcement in #zzik-incidents and the pinned kickoff (edited in place, posted again if Slack lost them)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import log
from bot.deploys import store as deploys
from bot.deploys.store import Deploy
from bot.incidents import messages, store
from bot.incidents.store import Incident
from bot.pagerduty import flows as pagerduty
from bot.services import Services
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.text import mention

logger = log.get("zzik.incidents")


async def set_topic(services: Services, incident: Incident) -> list[str]:
    try:
        await services.slack.conversations_setTopic(channel=incident.channel_id, topic=messages.topic(incident))
    except SLACK_FAILURES as exc:
        return [f"channel topic not set: {slack_error(exc)}"]
    return []


async def invite(services: Services, incident: Incident, users: list[str]) -> list[str]:
    async def one(user: str) -> str | None:
        try:
            await services.slack.conversations_invite(channel=incident.channel_id, users=user)
        except SlackApiError as exc:
            if slack_error(exc) in ("already_in_channel", "cant_invite_self"):
                return None
            return f"{mention(user)} not invited: {slack_error(exc)}"
        except SLACK_FAILURES as exc:
            return f"{mention(user)} not invited: {slack_error(exc)}"
        return None

    results = await asyncio.gather(*(one(u) for u in users if u and u[:1] in "UW" and "@" not in u))
    return [r for r in results if r]


async def recent_deploys(services: Services, incident: Incident) -> list[Deploy]:
    """Prod deploys of the 24 h before the declaration (the manual's "Check recent changes")."""
    since = incident.declared_at - timedelta(hours=24)
    return await deploys.finished_between(
        services.db, messages.production(services.config), since, incident.declared_at
    )


async def refresh_announcement(services: Services, incident: Incident) -> list[str]:
    """Edit the #zzik-incidents announcement in place (and the channel topic) after any change."""
    if not incident.announcement_ts:
        return []
    text, blocks = messages.announcement(
        incident,
        services.config.severity(incident.severity),
        services.config.oncall.zone,
        services.clock.now(),
        await store.pages(services.db, incident.id),
        await pagerduty.paging_state(services, incident.id),
    )
    return await _update_or_repost(
        services,
        incident,
        "announcement",
        (incident.announcement_channel or services.config.channels.incidents, incident.announcement_ts),
        services.config.channels.incidents,
        text,
        blocks,
    )


async def refresh_kickoff(services: Services, incident: Incident) -> None:
    if not incident.kickoff_ts or not incident.channel_id:
        return
    fresh = await store.get(services.db, incident.id)
    if fresh is None:
        return
    ticks = await store.checks(services.db, incident.id)
    text, blocks = messages.kickoff(
        fresh,
        services.config.severity(fresh.severity),
        services.config,
        ticks,
        services.config.oncall.zone,
        await recent_deploys(services, fresh),
    )
    await _update_or_repost(
        services, fresh, "kickoff", (fresh.channel_id, fresh.kickoff_ts), fresh.channel_id, text, blocks
    )


# chat.update errors that mean the message is gone or frozen: a new one is posted in its place.
GONE = {"message_not_found", "cant_update_message", "edit_window_closed"}


async def _update_or_repost(
    services: Services,
    incident: Incident,
    what: str,
    message: tuple[str, str],
    repost_to: str,
    text: str,
    blocks: list[dict[str, Any]],
) -> list[str]:
    """Edit a message the bot keeps up to date; if Slack says it is gone, post it again, remember the new one
    and say so in its thread. Returns what could not be done."""
    channel, ts = message
    try:
        await services.slack.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        return []
    except SLACK_FAILURES as exc:
        error = slack_error(exc)
        logger.warning(f"{what} not updated", incident=incident.ref, error=error)
        if not isinstance(exc, SlackApiError) or error not in GONE:
            return [f"{what} not updated: {error}"]
    try:
        response = await services.slack.chat_postMessage(channel=repost_to, text=text, blocks=blocks)
    except SLACK_FAILURES as exc:
        return [f"{what} not updated ({error}) and not posted again: {slack_error(exc)}"]
    now = services.clock.now()
    async with services.db.transaction() as conn:
        if what == "announcement":
            await store.update(
                conn, incident.id, announcement_channel=response["channel"], announcement_ts=response["ts"]
            )
        else:
            await store.update(conn, incident.id, kickoff_ts=response["ts"])
        await store.add_event(
            conn, incident.id, now, None, "reposted", f"{what} could not be updated ({error}): posted again"
        )
    note = (
        f":information_source: The earlier {what} of {incident.ref} could not be updated (`{error}`), "
        "so this is a new one; it is kept up to date from now on."
    )
    followups = [services.slack.chat_postMessage(channel=response["channel"], thread_ts=response["ts"], text=note)]
    if what == "kickoff":
        followups.append(services.slack.pins_add(channel=response["channel"], timestamp=response["ts"]))
    for result in await asyncio.gather(*followups, return_exceptions=True):
        if isinstance(result, BaseException):
            logger.warning(f"{what} reposted, follow-up failed", incident=incident.ref, error=slack_error(result))
    return []


async def refresh(services: Services, incident: Incident, *, topic: bool = False) -> None:
    steps = [refresh_announcement(services, incident)]
    if topic and incident.channel_id:
        steps.append(set_topic(services, incident))
    await asyncio.gather(*steps)
