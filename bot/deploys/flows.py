"""Deploy stories: the manual's gates, checked in Postgres, then announced. Rollbacks are in rollback.py,
the scheduled work (watch end, expiry, a pipeline call with no answer) in scheduled.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot import audit, policy
from bot.deploys import answers, messages, parse, pipeline, store
from bot.deploys.announce import refresh, thread
from bot.deploys.events import DeployFinished
from bot.deploys.ids import (
    BOT,
    PROD,
    STAGING,
    TEAM_NOTIFIED,
    Checklist,
    Finished,
    Job,
    Kind,
    Status,
    expire_key,
    expire_prefix,
)
from bot.deploys.models import Deploy, Pin
from bot.deploys.store import Locked
from bot.errors import AlreadyDone, NotFound, Refused, UsageError
from bot.opsconfig import CheckItem
from bot.policy import Do, Subject
from bot.services import Services, zone
from bot.slack.blocks import selection_change

PENDING_TIMEOUT = timedelta(hours=4)
RUNNING_TIMEOUT = timedelta(minutes=60)


async def _audit(conn: Any, action: str, actor: str, detail: dict, request_id: str | None = None) -> None:
    await audit.record(
        conn, kind="deploy", action=action, outcome="ok", actor=actor, request_id=request_id, detail=detail
    )


async def _existing(services: Services, deploy_id: int) -> Deploy:
    deploy = await store.get(services.db, deploy_id)
    if deploy is None:
        raise NotFound(answers.NO_DEPLOY)
    return deploy


# -- deploying -------------------------------------------------------------------------------------------------


async def _gate(services: Services, actor: str, req: parse.Deploy) -> None:
    """The production gate: deployers only, and a version validated on staging unless forced (deployers)."""
    env = Subject(environment=req.environment)
    await policy.require(services, Do.PROD_DEPLOY, actor, env)
    if req.force_reason:
        if req.environment != PROD:
            raise UsageError(answers.FORCE_NOT_STAGING)
        await policy.require(services, Do.PROD_FORCE, actor, env)
    elif req.environment == PROD and await store.validated_on_staging(services.db, req.version) is None:
        raise Refused(answers.not_validated(req.version))


async def request(services: Services, actor: str, req: parse.Deploy, key: str, request_id: str) -> str:
    await _gate(services, actor, req)
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
            raise Refused(answers.locked(req.environment, exc.holder, zone(services))) from None
        if not created:
            return answers.say(answers.ALREADY_REQUESTED, deploy)
        if any(i.id == TEAM_NOTIFIED for i in services.config.deploy.pre_deploy_checklist):
            await store.tick(conn, deploy.id, Checklist.PRE, TEAM_NOTIFIED, BOT, now)
        await services.jobs.schedule_once(
            conn,
            Job.EXPIRE,
            expire_key(deploy.id, Status.PENDING),
            now + PENDING_TIMEOUT,
            {"deploy_id": deploy.id, "status": Status.PENDING},
        )
        # The announcement is durable with the request: a crash right after the ack leaves it to any replica.
        await services.jobs.schedule_once(conn, Job.ANNOUNCE, str(deploy.id), now, {"deploy_id": deploy.id})
        detail = {"deploy": deploy.id, "env": deploy.environment, "version": deploy.version, "forced": req.force_reason}
        await _audit(conn, "request", actor, detail, request_id)
    if await services.jobs.run_now(Job.ANNOUNCE, str(deploy.id)) and (said := _announced.pop(deploy.id, None)):
        return said
    channel = services.config.channels.deployments
    return answers.say(answers.ANNOUNCING, deploy, channel=channel)  # a ticker got to it first, or it failed


# What an announcement run said, for the request that ran it here (jobs.run_now runs it in this task).
_announced: dict[int, str] = {}


async def announce(services: Services, deploy_id: int) -> None:
    """The Job.ANNOUNCE run: a requested deploy's announcement (once; a cancelled or started one is left be)."""
    deploy = await store.get(services.db, deploy_id)
    if deploy is None or deploy.status != Status.PENDING or deploy.message_ts:
        return
    _announced[deploy_id] = await _announce(services, deploy)


