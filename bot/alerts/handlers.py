"""/alerts, the buttons on alert messages (the routing table, ROUTES), and the two webhooks: parse, ack, call one
flow."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web
from pydantic import ValidationError

from bot import log
from bot.alerts import flows, ingest, jobs, parse, payloads
from bot.alerts.ids import Acknowledged, Action, Source, alert_id, runbook_of, silence_of
from bot.domain import Domain
from bot.errors import DatabaseUnavailable
from bot.services import Services
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, Route
from bot.web.signing import verify

logger = log.get("zzik.alerts")
# Read at most this much of a delivery. Past ingest.MAX_STORED (1 MiB) only its first alerts are stored, and the
# rest is said in the channel; Alertmanager never retries a 4xx, so refusing it whole would lose all of it.
# Larger than this, holding and parsing it per request costs more than the part we could keep is worth: 413.
READ_CAP = 8 * 1024**2
_NOTED = " (recorded and said in the alerts channel)"


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


ROUTES: list[Route] = [
    Route("command", "/alerts", alerts),
    Route("action", Action.ACKNOWLEDGE, acknowledge),
    Route("action", Action.DECLARE, declare),
    Route("action", re.compile(rf"^{Action.RUNBOOK}(:.*)?$"), runbook),
    Route("action", Action.ROLL_BACK, roll_back),
    Route("action", re.compile(rf"^{Action.SILENCE}(:\d+h)?$"), silence),
    Route("action", Action.UNSILENCE, unsilence),
]


class _Kick:
    """Start a job tick right after a delivery is stored, so alerts do not wait for the next scheduled tick.
    One at a time; deliveries arriving meanwhile are picked up by the one that follows."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.running: asyncio.Task | None = None
        self.again = False
        self.tasks: set[asyncio.Task] = set()

    def __call__(self) -> None:
        if self.services.jobs.wake():
            return  # the background loop passes now, without waiting for runs it starts (pages start at once)
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


def _answer(status: int, error: str) -> web.Response:
    return web.json_response({"error": error}, status=status)


async def _read(request: web.Request) -> bytes | None:
    """The body, read past the web app's client_max_size up to READ_CAP: an oversized delivery's first alerts are
    still stored. None when it is larger than that."""
    if request.content_length is not None and request.content_length > READ_CAP:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > READ_CAP:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def web_routes(web_app: web.Application, services: Services) -> None:
    kick = _Kick(services)

    def receiver(source: str):
        async def handle(request: web.Request) -> web.Response:
            secret = services.settings.zzik_webhook_secret
            if secret is None:
                return _answer(401, "unauthorized: ZZIK_WEBHOOK_SECRET is not set on the bot")
            unauthorized = "unauthorized: send Authorization: Bearer <secret>"
            bearer = request.headers.get("Authorization", "").startswith("Bearer ")
            if bearer and not verify(request.headers, b"", secret.get_secret_value()):
                return _answer(401, unauthorized)  # before reading a body nobody may send
            body = await _read(request)
            if body is None:
                logger.warning("alert delivery too large to read", source=source, limit=READ_CAP)
                return _answer(413, f"body: larger than {READ_CAP} bytes")
            if not verify(request.headers, body, secret.get_secret_value()):
                return _answer(401, unauthorized)
            try:
                admitted = ingest.admit(source, ingest.decode(body))
            except ingest.Unstorable as exc:
                return _refused(source, 400, exc.problem)
            except ValidationError as exc:
                if len(body) > ingest.MAX_STORED:
                    return _refused(source, 413, f"body: larger than {ingest.MAX_STORED} bytes")
                return _refused(source, 400, payloads.problem(exc))
            try:
                received = await flows.receive(services, admitted)
            except (DatabaseUnavailable, OSError) as exc:
                logger.error("alert delivery not stored", source=source, error=repr(exc))
                return _answer(503, "not stored: database unavailable, retry later")
            kick()
            if received.delivery_id is None:
                # Nothing could be stored: a 4xx, as retrying cannot help; the note says it in the channel.
                if admitted.unreadable:
                    return _refused(source, 400, admitted.unreadable[0].reason + _NOTED)
                return _refused(source, 413, f"alerts: past the bot's limit ({admitted.limit_reason})" + _NOTED)
            return web.json_response(
                {
                    "ok": True,
                    "delivery": received.delivery_id,
                    "alerts": admitted.accepted,
                    "unreadable": len(admitted.unreadable),
                    "not_accepted": admitted.over_limit,
                }
            )

        def _refused(source: str, status: int, error: str) -> web.Response:
            services.metrics.requests.labels("webhook", f"hooks/{source}", "bad_request").inc()
            return _answer(status, error)

        return handle

    web_app.router.add_post("/hooks/alertmanager", receiver(Source.ALERTMANAGER))
    web_app.router.add_post("/hooks/grafana", receiver(Source.GRAFANA))


DOMAIN = Domain(
    "alerts",
    routes=ROUTES,
    jobs=jobs.register,
    web_routes=web_routes,
)
