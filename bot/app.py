"""build(): settings -> database -> Slack app -> each domain's register() -> web routes."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

from aiohttp import web
from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp

from bot import audit, jobs, log, migrate
from bot.alerts import handlers as alerts
from bot.clock import Clock
from bot.db import Database
from bot.deploys import handlers as deploys
from bot.domain import Domain
from bot.events import Events
from bot.heartbeats import handlers as heartbeats
from bot.home import handlers as home
from bot.incidents import handlers as incidents
from bot.jobs import JobRunner
from bot.maintenance import handlers as maintenance
from bot.metrics import Metrics
from bot.oncall import handlers as oncall
from bot.opsconfig import OpsConfig
from bot.pagerduty import handlers as pagerduty
from bot.prom import Prometheus
from bot.reviews import handlers as reviews
from bot.runbooks import handlers as runbooks
from bot.services import Services
from bot.settings import Settings, SettingsError
from bot.slack import middleware, store
from bot.slack.client import SlackClient
from bot.slack.commands import COMMANDS
from bot.slack.users import Directory
from bot.slo import handlers as slo
from bot.status import handlers as status
from bot.web import hooks
from bot.web.routes import add_routes

logger = log.get("zzik.app")

# How long a stop waits for the work under way (bot.__main__ serve spends part of it on in-flight requests).
STOP_GRACE = 10.0

# Every domain, in the order they are mounted: each one's registration table (bot/domain.py). The direction of
# their imports is drawn in README's layout section and checked by tests/unit/test_layout.py.
DOMAINS: list[Domain] = [
    oncall.DOMAIN,
    incidents.DOMAIN,
    deploys.DOMAIN,
    runbooks.DOMAIN,
    maintenance.DOMAIN,
    slo.DOMAIN,
    status.DOMAIN,
    home.DOMAIN,
    alerts.DOMAIN,
    pagerduty.DOMAIN,
    heartbeats.DOMAIN,
    reviews.DOMAIN,
]


@dataclass
class BotApp:
    services: Services
    bolt: AsyncApp
    web: web.Application

    async def start(self, *, migrate_db: bool = True, run_scheduler: bool = True) -> None:
        """Open the database (waiting up to 30 s), migrate, start ticking."""
        await self.services.slack.open()
        if self.services.db.pool is None:
            await self.services.db.open()
        if migrate_db:
            await migrate.migrate(self.services.db)
        if run_scheduler:
            self.services.jobs.start(self.services.settings.zzik_job_tick_seconds)

    async def stop(self, grace_seconds: float = STOP_GRACE) -> None:
        """Stop ticking, let what is under way finish (handlers still running after their ack, a job pass in
        flight) for up to `grace_seconds`, then close Slack's session, the audit writer and the pool. Closing them
        first would fail work that has already committed, and its reporter would hear "nothing was done"."""
        await asyncio.gather(self.services.jobs.stop(grace_seconds), middleware.drain(grace_seconds))
        await self.services.slack.close()
        await self.services.prometheus.close() if self.services.prometheus else None
        if self.services.audit_writer is not None:
            await self.services.audit_writer.close()
        await self.services.db.close()


class _ClientGivenFilter(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN goes unused when a client is given; ours carries that very token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "token` will be unused" not in record.getMessage()


def build(
    settings: Settings,
    config: OpsConfig,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
    replica_id: str | None = None,
) -> BotApp:
    metrics = Metrics()
    if db is None:
        # Without DATABASE_URL the caller starts the embedded server first (bot.__main__) and passes it in.
        if not settings.database_url:
            raise ValueError("build() needs a database: DATABASE_URL or db=")
        db = Database(settings.database_url, max_size=settings.zzik_db_pool_size)
    clock = clock or Clock()
    replica_id = replica_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    runner = JobRunner(
        db=db,
        clock=clock,
        replica_id=replica_id,
        on_finished=metrics.job_finished,
        on_started=metrics.job_started,
        concurrency=jobs.concurrency_for(db.max_size),
    )
    slack = SlackClient(
        token=_required(settings.slack_bot_token, "SLACK_BOT_TOKEN"),
        base_url=settings.slack_api_url,
        metrics=metrics,
        retry_backoff=settings.zzik_slack_retry_backoff_seconds,
    )
    services = Services(settings, config, db, clock, slack, metrics, runner, replica_id, Directory(slack))
    services.audit_writer = audit.Writer(db, metrics)
    services.events = Events(runner)
    if config.prometheus.url:
        services.prometheus = Prometheus(config.prometheus.url, config.prometheus.timeout, lambda: slack.session)

    bolt_logger = logging.getLogger("zzik.bolt")
    bolt_logger.addFilter(_ClientGivenFilter())
    bolt = AsyncApp(
        client=slack,
        signing_secret=_required(settings.slack_signing_secret, "SLACK_SIGNING_SECRET"),
        # The listener wrapper (bot.slack.middleware) returns once acked and lets the handler go on in its own
        # task, so Bolt sends the ack at once instead of polling for it every 10 ms.
        process_before_response=True,
        raise_error_for_unhandled_request=False,
        logger=bolt_logger,
    )
    middleware.install(bolt, services)
    _register_housekeeping(runner, services)
    for domain in DOMAINS:
        middleware.mount(bolt, services, domain.routes)
        if domain.jobs is not None:
            domain.jobs(runner, services)
    _register_directory(bolt, services)
    _register_fallbacks(bolt, services)

    web_app = web.Application(client_max_size=1024**2)
    add_routes(web_app, bolt, services)
    hooks.mount(web_app, services, [hook for domain in DOMAINS for hook in domain.hooks])
    for domain in DOMAINS:
        if domain.web_routes is not None:
            domain.web_routes(web_app, services)
    return BotApp(services, bolt, web_app)


def _required(secret: SecretStr | None, name: str) -> str:
    """Slack's secrets, which the app cannot be built without (`serve` checks them first: require_slack)."""
    if secret is None:
        raise SettingsError(f"{name} is not set")
    return secret.get_secret_value()


