"""Deploy and rollback stories: the manual's gates, checked in Postgres, then announced."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from bot import audit, log, policy
from bot.deploys import messages, parse, pipeline, store
from bot.deploys.ids import Action
from bot.deploys.store import Deploy, Locked
from bot.errors import Refused, UsageError
from bot.incidents import store as incidents
from bot.opsconfig import CheckItem
from bot.policy import Do, Subject
from bot.services import Services
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.text import escape, mention, mrkdwn
from bot.slo import watch as slo_watch

logger = log.get("zzik.deploys")
EXPIRE, WATCH_END, CHECK_TRIGGER = "deploys.expire", "deploys.watch_end", "deploys.check_trigger"
PENDING_TIMEOUT = timedelta(hours=4)
RUNNING_TIMEOUT = timedelta(minutes=60)
BOT = "bot"  # who ticks "team notified": the announcement itself


def zone(services: Services):
    return services.config.oncall.zone


# -- the announcement ----------------------------------------------------------------------------------------


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


async def _thread(services: Services, deploy: Deploy, text: str) -> None:
    try:
        await services.slack.chat_postMessage(
            channel=deploy.channel or services.config.channels.deployments, thread_ts=deploy.message_ts, text=text
        )
    except SLACK_FAILURES as exc:
        logger.warning("deploy thread message not posted", deploy=deploy.id, error=slack_error(exc))


# -- deploying -------------------------------------------------------------------------------------------------


async def request(services: Services, actor: str, req: parse.Deploy, key: str, request_id: str) -> str:
    if req.environment == "prod":
        await policy.require(services, Do.PROD_DEPLOY, actor)
    if req.force_reason:
        if req.environment != "prod":
            raise UsageError("`--force` only overrides the production gate; staging needs no override.")
        await policy.require(services, Do.PROD_FORCE, actor)
    elif req.environment == "prod" and await store.validated_on_staging(services.db, req.version) is None:
        raise Refused(
            f"`{escape(req.version)}` is not validated on staging: deploy it there and complete the staging "
            'validation checklist first, or add `--force "&lt;reason&gt;"` (deployers only).'
        )
    now = services.clock.now()
    async with services.db.transaction() as conn:
        try:
            deploy, created = await store.create(
                conn,
                environment=req.environment,
                version=req.version,
                requested_by=actor,
                request_key=key,
                at=now,
                forced_reason=req.force_reason,
            )
        except Locked as exc:
            holder = exc.holder
            raise Refused(
                f"{req.environment} is locked by {holder.ref} ({holder.status}), requested by "
                f"{mention(holder.requested_by)} at {messages.when(holder.created_at, zone(services))}. "
                "One deploy at a time; a deployer can release it with "
                f"`/deploy unlock {req.environment} &lt;reason&gt;`."
            ) from None
        if not created:
            return f"That request was already made: {deploy.ref}."
        if any(i.id == "team_notified" for i in services.config.deploy.pre_deploy_checklist):
            await store.tick(conn, deploy.id, "pre", "team_notified", BOT, now)
        await services.jobs.schedule_once(
            conn, EXPIRE, f"{deploy.id}:pending", now + PENDING_TIMEOUT, {"deploy_id": deploy.id, "status": "pending"}
        )
        await audit.record(
            conn,
            kind="deploy",
            action="request",
            outcome="ok",
            actor=actor,
            request_id=request_id,
            detail={
                "deploy": deploy.id,
                "env": deploy.environment,
                "version": deploy.version,
                "forced": req.force_reason,
            },
        )
    refused = await refresh(services, deploy)
    if refused:
        # Nobody can tick a checklist nobody sees: release the lock rather than hold it for hours.
        async with services.db.transaction() as conn:
            await store.transition(
                conn,
                deploy.id,
                ("pending",),
                status="cancelled",
                finished_by="bot",
                finished_at=services.clock.now(),
                detail=f"announcement failed: {refused}",
            )
            await services.jobs.cancel_prefix(conn, EXPIRE, f"{deploy.id}:")
        return (
            f"{deploy.ref} could not be announced in {services.config.channels.deployments} ({refused}), so it "
            f"is cancelled and {deploy.environment} stays unlocked. Try again in a minute."
        )
    return (
        f"{deploy.ref} is announced in {services.config.channels.deployments}: tick the pre-deployment "
        "checklist, then *Start deploy*."
    )


def _items(services: Services, deploy: Deploy, list_name: str) -> list[CheckItem]:
    config = services.config
    return {
        "pre": config.deploy.pre_deploy_checklist,
        "staging": config.deploy.staging_validation,
        "post": config.deploy.post_deploy_validation,
        "verify": config.rollback.verify,
    }[list_name]


def _list_is_open(deploy: Deploy, list_name: str) -> bool:
    if list_name == "pre":
        return deploy.status == "pending"
    if deploy.status != "succeeded":
        return False
    if list_name == "verify":
        return deploy.kind == "rollback"
    if list_name == "staging":
        return deploy.kind == "deploy" and deploy.environment == "staging"
    return deploy.kind == "deploy" and deploy.environment != "staging"


async def _may_tick(services: Services, deploy: Deploy, actor: str) -> None:
    """Prod checklists are the deployers' (a rollback's verify list also the on-call primary's); staging: anyone."""
    if deploy.environment != "prod":
        return
    rule = Do.ROLLBACK if deploy.kind == "rollback" else Do.PROD_CHECK
    if not await policy.allows(services, rule, actor):
        await refresh(services, deploy)  # Slack already shows the box ticked: put the message back as it is
        await policy.require(services, rule, actor, what="tick a prod checklist")


