"""POST /hooks/pagerduty: PagerDuty's v3 webhooks, signed with the subscription's secret. No Slack listeners."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp

from bot import log
from bot.errors import DatabaseUnavailable
from bot.pagerduty import inbound
from bot.pagerduty.payloads import EventType, Webhook, verify
from bot.services import Services

logger = log.get("zzik.pagerduty")
HANDLED = {str(t) for t in EventType}


def register(app: AsyncApp, services: Services) -> None:
    """PagerDuty talks to the bot over its webhook only."""


def _field_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{field}: {first['msg']}"


def _event_type(body: bytes) -> str | None:
    """event.event_type of a JSON body, if it has one (a ping, or a type the bot does not follow)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    event = data.get("event") if isinstance(data, dict) else None
    kind = event.get("event_type") if isinstance(event, dict) else None
    return kind if isinstance(kind, str) else None


def web_routes(web_app: web.Application, services: Services) -> None:
    applying: set[asyncio.Task] = set()

    def apply_soon(event_id: str) -> None:
        # The job is committed: this only saves waiting for the next tick (a crash leaves it to the runner).
        task = asyncio.create_task(services.jobs.run_now(inbound.WEBHOOK, event_id))
        applying.add(task)
        task.add_done_callback(applying.discard)

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
        kind = _event_type(body)
        if kind is not None and kind not in HANDLED:
            return web.json_response({"ok": True, "ignored": kind})  # pagey.ping, service.*, notes...
        try:
            hook = Webhook.model_validate_json(body)
        except ValidationError as exc:
            services.metrics.requests.labels("webhook", "hooks/pagerduty", "bad_request").inc()
            return web.json_response({"error": _field_error(exc)}, status=400)
        try:
            new = await inbound.receive(services, hook)
        except (DatabaseUnavailable, OSError) as exc:
            logger.error("pagerduty webhook not stored", error=repr(exc))
            return web.json_response({"error": "not stored: database unavailable, retry later"}, status=503)
        if new:
            apply_soon(hook.event.id)
        return web.json_response({"ok": True, "event": hook.event.id, "new": new})

    web_app.router.add_post("/hooks/pagerduty", pagerduty)
