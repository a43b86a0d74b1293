"""HTTP routes: Slack's one URL, health, metrics."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot import __version__, migrate
from bot.errors import DatabaseUnavailable
from bot.metrics import CONTENT_TYPE
from bot.services import Services


def add_routes(web_app: web.Application, bolt: AsyncApp, services: Services) -> None:
    async def slack_events(request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    expected = migrate.expected_version()

    async def healthz(request: web.Request) -> web.Response:
        up = await services.db.ping()
        services.metrics.database_up.set(1 if up else 0)
        body: dict[str, object] = {
            "status": "ok",
            "database": "up" if up else "unreachable",
            "version": __version__,
            "replica": services.replica_id,
        }
        problems = [] if up else ["database unreachable"]
        if up:
            found = await _schema_version(services)
            # Behind: commands would fail on missing tables. Ahead is fine: during a rolling upgrade the new
            # release migrates first, and the old replicas keep serving until they are replaced.
            body["schema"] = {"expected": expected, "found": found}
            if found is None or found < expected:
                problems.append(f"schema at {found or 'no version'}, this code needs {expected}: run zzik-bot migrate")
        if services.socket_mode is not None:
            socket = await services.socket_mode.state()
            body["socket_mode"] = socket
            if socket["state"] != "connected":
                problems.append(f"Socket Mode {socket['state']}")
        if problems:
            body["status"] = "degraded"
            body["problems"] = problems
        return web.json_response(body, status=503 if problems else 200)

    async def metrics(request: web.Request) -> web.Response:
        response = web.Response(body=services.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response

    web_app.router.add_post("/slack/events", slack_events)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)


async def _schema_version(services: Services) -> str | None:
    try:
        return await migrate.schema_version(services.db)
    except DatabaseUnavailable:
        return None