async def tick(
    services: Services, deploy_id: int, list_name: str, selected: set[str], actor: str, part: slice = slice(None)
) -> str | None:
    """Apply the checkbox selection (state, not toggles: a double click changes nothing)."""
    now = services.clock.now()
    before = await store.get(services.db, deploy_id)
    if before is not None:
        await _may_tick(services, before, actor)
    newly_validated = False
    async with services.db.transaction() as conn:
        deploy = await store.get(conn, deploy_id, for_update=True)
        if deploy is None or list_name not in ("pre", "staging", "post", "verify"):
            raise UsageError("That checklist does not belong to a deploy.", usage=False)
        if not _list_is_open(deploy, list_name):
            await refresh(services, deploy)
            return "That checklist is closed: the deploy has moved on."
        items = {i.id for i in _items(services, deploy, list_name)}
        shown = {i.id for i in _items(services, deploy, list_name)[part]}  # the part of a long list clicked
        selected = selected & shown
        current = {item for (lst, item) in await store.checks(conn, deploy_id) if lst == list_name and item in shown}
        for item in (selected & items) - current:
            await store.tick(conn, deploy_id, list_name, item, actor, now)
        for item in current - selected:
            if item != "team_notified":
                await store.untick(conn, deploy_id, list_name, item)
        done = {item for (lst, item) in await store.checks(conn, deploy_id) if lst == list_name}
        if list_name == "staging" and done >= items and deploy.validated_at is None:
            deploy = await store.set_values(conn, deploy_id, validated_at=now)
            newly_validated = True
            await audit.record(
                conn,
                kind="deploy",
                action="validated",
                outcome="ok",
                actor=actor,
                detail={"deploy": deploy_id, "version": deploy.version},
            )
    await refresh(services, deploy)
    if newly_validated:
        await _thread(
            services,
            deploy,
            f":white_check_mark: `{escape(deploy.version)}` is validated on staging by "
            f"{mention(actor)}; it may go to prod.",
        )
    return None


