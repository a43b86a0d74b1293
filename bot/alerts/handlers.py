"""/alerts, the buttons on alert messages, and the two webhooks: parse, ack, call one flow."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web
from pydantic import BaseModel, ValidationError
from slack_bolt.async_app import AsyncApp

from bot import log
from bot.alerts import flows, parse, payloads
from bot.alerts.ids import Acknowledged, Action, Source, alert_id, runbook_of, silence_of
from bot.errors import DatabaseUnavailable
from bot.services import Services
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, action, command
from bot.slack.middleware import HandlerFn as Handler
from bot.web.signing import verify

logger = log.get("zzik.alerts")
MAX_BODY = 1024**2  # the web app's client_max_size: larger deliveries get 413


async def alerts(ctx: Ctx) -> None:
    match parse.parse_alerts(ctx.text):
        case parse.Help():
            await ctx.answer(usage("/alerts"))
        case parse.FiringNow():
            await ctx.ack()
            await ctx.answer(await flows.firing_now(ctx.services))
        case parse.History(limit=limit):
            await ctx.ack()
            await ctx.answer(await flows.history(ctx.services, limit))


async def acknowledge(ctx: Ctx) -> None:
    await ctx.ack()
    target = Acknowledged.parse(ctx.action.value)
    await ctx.answer(await flows.acknowledge(ctx.services, target, ctx.user_id, ctx.request_id))


async def declare(ctx: Ctx) -> None:
    await ctx.ack()
    form = await flows.declare_form(ctx.services, alert_id(ctx.action.value), ctx.user_id, ctx.channel_id)
    await ctx.services.slack.views_open(trigger_id=ctx.trigger_id, view=form)


async def runbook(ctx: Ctx) -> None:
    await ctx.ack()
    alert, slug = runbook_of(ctx.action.value)
    await ctx.answer(await flows.start_runbook(ctx.services, alert, slug, ctx.user_id))


async def roll_back(ctx: Ctx) -> None:
    await ctx.ack()
    await ctx.answer(*await flows.rollback_offer(ctx.services, alert_id(ctx.action.value), ctx.user_id))


async def silence(ctx: Ctx) -> None:
    await ctx.ack()
    alert, hours = silence_of(ctx.action.value)
    await ctx.answer(await flows.silence(ctx.services, alert, hours, ctx.user_id, ctx.request_id))


async def unsilence(ctx: Ctx) -> None:
    await ctx.ack()
    await ctx.answer(await flows.unsilence(ctx.services, alert_id(ctx.action.value), ctx.user_id, ctx.request_id))


ACTIONS: list[tuple[str | re.Pattern[str], Handler]] = [
    (Action.ACKNOWLEDGE, acknowledge),
    (Action.DECLARE, declare),
    (re.compile(rf"^{Action.RUNBOOK}(:.*)?$"), runbook),
    (Action.ROLL_BACK, roll_back),
    (re.compile(rf"^{Action.SILENCE}(:\d+h)?$"), silence),
    (Action.UNSILENCE, unsilence),
]


def register(app: AsyncApp, services: Services) -> None:
    command(app, services, "/alerts")(alerts)
    for action_id, handler in ACTIONS:
        action(app, services, action_id)(handler)


class _Kick:
    """Start a job tick right after a delivery is stored, so alerts do not wait for the next scheduled tick.
    One at a time; deliveries arriving meanwhile are picked up by the one that follows."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.running: asyncio.Task | None = None
        self.again = False
        self.tasks: set[asyncio.Task] = set()

    def __call__(self) -> None:
        if self.running is not None and not self.running.done():
            self.again = True
            return
        self.running = asyncio.create_task(self._run())

    async def _run(self) -> None:
        # Processing a delivery schedules its pages and sends for now: tick again while there was work.
        for _ in range(10):
            self.again = False
            try:
                ran = await self.services.jobs.tick()
            except Exception as exc:  # the scheduled tick retries; this one only saves time
                logger.warning("alert tick failed", error=repr(exc))
                return
            if not ran and not self.again:
                return


def _field_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{field}: {first['msg']}"


def web_routes(web_app: web.Application, services: Services) -> None:
    kick = _Kick(services)

    def receiver(source: str, model: type[BaseModel]):
        async def handle(request: web.Request) -> web.Response:
            secret = services.settings.zzik_webhook_secret
            if secret is None:
                return web.json_response(
                    {"error": "unauthorized: ZZIK_WEBHOOK_SECRET is not set on the bot"}, status=401
                )
            if request.content_length is not None and request.content_length > MAX_BODY:
                return web.json_response({"error": f"body: larger than {MAX_BODY} bytes"}, status=413)
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return web.json_response({"error": f"body: larger than {MAX_BODY} bytes"}, status=413)
            if not verify(request.headers, body, secret.get_secret_value()):
                return web.json_response({"error": "unauthorized: send Authorization: Bearer <secret>"}, status=401)
            try:
                hook = model.model_validate_json(body)
            except ValidationError as exc:
                services.metrics.requests.labels("webhook", f"hooks/{source}", "bad_request").inc()
                return web.json_response({"error": _field_error(exc)}, status=400)
            alerts = hook.alerts  # type: ignore[attr-defined]
            try:
                delivery = await flows.receive(
                    services,
                    source,
                    body.decode(),
                    hook.groupKey or None,
                    len(alerts),  # type: ignore[attr-defined]
                )
            except (DatabaseUnavailable, OSError) as exc:
                logger.error("alert delivery not stored", source=source, error=repr(exc))
                return web.json_response({"error": "not stored: database unavailable, retry later"}, status=503)
            kick()
            return web.json_response({"ok": True, "delivery": delivery, "alerts": len(alerts)})

        return handle

    web_app.router.add_post("/hooks/alertmanager", receiver(Source.ALERTMANAGER, payloads.AlertmanagerWebhook))
    web_app.router.add_post("/hooks/grafana", receiver(Source.GRAFANA, payloads.GrafanaWebhook))
