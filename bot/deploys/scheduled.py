"""Deploys' scheduled work: the end of a prod watch window, a pipeline call that got no answer, and expiry so
no lock is held forever."""

from __future__ import annotations

from bot import audit
from bot.deploys import answers, messages, store
from bot.deploys.announce import refresh, thread
from bot.deploys.ids import BOT, Status
from bot.services import Services, zone


async def watch_ended(services: Services, deploy_id: int) -> bool:
    deploy = await store.get(services.db, deploy_id)
    if deploy is None or deploy.watch_result:
        return False
    # The measured figures, from the domain that measures them (the SLO watch registers it; None: not measured).
    summary = await services.watch_summary(services, deploy) if services.watch_summary else None
    text, blocks = messages.watch_reminder(deploy, zone(services), summary)
    await services.slack.chat_postMessage(
        channel=deploy.channel or services.config.channels.deployments,
        thread_ts=deploy.message_ts,
        reply_broadcast=True,
        text=text,
        blocks=blocks,
    )
    return True


async def check_trigger(services: Services, deploy_id: int) -> bool:
    """A started deploy (or rollback) whose pipeline call never got a recorded answer: the bot died while
    calling it. Say so where it was announced, offer the deployers Mark deployed / Mark failed; a late
    callback from the pipeline is still accepted, and the lock stays only as long as that is said."""
    now = services.clock.now()
    async with services.db.transaction() as conn:
        deploy = await store.get(conn, deploy_id, for_update=True)
        if (
            deploy is None
            or deploy.status != Status.RUNNING
            or deploy.pipeline_accepted_at
            or deploy.outcome_unknown_at
        ):
            return False
        deploy = await store.set_values(conn, deploy_id, outcome_unknown_at=now)
        await audit.record(
            conn, kind="deploy", action="outcome_unknown", outcome="ok", actor=BOT, detail={"deploy": deploy_id}
        )
    await refresh(services, deploy)
    await thread(services, deploy, answers.say(answers.OUTCOME_UNKNOWN, deploy))
    return True


async def expire(services: Services, deploy_id: int, status: str) -> bool:
    """Nothing stays locked forever: a deploy nobody started, or one the pipeline never reported."""
    now = services.clock.now()
    why = answers.expiry_reason(status)
    async with services.db.transaction() as conn:
        expired = await store.transition(
            conn,
            deploy_id,
            (status,),
            status=Status.CANCELLED if status == Status.PENDING else Status.FAILED,
            finished_at=now,
            finished_by=BOT,
            detail=answers.say(answers.DETAIL, what="expired", why=why),
        )
        if expired is None:
            return False
        await audit.record(
            conn,
            kind="deploy",
            action="expired",
            outcome="ok",
            actor=BOT,
            detail={"deploy": deploy_id, "was": status},
        )
    await refresh(services, expired)
    await thread(services, expired, answers.say(answers.EXPIRED, expired, why=why))
    return True