async def _announce(services: Services, deploy: Deploy) -> str:
    channel = services.config.channels.deployments
    refused = await refresh(services, deploy)
    if not refused:
        return answers.say(answers.ANNOUNCED, deploy, channel=channel)
    # Nobody can tick a checklist nobody sees: release the lock rather than hold it for hours.
    async with services.db.transaction() as conn:
        await store.transition(
            conn,
            deploy.id,
            (Status.PENDING,),
            status=Status.CANCELLED,
            finished_by=BOT,
            finished_at=services.clock.now(),
            detail=answers.say(answers.DETAIL, what="announcement failed", why=refused),
        )
        await services.jobs.cancel_prefix(conn, Job.EXPIRE, expire_prefix(deploy.id))
    return answers.say(answers.NOT_ANNOUNCED, deploy, channel=channel, error=refused)


def _items(services: Services, list_name: Checklist) -> list[CheckItem]:
    config = services.config
    return {
        Checklist.PRE: config.deploy.pre_deploy_checklist,
        Checklist.STAGING: config.deploy.staging_validation,
        Checklist.POST: config.deploy.post_deploy_validation,
        Checklist.VERIFY: config.rollback.verify,
    }[list_name]


def _list_is_open(deploy: Deploy, list_name: Checklist) -> bool:
    if list_name == Checklist.PRE:
        return deploy.status == Status.PENDING
    if deploy.status != Status.SUCCEEDED:
        return False
    if list_name == Checklist.VERIFY:
        return deploy.kind == Kind.ROLLBACK
    if list_name == Checklist.STAGING:
        return deploy.kind == Kind.DEPLOY and deploy.environment == STAGING
    return deploy.kind == Kind.DEPLOY and deploy.environment != STAGING


async def _may_tick(services: Services, deploy: Deploy, actor: str) -> None:
    rule = policy.checklist_rule(deploy.environment, rollback=deploy.kind == Kind.ROLLBACK)
    if rule is not None and not await policy.allows(services, rule, actor):
        await refresh(services, deploy)  # Slack already shows the box ticked: put the message back as it is
        await policy.require(services, rule, actor, what="tick a prod checklist")


async def tick(
    services: Services, deploy_id: int, list_name: Checklist, selected: set[str], actor: str, part: slice = slice(None)
) -> str | None:
    """Apply the checkbox selection (state, not toggles: a double click changes nothing)."""
    now = services.clock.now()
    before = await store.get(services.db, deploy_id)
    if before is not None:
        await _may_tick(services, before, actor)
    newly_validated = False
    async with services.db.transaction() as conn:
        deploy = await store.get(conn, deploy_id, for_update=True)
        if deploy is None:
            raise NotFound("That checklist does not belong to a deploy.")
        if not _list_is_open(deploy, list_name):
            await refresh(services, deploy)
            return answers.CHECKLIST_CLOSED
        items = {i.id for i in _items(services, list_name)}
        shown = [i.id for i in _items(services, list_name)[part]]  # the part of a long list clicked
        current = [item for (lst, item) in await store.checks(conn, deploy_id) if lst == list_name]
        change = selection_change(selected & items, current, shown)
        for item in change.tick:
            await store.tick(conn, deploy_id, list_name, item, actor, now)
        for item in change.untick:
            if item != TEAM_NOTIFIED:  # the announcement ticked it: nobody unticks that
                await store.untick(conn, deploy_id, list_name, item)
        done = {item for (lst, item) in await store.checks(conn, deploy_id) if lst == list_name}
        if list_name == Checklist.STAGING and done >= items and deploy.validated_at is None:
            deploy = await store.set_values(conn, deploy_id, validated_at=now)
            newly_validated = True
            await _audit(conn, "validated", actor, {"deploy": deploy_id, "version": deploy.version})
    await refresh(services, deploy)
    if newly_validated:
        await thread(services, deploy, answers.validated(deploy.version, actor))
    return None


async def start(services: Services, deploy_id: int, actor: str, *, anyway: bool = False) -> tuple[str, Any]:
    deploy = await _existing(services, deploy_id)
    if deploy.status != Status.PENDING:
        return answers.already_started(deploy, deploy.status), None
    await policy.require(services, Do.PROD_START, actor, Subject(environment=deploy.environment))
    ticks = await store.checks(services.db, deploy_id)
    missing = [i.text for i in services.config.deploy.pre_deploy_checklist if (Checklist.PRE, i.id) not in ticks]
    if missing and deploy.environment == PROD:
        raise Refused(messages.not_ticked(missing))
    if missing and not anyway:
        return messages.start_anyway(deploy, missing)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        started = await store.transition(
            conn, deploy_id, (Status.PENDING,), status=Status.RUNNING, started_by=actor, started_at=now
        )
        if started is None:
            return answers.already_started(deploy), None
        await services.jobs.cancel(conn, Job.EXPIRE, expire_key(deploy_id, Status.PENDING))
        await schedule_running(services, conn, deploy_id, now)
        await _audit(conn, "start", actor, {"deploy": deploy_id, "incomplete": missing})
    return await run_pipeline(services, started, Kind.DEPLOY), None