async def start(services: Services, deploy_id: int, actor: str, *, anyway: bool = False) -> tuple[str, Any]:
    deploy = await store.get(services.db, deploy_id)
    if deploy is None:
        raise UsageError("That deploy does not exist.", usage=False)
    if deploy.status != "pending":
        return f"{deploy.ref} was already started ({deploy.status}).", None
    if deploy.environment == "prod":
        await policy.require(services, Do.PROD_START, actor)
    ticks = await store.checks(services.db, deploy_id)
    missing = [i.text for i in services.config.deploy.pre_deploy_checklist if ("pre", i.id) not in ticks]
    if missing and deploy.environment == "prod":
        raise Refused(f"{len(missing)} pre-deployment item(s) are not ticked: " + "; ".join(missing))
    if missing and not anyway:
        return (
            f"{len(missing)} checklist item(s) are not ticked: {'; '.join(missing)}. Start anyway?",
            [
                messages.section(f"{len(missing)} pre-deployment item(s) are not ticked: " + "; ".join(missing)),
                {
                    "type": "actions",
                    "elements": [
                        messages.button(
                            "Start anyway",
                            Action.START_ANYWAY,
                            str(deploy_id),
                            "danger",
                            messages.confirm(
                                "Start with an incomplete checklist?",
                                f"{deploy.environment}: {len(missing)} item(s) not ticked.",
                                "Start",
                            ),
                        )
                    ],
                },
            ],
        )
    now = services.clock.now()
    async with services.db.transaction() as conn:
        started = await store.transition(
            conn, deploy_id, ("pending",), status="running", started_by=actor, started_at=now
        )
        if started is None:
            return f"{deploy.ref} was already started.", None
        await services.jobs.cancel(conn, EXPIRE, f"{deploy_id}:pending")
        await services.jobs.schedule_once(
            conn, EXPIRE, f"{deploy_id}:running", now + RUNNING_TIMEOUT, {"deploy_id": deploy_id, "status": "running"}
        )
        await _schedule_trigger_check(services, conn, deploy_id, now)
        await audit.record(
            conn,
            kind="deploy",
            action="start",
            outcome="ok",
            actor=actor,
            detail={"deploy": deploy_id, "incomplete": missing},
        )
    return await _run_pipeline(services, started, "deploy"), None


async def _schedule_trigger_check(services: Services, conn: Any, deploy_id: int, now: Any) -> None:
    """With the deploy's start: if the bot dies while calling the pipeline, a job says so (any replica)."""
    if services.config.deploy.webhook_url:
        await services.jobs.schedule_once(
            conn,
            CHECK_TRIGGER,
            str(deploy_id),
            now + services.config.deploy.pipeline_answer_within,
            {"deploy_id": deploy_id},
        )


async def _run_pipeline(services: Services, deploy: Deploy, action: str) -> str:
    if not services.config.deploy.webhook_url:
        await refresh(services, deploy)
        return f"{deploy.ref} started: run the command shown in the announcement, then mark how it went."
    error = await pipeline.trigger(services, deploy, action)
    if error is None:
        async with services.db.transaction() as conn:
            accepted = await store.transition(conn, deploy.id, ("running",), pipeline_accepted_at=services.clock.now())
            await services.jobs.cancel(conn, CHECK_TRIGGER, str(deploy.id))
        await refresh(services, accepted or deploy)
        return f"{deploy.ref} started: the pipeline was triggered."
    async with services.db.transaction() as conn:
        failed = await store.transition(
            conn,
            deploy.id,
            ("running",),
            status="failed",
            finished_at=services.clock.now(),
            finished_by="bot",
            detail=f"not started: {error}",
        )
        await services.jobs.cancel(conn, EXPIRE, f"{deploy.id}:running")
    await refresh(services, failed or deploy)
    return f"{deploy.ref} could not start: {error}. Nothing is deploying and {deploy.environment} is unlocked."


async def finish(
    services: Services, deploy_id: int, status: str, by: str, url: str | None = None, detail: str | None = None
) -> tuple[Deploy | None, str]:
    """Record the pipeline's (or a human's) word. Returns (deploy, outcome): changed | replayed | conflict."""
    now = services.clock.now()
    async with services.db.transaction() as conn:
        deploy = await store.get(conn, deploy_id, for_update=True)
        if deploy is None:
            return None, "missing"
        if deploy.status == status:
            return deploy, "replayed"
        if deploy.status != "running":
            return deploy, "conflict"
        values: dict[str, Any] = {"status": status, "finished_at": now, "finished_by": by, "url": url, "detail": detail}
        if status == "succeeded" and deploy.kind == "deploy" and deploy.environment != "staging":
            values["watch_until"] = now + timedelta(minutes=services.config.deploy.watch_minutes)
        deploy = await store.transition(conn, deploy_id, ("running",), **values)
        assert deploy is not None
        await services.jobs.cancel(conn, EXPIRE, f"{deploy_id}:running")
        if deploy.watch_until:
            await services.jobs.schedule_once(
                conn, WATCH_END, str(deploy_id), deploy.watch_until, {"deploy_id": deploy_id}
            )
        await slo_watch.deploy_finished(conn, services, deploy)
        await audit.record(
            conn,
            kind="deploy",
            action=f"finished.{status}",
            outcome="ok",
            actor=by,
            detail={"deploy": deploy_id, "url": url, "detail": detail},
        )
    await refresh(services, deploy)
    if deploy.kind == "rollback":
        await _tell_incidents(services, f":rewind: {deploy.ref} {status}.")
    return deploy, "changed"


