"""The incident's channel and the messages the bot keeps up to date there: invitations, the topic, the
announcement in #zzik-incidents and the pinned kickoff (edited in place, posted again if Slack lost them)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from bot import log
from bot.deploys import api as deploys
from bot.deploys.models import Deploy
from bot.incidents import messages, store
from bot.incidents.models import Incident
from bot.services import Services, zone
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.failures import Failure, SlackErrorCode, attempt, update_in_place
from bot.slack.text import mention

logger = log.get("zzik.incidents")
Message = tuple[str, list[dict[str, Any]]]
INVITED_ALREADY = {SlackErrorCode.ALREADY_IN_CHANNEL, SlackErrorCode.CANT_INVITE_SELF}


def said(failures: list[Failure | None]) -> list[str]:
    """The failures among Slack calls' outcomes, as sentences."""
    return [str(f) for f in failures if f is not None]


async def set_topic(services: Services, incident: Incident) -> list[str]:
    topic = messages.topic(incident)
    return said(
        [
            await attempt(
                "channel topic not set",
                services.slack.conversations_setTopic(channel=incident.slack_channel, topic=topic),
            )
        ]
    )


async def invite(services: Services, incident: Incident, users: list[str]) -> list[str]:
    async def one(user: str) -> Failure | None:
        call = services.slack.conversations_invite(channel=incident.slack_channel, users=user)
        return await attempt(f"{mention(user)} not invited", call, harmless=INVITED_ALREADY)

    return said(await asyncio.gather(*(one(u) for u in users if u and u[:1] in "UW" and "@" not in u)))


async def recent_deploys(services: Services, incident: Incident) -> list[Deploy]:
    """Prod deploys of the 24 h before the declaration (the manual's "Check recent changes")."""
    since = incident.declared_at - timedelta(hours=24)
    return await deploys.finished_between(
        services.db, messages.production(services.config), since, incident.declared_at
    )


async def announcement(services: Services, incident: Incident) -> Message:
    """The announcement in #zzik-incidents as it stands now (who was paged, PagerDuty's part)."""
    return messages.announcement(
        incident,
        services.config.severity(incident.severity),
        zone(services),
        services.clock.now(),
        await store.pages(services.db, incident.id),
        await paging_state(services, incident.id),
    )


async def paging_state(services: Services, incident_id: int) -> str | None:
    """How the pagers besides the DMs (services.paging_providers: PagerDuty's) stand on the incident, in words."""
    for provider in services.paging_providers:
        state = await provider.state(services, incident_id)
        if state is not None:
            return state
    return None


async def kickoff(services: Services, incident: Incident) -> Message:
    """The pinned kickoff as it stands now: the checklist with its ticks, recent changes."""
    ticks = await store.checks(services.db, incident.id)
    level = services.config.severity(incident.severity)
    recent = await recent_deploys(services, incident)
    return messages.kickoff(
        incident, level, services.config, ticks, zone(services), recent, await notes(services, incident)
    )


async def notes(services: Services, incident: Incident) -> list[str]:
    """What other domains add to the kickoff (services.kickoff_notes), in order; one that fails is left out and
    logged, so a note never keeps the kickoff from being posted."""
    found: list[str] = []
    for note in services.kickoff_notes:
        try:
            found += await note(services, incident)
        except Exception:
            logger.exception("kickoff note failed", incident=incident.id, note=getattr(note, "__qualname__", "?"))
    return found


async def refresh_announcement(services: Services, incident: Incident) -> list[str]:
    """Edit the #zzik-incidents announcement in place (and the channel topic) after any change."""
    if not incident.announcement_ts:
        return []
    where = (incident.announcement_channel or services.config.channels.incidents, incident.announcement_ts)
    message = await announcement(services, incident)
    return await _update_or_repost(
        services, incident, "announcement", where, services.config.channels.incidents, message
    )


async def refresh_kickoff(services: Services, incident: Incident) -> None:
    if not incident.kickoff_ts or not incident.channel_id:
        return
    fresh = await store.get(services.db, incident.id)
    if fresh is None or not fresh.kickoff_ts or not fresh.channel_id:
        return
    message = await kickoff(services, fresh)
    await _update_or_repost(services, fresh, "kickoff", (fresh.channel_id, fresh.kickoff_ts), fresh.channel_id, message)


async def _update_or_repost(
    services: Services, incident: Incident, what: str, where: tuple[str, str], repost_to: str, message: Message
) -> list[str]:
    """Edit a message the bot keeps up to date; if Slack says it is gone, post it again, remember the new one
    and say so in its thread. Returns what could not be done."""
    text, blocks = message
    failed = await update_in_place(services.slack, what, *where, text, blocks)
    if failed is None:
        return []
    if not failed.gone:
        return [str(failed)]
    try:
        response = await services.slack.chat_postMessage(channel=repost_to, text=text, blocks=blocks)
    except SLACK_FAILURES as exc:
        return [f"{what} not updated ({failed.reason}) and not posted again: {slack_error(exc)}"]
    async with services.db.transaction() as conn:
        if what == "announcement":
            await store.update(
                conn, incident.id, announcement_channel=response["channel"], announcement_ts=response["ts"]
            )
        else:
            await store.update(conn, incident.id, kickoff_ts=response["ts"])
        entry = f"{what} could not be updated ({failed.reason}): posted again"
        await store.add_event(conn, incident.id, services.clock.now(), None, "reposted", entry)
    note = messages.reposted(incident, what, failed.reason)
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