async def schedule_running(services: Services, conn: Any, deploy_id: int, now: datetime) -> None:
    """With a deploy's (or rollback's) start: its expiry, and if the bot dies while calling the pipeline, a job
    that says so (any replica)."""
    await services.jobs.schedule_once(
        conn,
        Job.EXPIRE,
        expire_key(deploy_id, Status.RUNNING),
        now + RUNNING_TIMEOUT,
        {"deploy_id": deploy_id, "status": Status.RUNNING},
    )
    if services.config.deploy.webhook_url:
        await services.jobs.schedule_once(
            conn,
            Job.CHECK_TRIGGER,
            str(deploy_id),
            now + services.config.deploy.pipeline_answer_within,
            {"deploy_id": deploy_id},
        )


async def run_pipeline(services: Services, deploy: Deploy, action: Kind) -> str:
    url = services.config.deploy.webhook_url
    if not url:
        await refresh(services, deploy)
        return answers.say(answers.RUN_BY_HAND, deploy)
    error = await pipeline.trigger(services, url, deploy, action)
    if error is None:
        async with services.db.transaction() as conn:
            accepted = await store.transition(
                conn, deploy.id, (Status.RUNNING,), pipeline_accepted_at=services.clock.now()
            )
            await services.jobs.cancel(conn, Job.CHECK_TRIGGER, str(deploy.id))
        await refresh(services, accepted or deploy)
        return answers.say(answers.TRIGGERED, deploy)
    async with services.db.transaction() as conn:
        failed = await store.transition(
            conn,
            deploy.id,
            (Status.RUNNING,),
            status=Status.FAILED,
            finished_at=services.clock.now(),
            finished_by=BOT,
            detail=answers.say(answers.DETAIL, what="not started", why=error),
        )
        await services.jobs.cancel(conn, Job.EXPIRE, expire_key(deploy.id, Status.RUNNING))
    await refresh(services, failed or deploy)
    return answers.say(answers.NOT_STARTED, deploy, error=error)


async def finish(
    services: Services, deploy_id: int, status: Status, by: str, url: str | None = None, detail: str | None = None
) -> tuple[Deploy | None, Finished]:
    """Record the pipeline's (or a human's) word. Returns (deploy, what it did)."""
    now = services.clock.now()
    async with services.db.transaction() as conn:
        deploy = await store.get(conn, deploy_id, for_update=True)
        if deploy is None:
            return None, Finished.MISSING
        if deploy.status == status:
            return deploy, Finished.REPLAYED
        values: dict[str, Any] = {"status": status, "finished_at": now, "finished_by": by, "url": url, "detail": detail}
        if status == Status.SUCCEEDED and deploy.kind == Kind.DEPLOY and deploy.environment != STAGING:
            values["watch_until"] = now + timedelta(minutes=services.config.deploy.watch_minutes)
        finished = await store.transition(conn, deploy_id, (Status.RUNNING,), **values)
        if finished is None:  # not running (the row is locked, so no one else changed it in between)
            return deploy, Finished.CONFLICT
        deploy = finished
        await services.jobs.cancel(conn, Job.EXPIRE, expire_key(deploy_id, Status.RUNNING))
        if deploy.watch_until:
            await services.jobs.schedule_once(
                conn, Job.WATCH_END, str(deploy_id), deploy.watch_until, {"deploy_id": deploy_id}
            )
        cleared = await _repin(services, conn, deploy, now) if deploy.status == Status.SUCCEEDED else []
        # The SLO watch (or rollback check) starts, the incident channels hear of a rollback: subscribers.
        published = await services.events.publish(
            conn, DeployFinished(deploy_id=deploy_id, status=deploy.status, kind=deploy.kind)
        )
        await _audit(conn, f"finished.{status}", by, {"deploy": deploy_id, "url": url, "detail": detail})
    await refresh(services, deploy)
    await services.events.after_commit(published)
    for pin in cleared:
        await services.jobs.run_now(Job.PIN_CLEARED, str(pin.rollback_id))
    return deploy, Finished.CHANGED


