"""The post-deploy watch and the rollback check, measured: error ratio and p95 now against before the deploy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import audit, log
from bot.deploys import announce
from bot.deploys import api as deploys
from bot.deploys import messages as deploy_messages
from bot.deploys.events import DeployFinished
from bot.deploys.ids import Checklist, Kind, Status
from bot.deploys.models import Deploy
from bot.deploys.rollback import target as rollback_target
from bot.jobs import JobRun
from bot.prom import PrometheusError, with_window
from bot.services import Services
from bot.slack.text import escape
from bot.slo import store
from bot.slo.ids import Job
from bot.slo.measure import query_all, show

logger = log.get("zzik.slo.watch")
VERIFY_ITEM = "error_rates_normal"  # rollback.verify: "Check error rates returned to normal"


@dataclass(frozen=True)
class Figures:
    before_errors: float | None
    before_p95: float | None
    errors: float | None
    p95: float | None
    span: timedelta

    def line(self) -> str:
        return (
            f"error rate {show(self.errors, '%')} (before: {show(self.before_errors, '%')}) · "
            f"p95 {show(self.p95, 's')} (before: {show(self.before_p95, 's')})"
        )

    @property
    def p95_change(self) -> float | None:
        if self.p95 is None or not self.before_p95:
            return None
        return self.p95 / self.before_p95 - 1


def _deployed_at(deploy: Deploy) -> datetime:
    return deploy.started_at or deploy.finished_at or deploy.created_at


async def figures(services: Services, deploy: Deploy, at: datetime, span: timedelta) -> Figures:
    """The last `span` up to `at`, against the baseline before the deploy started. Raises PrometheusError."""
    prom, config = services.prometheus, services.config.prometheus
    if prom is None:
        raise PrometheusError("no Prometheus is configured")
    before = _deployed_at(deploy)
    before_errors, before_p95, errors, p95 = await query_all(
        prom,
        [
            prom.value(with_window(config.error_ratio, config.baseline), before),
            prom.value(with_window(config.latency_p95, config.baseline), before),
            prom.value(with_window(config.error_ratio, span), at),
            prom.value(with_window(config.latency_p95, span), at),
        ],
    )
    return Figures(before_errors, before_p95, errors, p95, span)


def criteria_met(services: Services, f: Figures) -> list[tuple[str, str]]:
    """(rollback criterion id, what was measured as raw text) for each of the manual's criteria the figures meet."""
    config = services.config.prometheus
    met = []
    if f.errors is not None and f.errors > config.rollback_error_ratio:
        met.append(
            (
                config.rollback_error_criterion,
                f"error rate {show(f.errors, '%')} > {show(config.rollback_error_ratio, '%')}",
            )
        )
    change = f.p95_change
    if change is not None and change > config.rollback_p95_degradation:
        met.append(
            (
                config.rollback_p95_criterion,
                f"p95 {show(f.p95, 's')} is {show(change, '%')} slower than before "
                f"({show(f.before_p95, 's')}), over {show(config.rollback_p95_degradation, '%')}",
            )
        )
    return met


# -- what follows the deploys domain's events, and what it asks ------------------------------------------------


async def start_watch(services: Services, finished: DeployFinished) -> None:
    """A deploy finished (the Job.START_WATCH subscriber): a prod deploy's watch, or a rollback's check, starts
    being measured a minute after it finished."""
    if services.prometheus is None or finished.status != Status.SUCCEEDED:
        return
    deploy = await deploys.get(services.db, finished.deploy_id)
    if deploy is None or deploy.status != Status.SUCCEEDED or deploy.finished_at is None:
        return
    due = deploy.finished_at + services.config.prometheus.watch_every
    payload = {"deploy_id": deploy.id, "n": 1}
    if deploy.kind == Kind.DEPLOY and deploy.watch_until:
        job = Job.WATCH_TICK
    elif deploy.kind == Kind.ROLLBACK and any(i.id == VERIFY_ITEM for i in services.config.rollback.verify):
        job = Job.ROLLBACK_CHECK
    else:
        return
    async with services.db.transaction() as conn:
        await services.jobs.schedule_once(conn, job, f"{deploy.id}:1", due, payload)


async def watch_summary(services: Services, deploy: Deploy) -> str | None:
    """The window's before/after figures for its end message (services.watch_summary); None without Prometheus."""
    if services.prometheus is None or deploy.watch_until is None or deploy.finished_at is None:
        return None
    try:
        f = await figures(services, deploy, deploy.watch_until, deploy.watch_until - deploy.finished_at)
    except PrometheusError as exc:
        return f"Measured figures unavailable: {escape(str(exc))}."
    return f"Over the watch window: {f.line()} (before = the {_minutes(services)} before the deploy)."


def _minutes(services: Services) -> str:
    return f"{int(services.config.prometheus.baseline.total_seconds() // 60)} min"


# -- the jobs ---------------------------------------------------------------------------------------------------


async def _next(services: Services, job: str, deploy_id: int, run: JobRun, until: datetime) -> None:
    n = int(run.payload.get("n", 1)) + 1
    every = services.config.prometheus.watch_every
    due = max(run.due_at + every, services.clock.now() + every)  # a late run does not replay the missed minutes
    if due < until:
        async with services.db.transaction() as conn:
            await services.jobs.schedule_once(conn, job, f"{deploy_id}:{n}", due, {"deploy_id": deploy_id, "n": n})


