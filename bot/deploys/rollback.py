"""Rolling back: the target (the last good version), the offer, and the rollback itself, announced like a deploy."""

from __future__ import annotations

import asyncio

from bot import audit, policy
from bot.deploys import answers, messages, store
from bot.deploys.announce import refresh
from bot.deploys.events import RollbackStarted
from bot.deploys.flows import run_pipeline, schedule_running
from bot.deploys.ids import Job, Kind, Status
from bot.deploys.messages import Prompt
from bot.deploys.models import Deploy
from bot.deploys.store import Locked
from bot.errors import Invalid, NotFound, Refused
from bot.policy import Do
from bot.services import Services


async def target(services: Services, environment: str) -> tuple[Deploy, Deploy]:
    """(what runs now, the last good version before it): a version rolled back from is not good."""
    ran = await store.succeeded(services.db, environment)
    if not ran:
        raise NotFound(answers.say(answers.NOTHING_DEPLOYED, environment=environment))
    current = ran[0]
    rolled_back = {d.rollback_of for d in ran if d.rollback_of}
    bad_versions = {d.version for d in ran if d.id in rolled_back} | {current.version}
    good = next((d for d in ran[1:] if d.version not in bad_versions), None)
    if good is None:
        raise NotFound(answers.say(answers.NO_GOOD_VERSION, current))
    return current, good


async def offer(services: Services, actor: str, environment: str, prompt: Prompt | None = None) -> list[dict]:
    await policy.require(
        services, Do.ROLLBACK, actor, what=answers.say(answers.ROLL_BACK_WHAT, environment=environment)
    )
    current, good = await target(services, environment)
    return messages.rollback_offer(environment, current, good, services.config, prompt or Prompt())


def reason_of(services: Services, choice: str | None, other: str) -> str:
    """The reason picked on the offer: one of the manual's criteria (with what was typed), or `other`."""
    criteria = {c.id: c.text for c in services.config.rollback.criteria}
    if choice in criteria:
        return answers.rollback_reason(criteria[choice], other)
    if choice == "other" and other:
        return answers.rollback_reason(None, other)
    raise Invalid(answers.PICK_REASON)


async def confirmed(
    services: Services,
    actor: str,
    environment: str,
    current_id: int,
    choice: str | None,
    other: str,
    request_id: str,
    channel: str | None = None,
) -> str:
    """The confirmed rollback offer: who may first, then the reason picked."""
    await policy.require(
        services, Do.ROLLBACK, actor, what=answers.say(answers.ROLL_BACK_WHAT, environment=environment)
    )
    reason = reason_of(services, choice, other)
    return await rollback(services, actor, environment, current_id, reason, request_id, channel=channel)


async def from_watch(
    services: Services, actor: str, deploy_id: int, request_id: str, channel: str | None = None
) -> str:
    """Roll back from the end-of-watch reminder's button."""
    deploy = await store.get(services.db, deploy_id)
    if deploy is None:
        raise NotFound(answers.NO_DEPLOY)
    reason = answers.say(answers.WATCH_ROLLBACK_REASON, deploy)
    return await rollback(services, actor, deploy.environment, deploy.id, reason, request_id, channel=channel)


async def incident_of(services: Services, channel: str | None, environment: str) -> tuple[int, str] | None:
    """The incident a rollback of `environment` confirmed in `channel` belongs to (the incidents domain's rule,
    through services.incident_for); None without one."""
    return await services.incident_for(services, channel, environment) if services.incident_for else None


async def rollback(
    services: Services,
    actor: str,
    environment: str,
    current_id: int,
    reason: str,
    request_id: str,
    *,
    channel: str | None = None,
) -> str:
    await policy.require(
        services, Do.ROLLBACK, actor, what=answers.say(answers.ROLL_BACK_WHAT, environment=environment)
    )
    current, good = await target(services, environment)
    if current.id != current_id:
        raise Invalid(answers.say(answers.ENVIRONMENT_CHANGED, current))
    incident = await incident_of(services, channel, environment)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        try:
            deploy, created = await store.create(
                conn,
                environment=environment,
                version=good.version,
                requested_by=actor,
                request_key=f"rollback:{current.id}",
                at=now,
                kind=Kind.ROLLBACK,
                status=Status.RUNNING,
                rollback_of=current.id,
                reason=reason,
            )
        except Locked as exc:
            raise Refused(answers.say(answers.ROLLBACK_LOCKED, exc.holder)) from None
        if not created:
            return answers.say(answers.ROLLBACK_UNDER_WAY, deploy)
        await schedule_running(services, conn, deploy.id, now)
        # The environment is pinned to the older version once this succeeds; vY's deployer is to fix forward:
        # an action item on the incident (its subscriber), else a note in vY's deploy thread (ours).
        await store.add_pin(conn, deploy, current, current.deployed_by, incident, now)
        if incident is None:
            await services.jobs.schedule_once(
                conn, Job.FIX_FORWARD_NOTE, str(deploy.id), now, {"rollback_id": deploy.id}
            )
        if current.watch_until and not current.watch_result:
            await store.set_values(
                conn, current.id, watch_result=answers.say(answers.BY, what="rolled back", actor=actor)
            )
            await services.jobs.cancel(conn, Job.WATCH_END, str(current.id))
        await audit.record(
            conn,
            kind="deploy",
            action="rollback",
            outcome="ok",
            actor=actor,
            request_id=request_id,
            detail={"deploy": deploy.id, "from": current.version, "to": good.version, "reason": reason},
        )
        # The open incidents' channels hear of it (bot/incidents/deploy_notes.py subscribes).
        started = RollbackStarted(
            deploy_id=deploy.id,
            replaced_id=current.id,
            actor=actor,
            environment=environment,
            reason=reason,
            incident_id=incident[0] if incident else None,
        )
        published = await services.events.publish(conn, started)
    replaced = await store.get(services.db, current.id) or current
    answer, _ = await asyncio.gather(run_pipeline(services, deploy, Kind.ROLLBACK), refresh(services, replaced))
    await services.events.after_commit(published)
    if incident is None:
        await services.jobs.run_now(Job.FIX_FORWARD_NOTE, str(deploy.id))
    return answer