def _register_housekeeping(runner: JobRunner, services: Services) -> None:
    @runner.recurring(
        "housekeeping.prune_idempotency_keys",
        spec="daily 03:17 UTC",
        next_due=jobs.cron_next("17 3 * * *", "UTC"),
    )
    async def prune(run: jobs.JobRun) -> None:
        # Slack redelivers within minutes; a week of keys is far more than any retry needs.
        await store.prune(services.db, run.now - timedelta(days=7))


def _register_directory(bolt: AsyncApp, services: Services) -> None:
    @bolt.event("user_change")
    async def user_changed(event: dict) -> None:
        # Someone edited their profile (time zone, name): answers use the new one at once, with no users.info.
        services.users.changed(event.get("user") or {})


def _register_fallbacks(bolt: AsyncApp, services: Services) -> None:
    """Answers for what no domain handles yet, so Slack never shows the user a bare error."""

    @middleware.command(bolt, services, re.compile(r"^/.*"))
    async def not_yet(ctx: middleware.Ctx) -> None:
        ctx.outcome = "not_available"
        known = ", ".join(f"`{c}`" for c in COMMANDS)
        await ctx.answer(f"`{ctx.body.get('command')}` is not a command of this bot. Its commands: {known}.")

    @middleware.action(bolt, services, re.compile(r".*"))
    async def unknown_action(ctx: middleware.Ctx) -> None:
        ctx.outcome = "not_available"
        await ctx.answer("This button is not handled by this version of the bot.")

    @middleware.event(bolt, services, "app_mention")
    async def mentioned(ctx: middleware.Ctx) -> None:
        event = ctx.body.get("event") or {}
        lines = [f"`{c.name}` {c.description} · `{c.name} help`" for c in COMMANDS.values()]
        await services.slack.chat_postMessage(
            channel=str(event.get("channel") or ""),
            thread_ts=event.get("thread_ts") or event.get("ts"),
            text="What I can do:\n" + "\n".join(lines),
        )

    @bolt.event(re.compile(r".*"))
    async def any_event() -> None:
        return None