async def _thread_once(services: Services, deploy: Deploy, key: str, text: str, blocks=None) -> None:
    """Post in the deploy's thread once per key; a failed post rolls the claim back and the job retries."""
    async with services.db.transaction() as conn:
        if await store.claim_post(conn, key, services.clock.now()):
            await services.slack.chat_postMessage(
                channel=deploy.channel or services.config.channels.deployments,
                thread_ts=deploy.message_ts,
                text=text,
                blocks=blocks,
            )


async def watch_tick(services: Services, run: JobRun) -> None:
    """One minute of a prod watch window: post once per rollback criterion the figures meet."""
    deploy = await deploys.get(services.db, int(run.payload["deploy_id"]))
    if deploy is None or deploy.watch_until is None or deploy.finished_at is None or deploy.watch_result:
        return
    await _next(services, Job.WATCH_TICK, deploy.id, run, deploy.watch_until)
    now = services.clock.now()
    span = min(services.config.prometheus.watch_window, now - deploy.finished_at)
    if span < timedelta(seconds=1):
        return
    try:
        f = await figures(services, deploy, now, span)
    except PrometheusError as exc:
        await _thread_once(
            services,
            deploy,
            f"watch-down:{deploy.id}",
            f":warning: The watch of {deploy.ref} cannot be measured: {escape(str(exc))}. Watch the dashboards; "
            "the bot keeps trying every minute.",
        )
        return
    met = criteria_met(services, f)
    if not met:
        return
    # One post per criterion: the first minute it is met (a later criterion gets its own post).
    async with services.db.transaction() as conn:
        fresh = [(cid, why) for cid, why in met if await store.claim_post(conn, f"watch:{deploy.id}:{cid}", now)]
        if fresh:
            text, blocks = await _breach_message(services, deploy, f, fresh)
            await services.slack.chat_postMessage(
                channel=deploy.channel or services.config.channels.deployments,
                thread_ts=deploy.message_ts,
                text=text,
                blocks=blocks,
            )


async def _breach_message(services: Services, deploy: Deploy, f: Figures, met: list[tuple[str, str]]):
    criteria = {c.id: c.text for c in services.config.rollback.criteria}
    text = deploy_messages.watch_breach(deploy, [(criteria.get(cid, cid), why) for cid, why in met])
    header = deploy_messages.section(f"{text}\nLast {_span(f.span)}: {f.line()}.")
    try:
        current, target = await rollback_target(services, deploy.environment)
    except Exception:  # nothing to roll back to: say so rather than offer a button that cannot work
        return text, [header, deploy_messages.context("No earlier good version is known to roll back to.")]
    if current.id != deploy.id:
        return text, [header, deploy_messages.context(f"{deploy.environment} has moved on since ({current.ref}).")]
    prompt = deploy_messages.Prompt(criterion=next((cid for cid, _ in met if cid in criteria), None))
    offer = deploy_messages.rollback_offer(deploy.environment, current, target, services.config, prompt)
    return text, [header, *offer]


def _span(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


async def rollback_check(services: Services, run: JobRun) -> None:
    """After a rollback: tick "error rates returned to normal" with the figure once Prometheus shows it."""
    rollback = await deploys.get(services.db, int(run.payload["deploy_id"]))
    if rollback is None or rollback.status != Status.SUCCEEDED or rollback.finished_at is None:
        return
    if (Checklist.VERIFY, VERIFY_ITEM) in await deploys.checks(services.db, rollback.id):
        return
    bad = await deploys.get(services.db, rollback.rollback_of) if rollback.rollback_of else None
    now = services.clock.now()
    until = rollback.finished_at + services.config.prometheus.verify_for
    span = min(services.config.prometheus.watch_window, now - rollback.finished_at)
    try:
        f = await figures(services, bad or rollback, now, max(span, timedelta(seconds=1)))
    except PrometheusError as exc:
        logger.warning("rollback check not measured", deploy=rollback.id, error=str(exc))
        await _next(services, Job.ROLLBACK_CHECK, rollback.id, run, until)
        return
    limit = normal_limit(f.before_errors)
    if f.errors is None or f.errors > limit:
        if run.due_at + services.config.prometheus.watch_every >= until:
            await _thread_once(
                services,
                rollback,
                f"verify-not-normal:{rollback.id}",
                f":warning: {rollback.ref}: error rates have not returned to normal after "
                f"{_span(services.config.prometheus.verify_for)}: {show(f.errors, '%')} (normal: at most "
                f"{show(limit, '%')}). Check it by hand.",
            )
        await _next(services, Job.ROLLBACK_CHECK, rollback.id, run, until)
        return
    figure = f"bot:Prometheus: error rate {show(f.errors, '%')} (before the deploy: {show(f.before_errors, '%')})"
    async with services.db.transaction() as conn:
        ticked = await deploys.tick(conn, rollback.id, Checklist.VERIFY, VERIFY_ITEM, figure[:200], now)
        if ticked:
            await audit.record(
                conn,
                kind="deploy",
                action="verify.error_rates_normal",
                outcome="ok",
                actor="bot",
                detail={"deploy": rollback.id, "error_ratio": f.errors, "before": f.before_errors},
            )
    if ticked:
        current = await deploys.get(services.db, rollback.id)
        if current is not None:
            await announce.refresh(services, current)


def normal_limit(before: float | None) -> float:
    """Error rates are back to normal at most 10% (relative) or 0.1 point above the rate before the deploy."""
    if before is None:
        return 0.01
    return max(before * 1.1, before + 0.001)
