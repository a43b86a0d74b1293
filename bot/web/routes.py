"""HTTP routes: Slack's one URL, health, metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier

from bot import __version__
from bot.metrics import CONTENT_TYPE
from bot.services import Services

HEALTH_BUDGET = 0.8


def add_routes(web_app: web.Application, bolt: AsyncApp, services: Services) -> None:
    verifier = SignatureVerifier(services.settings.slack_signing_secret.get_secret_value())

    async def slack_events(request: web.Request) -> web.Response:
        # Checked here, before Bolt parses anything: a malformed timestamp or body is 401 (or, signed, 400),
        # never a 500 from a parser that ran before the signature check.
        raw = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 16) or not verifier.is_valid(
            raw, timestamp, signature
        ):
            return web.json_response({"error": "invalid or missing Slack signature"}, status=401)
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, TypeError, AttributeError):  # not JSON, not UTF-8, JSON that is not an object
            bolt_request = None
        if bolt_request is None or not isinstance(bolt_request.body, dict):
            return web.json_response({"error": "body: not a Slack request Bolt can read"}, status=400)
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    async def healthz(request: web.Request) -> web.Response:
        # Within 1 s whatever the database does: a ping that has not answered by then counts as down.
        ping = asyncio.ensure_future(services.db.ping())
        done, _ = await asyncio.wait({ping}, timeout=HEALTH_BUDGET)
        if not done:
            ping.add_done_callback(lambda t: t.cancelled() or t.exception())
        up = bool(done) and ping.result()
        services.metrics.database_up.set(1 if up else 0)
        body = {
            "status": "ok" if up else "degraded",
            "database": "up" if up else "unreachable",
            "version": __version__,
            "replica": services.replica_id,
        }
        return web.json_response(body, status=200 if up else 503)

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=services.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    web_app.router.add_post("/slack/events", slack_events)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