async def mark(services: Services, deploy_id: int, status: str, actor: str) -> str:
    deploy = await store.get(services.db, deploy_id)
    if deploy is None:
        raise UsageError("That deploy does not exist.", usage=False)
    if deploy.kind == "rollback":
        await policy.require(services, Do.ROLLBACK_MARK, actor)
    elif deploy.environment == "prod":
        await policy.require(services, Do.PROD_MARK, actor)
    deploy, outcome = await finish(services, deploy_id, status, f"marked by @{actor}")
    if outcome == "replayed":
        return f"{deploy.ref} was already marked {status}." if deploy else ""
    if outcome != "changed" or deploy is None:
        return f"{deploy.ref if deploy else 'That deploy'} is not running ({deploy.status if deploy else '?'})."
    return f"{deploy.ref} marked {status}."


async def cancel(services: Services, deploy_id: int, actor: str) -> str:
    deploy = await store.get(services.db, deploy_id)
    if deploy is None:
        raise UsageError("That deploy does not exist.", usage=False)
    await policy.require(services, Do.DEPLOY_CANCEL, actor, Subject(requester=deploy.requested_by))
    async with services.db.transaction() as conn:
        cancelled = await store.transition(
            conn,
            deploy_id,
            ("pending",),
            status="cancelled",
            finished_at=services.clock.now(),
            finished_by=f"cancelled by @{actor}",
        )
        if cancelled is None:
            return f"{deploy.ref} can no longer be cancelled ({deploy.status})."
        await services.jobs.cancel_prefix(conn, EXPIRE, f"{deploy_id}:")
        await audit.record(
            conn, kind="deploy", action="cancel", outcome="ok", actor=actor, detail={"deploy": deploy_id}
        )
    await refresh(services, cancelled)
    return f"{deploy.ref} cancelled; {deploy.environment} is unlocked."


async def unlock(services: Services, actor: str, environment: str, reason: str, request_id: str) -> str:
    await policy.require(services, Do.DEPLOY_UNLOCK, actor)
    async with services.db.transaction() as conn:
        holder = await store.active(conn, environment)
        if holder is None:
            raise UsageError(f"{environment} is not locked.", usage=False)
        released = await store.transition(
            conn,
            holder.id,
            ("pending", "running"),
            status="cancelled",
            finished_at=services.clock.now(),
            finished_by=f"unlocked by @{actor}",
            detail=f"unlocked: {reason}",
        )
        await services.jobs.cancel_prefix(conn, EXPIRE, f"{holder.id}:")
        await audit.record(
            conn,
            kind="deploy",
            action="unlock",
            outcome="ok",
            actor=actor,
            request_id=request_id,
            detail={"deploy": holder.id, "env": environment, "reason": reason},
        )
    if released:
        await refresh(services, released)
    return f"{environment} unlocked: {holder.ref} cancelled ({mrkdwn(reason)})."


async def status(services: Services) -> str:
    envs = services.config.deploy.environments
    current = {env: next(iter(await store.succeeded(services.db, env, 1)), None) for env in envs}
    active = {env: await store.active(services.db, env) for env in envs}
    watches = await store.open_watches(services.db, services.clock.now())
    return messages.status(current, active, watches, zone(services))


async def history(services: Services, environment: str | None, limit: int) -> str:
    return messages.history(await store.history(services.db, environment, limit), zone(services))


# -- rolling back ---------------------------------------------------------------------------------------------


