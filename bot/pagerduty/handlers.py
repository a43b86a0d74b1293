"""POST /hooks/pagerduty: PagerDuty's v3 webhooks, signed with the subscription's secret. No Slack listeners."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web
from pydantic import ValidationError

from bot import log
from bot.domain import Domain
from bot.errors import DatabaseUnavailable
from bot.pagerduty import inbound, jobs
from bot.pagerduty.payloads import Envelope, EventType, Head, Unreadable, Webhook, read, verify
from bot.services import Services
from bot.slack.middleware import Route

logger = log.get("zzik.pagerduty")
HANDLED = {str(t) for t in EventType}


def _field_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{field}: {first['msg']}"


def _delivery(body: bytes) -> tuple[Head, Webhook | None, object]:
    """(what every event has, the event when the bot follows its type, the body to store). Raises Unreadable or
    ValidationError naming the field."""
    value = read(body)
    head = Envelope.model_validate(value).event
    hook = Webhook.model_validate(value) if head.event_type in HANDLED else None
    return head, hook, value


def web_routes(web_app: web.Application, services: Services) -> None:
    applying: set[asyncio.Task] = set()

    def apply_soon(event_id: str) -> None:
        # The job is committed: this only saves waiting for the next tick (a crash leaves it to the runner).
        task = asyncio.create_task(services.jobs.run_now(inbound.WEBHOOK, event_id))
        applying.add(task)
        task.add_done_callback(applying.discard)

    def refuse(error: str) -> web.Response:
        services.metrics.requests.labels("webhook", "hooks/pagerduty", "bad_request").inc()
        logger.warning("pagerduty webhook refused", error=error)
        return web.json_response({"error": error}, status=400)

    async def pagerduty(request: web.Request) -> web.Response:
        secret = services.settings.zzik_pagerduty_webhook_secret
        if secret is None:
            return web.json_response({"error": "unauthorized: ZZIK_PAGERDUTY_WEBHOOK_SECRET is not set"}, status=401)
        try:
            body = await request.read()  # the web app's client_max_size (1 MiB) bounds it
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"error": "body: larger than 1 MiB"}, status=413)
        if not verify(request.headers.get("X-PagerDuty-Signature", ""), body, secret.get_secret_value()):
            return web.json_response({"error": "unauthorized: X-PagerDuty-Signature does not match"}, status=401)
        try:
            head, hook, value = _delivery(body)
        except Unreadable as exc:
            return refuse(str(exc))
        except ValidationError as exc:
            return refuse(_field_error(exc))
        try:
            new = await inbound.receive(services, head, hook, value)
        except (DatabaseUnavailable, OSError) as exc:
            logger.error("pagerduty webhook not stored", error=repr(exc))
            return web.json_response({"error": "not stored: database unavailable, retry later"}, status=503)
        except asyncpg.DataError as exc:
            # What read() lets through, PostgreSQL should take; if it does not, no redelivery will do better.
            logger.error("pagerduty webhook not stored", error=repr(exc))
            return refuse(f"body: not storable ({exc})")
        if hook is None:
            return web.json_response({"ok": True, "ignored": head.event_type, "event": head.id, "new": new})
        if new:
            apply_soon(head.id)
        return web.json_response({"ok": True, "event": head.id, "new": new})

    web_app.router.add_post("/hooks/pagerduty", pagerduty)


ROUTES: list[Route] = []  # PagerDuty talks to the bot over its webhook only: no Slack listeners

DOMAIN = Domain(
    "pagerduty",
    routes=ROUTES,
    jobs=jobs.register,
    web_routes=web_routes,
)
