"""HTTP routes: Slack's one URL, health, metrics."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot import __version__
from bot.metrics import CONTENT_TYPE
from bot.services import Services


def add_routes(web_app: web.Application, bolt: AsyncApp, services: Services) -> None:
    async def slack_events(request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    async def healthz(request: web.Request) -> web.Response:
        up = await services.db.ping()
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