async def rollback_target(services: Services, environment: str) -> tuple[Deploy, Deploy]:
    ran = await store.succeeded(services.db, environment)
    if not ran:
        raise UsageError(
            f"Nothing has been deployed to {environment} through the bot, so there is nothing to roll back to.",
            usage=False,
        )
    current = ran[0]
    rolled_back = {d.rollback_of for d in ran if d.rollback_of}
    bad_versions = {d.version for d in ran if d.id in rolled_back} | {current.version}
    target = next((d for d in ran[1:] if d.version not in bad_versions), None)
    if target is None:
        raise UsageError(
            f"{environment} runs `{escape(current.version)}` and no earlier good version is known: "
            "there is nothing to roll back to.",
            usage=False,
        )
    return current, target


async def rollback_offer(
    services: Services,
    actor: str,
    environment: str,
    reason: str | None,
    *,
    preselect: str | None = None,
    note: str | None = None,
) -> list[dict]:
    await policy.require(services, Do.ROLLBACK, actor, what=f"roll back {environment}")
    current, target = await rollback_target(services, environment)
    return messages.rollback_offer(
        environment, current, target, services.config, reason, preselect=preselect, note=note
    )


def rollback_reason(services: Services, choice: str | None, other: str) -> str:
    criteria = {c.id: c.text for c in services.config.rollback.criteria}
    if choice in criteria:
        return escape(criteria[choice]) + (f" ({mrkdwn(other)})" if other else "")
    if choice == "other" and other:
        return mrkdwn(other)
    raise UsageError("Pick the reason for the rollback first (one of the manual's criteria).", usage=False)


async def rollback_confirmed(
    services: Services, actor: str, environment: str, current_id: int, choice: str | None, other: str, request_id: str
) -> str:
    """The confirmed rollback offer: who may first, then the reason picked."""
    await policy.require(services, Do.ROLLBACK, actor, what=f"roll back {environment}")
    reason = rollback_reason(services, choice, other)
    return await rollback(services, actor, environment, current_id, reason, request_id)


async def rollback(
    services: Services, actor: str, environment: str, current_id: int, reason: str, request_id: str
) -> str:
    await policy.require(services, Do.ROLLBACK, actor, what=f"roll back {environment}")
    current, target = await rollback_target(services, environment)
    if current.id != current_id:
        raise UsageError(
            f"{environment} changed since this was offered (it now runs `{escape(current.version)}`); "
            f"run `/rollback {environment}` again.",
            usage=False,
        )
    now = services.clock.now()
    async with services.db.transaction() as conn:
        try:
            deploy, created = await store.create(
                conn,
                environment=environment,
                version=target.version,
                requested_by=actor,
                request_key=f"rollback:{current.id}",
                at=now,
                kind="rollback",
                status="running",
                rollback_of=current.id,
                reason=reason,
            )
        except Locked as exc:
            raise Refused(
                f"{environment} is locked by {exc.holder.ref} ({exc.holder.status}); release it with "
                f"`/deploy unlock {environment} &lt;reason&gt;` first."
            ) from None
        if not created:
            return f"{deploy.ref} is already under way ({deploy.status})."
        await services.jobs.schedule_once(
            conn, EXPIRE, f"{deploy.id}:running", now + RUNNING_TIMEOUT, {"deploy_id": deploy.id, "status": "running"}
        )
        await _schedule_trigger_check(services, conn, deploy.id, now)
        if current.watch_until and not current.watch_result:
            await store.set_values(conn, current.id, watch_result=f"rolled back by @{actor}")
            await services.jobs.cancel(conn, WATCH_END, str(current.id))
        await audit.record(
            conn,
            kind="deploy",
            action="rollback",
            outcome="ok",
            actor=actor,
            request_id=request_id,
            detail={"deploy": deploy.id, "from": current.version, "to": target.version, "reason": reason},
        )
    replaced = await store.get(services.db, current.id)
    assert replaced is not None
    answer, _ = await asyncio.gather(_run_pipeline(services, deploy, "rollback"), refresh(services, replaced))
    await _tell_incidents(
        services,
        f":rewind: {mention(actor)} is rolling {environment} back from "
        f"`{escape(current.version)}` to `{escape(target.version)}`: {mrkdwn(reason)}",
    )
    return answer


