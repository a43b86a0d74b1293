"""The deploy's announcement in the deployments channel, its thread, and the incident channels' notes."""

from __future__ import annotations

import asyncio

from bot import log
from bot.deploys import messages, store
from bot.deploys.store import Deploy
from bot.incidents import store as incidents
from bot.services import Services, zone
from bot.slack.client import SLACK_FAILURES, slack_error

logger = log.get("zzik.deploys")


async def refresh(services: Services, deploy: Deploy) -> str | None:
    """Post or edit the announcement; the reason if Slack refused (the state is saved either way)."""
    ticks = await store.checks(services.db, deploy.id)
    text, blocks = messages.announcement(deploy, services.config, ticks, zone(services))
    try:
        if deploy.message_ts:
            await services.slack.chat_update(channel=deploy.channel, ts=deploy.message_ts, text=text, blocks=blocks)
        else:
            response = await services.slack.chat_postMessage(
                channel=services.config.channels.deployments, text=text, blocks=blocks
            )
            await store.set_values(services.db, deploy.id, channel=response["channel"], message_ts=response["ts"])
    except SLACK_FAILURES as exc:
        logger.warning("deploy announcement not posted", deploy=deploy.id, error=slack_error(exc))
        return slack_error(exc)
    return None


async def thread(services: Services, deploy: Deploy, text: str) -> None:
    try:
        await services.slack.chat_postMessage(
            channel=deploy.channel or services.config.channels.deployments, thread_ts=deploy.message_ts, text=text
        )
    except SLACK_FAILURES as exc:
        logger.warning("deploy thread message not posted", deploy=deploy.id, error=slack_error(exc))


async def tell_incidents(services: Services, text: str) -> None:
    """Every open incident's channel hears of a rollback (one channel failing does not stop the others)."""
    channels = [i.channel_id for i in await incidents.open_incidents(services.db) if i.channel_id]
    results = await asyncio.gather(
        *(services.slack.chat_postMessage(channel=c, text=text) for c in channels), return_exceptions=True
    )
    for channel, result in zip(channels, results, strict=True):
        if isinstance(result, BaseException):
            logger.warning("incident channel not told of the rollback", channel=channel, error=repr(result))
