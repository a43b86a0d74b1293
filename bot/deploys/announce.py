"""The deploy's announcement in the deployments channel, and its thread. (The incident channels' notes of a
rollback are the incidents domain's: bot/incidents/deploy_notes.py, subscribed to this domain's events.)"""

from __future__ import annotations

from bot import log
from bot.deploys import messages, store
from bot.deploys.models import Deploy
from bot.services import Services, zone
from bot.slack.failures import SLACK_FAILURES, attempt, failure, update_in_place

logger = log.get("zzik.deploys")


async def refresh(services: Services, deploy: Deploy) -> str | None:
    """Post or edit the announcement; the reason if Slack refused (the state is saved either way)."""
    ticks = await store.checks(services.db, deploy.id)
    text, blocks = messages.announcement(deploy, services.config, ticks, zone(services))
    if deploy.message_ts and deploy.channel:
        failed = await update_in_place(
            services.slack, "deploy announcement", deploy.channel, deploy.message_ts, text, blocks
        )
        return failed.reason if failed else None
    try:
        response = await services.slack.chat_postMessage(
            channel=services.config.channels.deployments, text=text, blocks=blocks
        )
    except SLACK_FAILURES as exc:
        failed = failure("deploy announcement not posted", exc)
        logger.warning(failed.what, deploy=deploy.id, error=failed.reason)
        return failed.reason
    await store.set_values(services.db, deploy.id, channel=response["channel"], message_ts=response["ts"])
    return None


async def thread(services: Services, deploy: Deploy, text: str) -> None:
    channel = deploy.channel or services.config.channels.deployments
    post = services.slack.chat_postMessage(channel=channel, thread_ts=deploy.message_ts, text=text)
    await attempt("deploy thread message not posted", post)