async def _tell_incidents(services: Services, text: str) -> None:
    channels = [i.channel_id for i in await incidents.open_incidents(services.db) if i.channel_id]
    results = await asyncio.gather(
        *(services.slack.chat_postMessage(channel=c, text=text) for c in channels), return_exceptions=True
    )
    for channel, result in zip(channels, results, strict=True):
        if isinstance(result, BaseException):
            logger.warning("incident channel not told of the rollback", channel=channel, error=repr(result))


# -- the watch window and expiry -------------------------------------------------------------------------------


async def watch_ended(services: Services, deploy_id: int) -> bool:
    deploy = await store.get(services.db, deploy_id)
    if deploy is None or deploy.watch_result:
        return False
    text, blocks = messages.watch_reminder(deploy, zone(services), await slo_watch.watch_summary(services, deploy))
    await services.slack.chat_postMessage(
        channel=deploy.channel or services.config.channels.deployments,
        thread_ts=deploy.message_ts,
        reply_broadcast=True,
        text=text,
        blocks=blocks,
    )
    return True


async def watch_healthy(services: Services, deploy_id: int, actor: str) -> str:
    await policy.require(services, Do.PROD_HEALTHY, actor)
    async with services.db.transaction() as conn:
        deploy = await store.get(conn, deploy_id, for_update=True)
        if deploy is None or deploy.watch_until is None:
            raise UsageError("That deploy has no watch window.", usage=False)
        if deploy.watch_result:
            return f"The watch of {deploy.ref} is already closed: {deploy.watch_result}."
        deploy = await store.set_values(conn, deploy_id, watch_result=f"healthy (@{actor})")
        await audit.record(
            conn, kind="deploy", action="watch.healthy", outcome="ok", actor=actor, detail={"deploy": deploy_id}
        )
    await refresh(services, deploy)
    return f"{deploy.ref} is marked healthy."


async def check_trigger(services: Services, deploy_id: int) -> bool:
    """A started deploy (or rollback) whose pipeline call never got a recorded answer: the bot died while
    calling it. Say so where it was announced, offer the deployers Mark deployed / Mark failed; a late
    callback from the pipeline is still accepted, and the lock stays only as long as that is said."""
    now = services.clock.now()
    async with services.db.transaction() as conn:
        deploy = await store.get(conn, deploy_id, for_update=True)
        if deploy is None or deploy.status != "running" or deploy.pipeline_accepted_at or deploy.outcome_unknown_at:
            return False
        deploy = await store.set_values(conn, deploy_id, outcome_unknown_at=now)
        await audit.record(
            conn, kind="deploy", action="outcome_unknown", outcome="ok", actor="bot", detail={"deploy": deploy_id}
        )
    await refresh(services, deploy)
    await _thread(
        services,
        deploy,
        f":warning: {deploy.ref}: outcome unknown: check CI. The bot stopped while calling the pipeline, so it "
        f"cannot tell whether the pipeline started. {deploy.environment} stays locked until the pipeline reports "
        "back or a deployer marks it deployed or failed.",
    )
    return True


async def expire(services: Services, deploy_id: int, status: str) -> bool:
    """Nothing stays locked forever: a deploy nobody started, or one the pipeline never reported."""
    now = services.clock.now()
    why = (
        "the checklist was not completed and started within 4 h"
        if status == "pending"
        else "no result from the pipeline within 60 min: check it, then deploy again"
    )
    async with services.db.transaction() as conn:
        expired = await store.transition(
            conn,
            deploy_id,
            (status,),
            status="cancelled" if status == "pending" else "failed",
            finished_at=now,
            finished_by="bot",
            detail=f"expired: {why}",
        )
        if expired is None:
            return False
        await audit.record(
            conn,
            kind="deploy",
            action="expired",
            outcome="ok",
            actor="bot",
            detail={"deploy": deploy_id, "was": status},
        )
    await refresh(services, expired)
    await _thread(services, expired, f":hourglass: {expired.ref} expired: {why}. {expired.environment} is unlocked.")
    return True