async def _repin(services: Services, conn: Any, deploy: Deploy, now: datetime) -> list[Pin]:
    """A succeeded deploy or rollback: the pins it ends (another version runs there now), each said in its thread
    by a job; and a rollback's own pin holds from now."""
    cleared = await store.clear_pins(conn, deploy.environment, deploy.version, deploy.id, now)
    for pin in cleared:
        payload = {"rollback_id": pin.rollback_id, "deploy_id": deploy.id}
        await services.jobs.schedule_once(conn, Job.PIN_CLEARED, str(pin.rollback_id), now, payload)
        await _audit(conn, "unpinned", BOT, {"rollback": pin.rollback_id, "deploy": deploy.id})
    if deploy.kind == Kind.ROLLBACK and await store.hold_pin(conn, deploy.id, now):
        await _audit(conn, "pinned", BOT, {"rollback": deploy.id, "env": deploy.environment, "version": deploy.version})
    return cleared


async def mark(services: Services, deploy_id: int, status: Status, actor: str) -> str:
    deploy = await _existing(services, deploy_id)
    rule = Do.ROLLBACK_MARK if deploy.kind == Kind.ROLLBACK else Do.PROD_MARK
    await policy.require(services, rule, actor, Subject(environment=deploy.environment))
    finished, outcome = await finish(services, deploy_id, status, answers.say(answers.BY, what="marked", actor=actor))
    return answers.marked(finished, status, outcome)


async def cancel(services: Services, deploy_id: int, actor: str) -> str:
    deploy = await _existing(services, deploy_id)
    await policy.require(services, Do.DEPLOY_CANCEL, actor, Subject(requester=deploy.requested_by))
    async with services.db.transaction() as conn:
        cancelled = await store.transition(
            conn,
            deploy_id,
            (Status.PENDING,),
            status=Status.CANCELLED,
            finished_at=services.clock.now(),
            finished_by=answers.say(answers.BY, what="cancelled", actor=actor),
        )
        if cancelled is None:
            return answers.say(answers.NOT_CANCELLABLE, deploy)
        await services.jobs.cancel_prefix(conn, Job.EXPIRE, expire_prefix(deploy_id))
        await _audit(conn, "cancel", actor, {"deploy": deploy_id})
    await refresh(services, cancelled)
    return answers.say(answers.CANCELLED, deploy)


async def unlock(services: Services, actor: str, environment: str, reason: str, request_id: str) -> str:
    await policy.require(services, Do.DEPLOY_UNLOCK, actor)
    async with services.db.transaction() as conn:
        holder = await store.active(conn, environment)
        if holder is None:
            raise AlreadyDone(answers.say(answers.NOT_LOCKED, environment=environment))
        released = await store.transition(
            conn,
            holder.id,
            (Status.PENDING, Status.RUNNING),
            status=Status.CANCELLED,
            finished_at=services.clock.now(),
            finished_by=answers.say(answers.BY, what="unlocked", actor=actor),
            detail=answers.say(answers.DETAIL, what="unlocked", why=reason),
        )
        await services.jobs.cancel_prefix(conn, Job.EXPIRE, expire_prefix(holder.id))
        detail = {"deploy": holder.id, "env": environment, "reason": reason}
        await _audit(conn, "unlock", actor, detail, request_id)
    if released:
        await refresh(services, released)
    return answers.unlocked(environment, holder, reason)


async def watch_healthy(services: Services, deploy_id: int, actor: str) -> str:
    await policy.require(services, Do.PROD_HEALTHY, actor)
    async with services.db.transaction() as conn:
        deploy = await store.get(conn, deploy_id, for_update=True)
        if deploy is None or deploy.watch_until is None:
            raise NotFound(answers.NO_WATCH)
        if deploy.watch_result:
            return answers.say(answers.WATCH_CLOSED, deploy)
        deploy = await store.set_values(conn, deploy_id, watch_result=answers.say(answers.HEALTHY, actor=actor))
        await _audit(conn, "watch.healthy", actor, {"deploy": deploy_id})
    await refresh(services, deploy)
    return answers.say(answers.MARKED_HEALTHY, deploy)


async def status(services: Services) -> str:
    envs = services.config.deploy.environments
    current = {env: next(iter(await store.succeeded(services.db, env, 1)), None) for env in envs}
    active = {env: await store.active(services.db, env) for env in envs}
    watches = await store.open_watches(services.db, services.clock.now())
    pins = await store.pinned(services.db)
    return messages.status(current, active, watches, zone(services), pins)


async def history(services: Services, environment: str | None, limit: int) -> str:
    return messages.history(await store.history(services.db, environment, limit), zone(services))
