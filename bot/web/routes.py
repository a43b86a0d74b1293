"""HTTP routes: Slack's one URL, health (liveness and readiness), metrics."""

from __future__ import annotations

import asyncio

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier

from bot import __version__, migrate
from bot.errors import DatabaseUnavailable
from bot.metrics import CONTENT_TYPE
from bot.services import Services
from bot.settings import SettingsError
from bot.web import refusals

HEALTH_BUDGET = 0.8


def add_routes(web_app: web.Application, bolt: AsyncApp, services: Services) -> None:
    routes = Routes(bolt, services)
    web_app.middlewares.append(refusals.middleware(services.metrics))
    web_app.router.add_post("/slack/events", routes.slack_events)
    web_app.router.add_get("/healthz", routes.healthz)
    web_app.router.add_get("/livez", routes.livez)
    web_app.router.add_get("/metrics", routes.metrics)


class Routes:
    def __init__(self, bolt: AsyncApp, services: Services) -> None:
        self.bolt = bolt
        self.services = services
        secret = services.settings.slack_signing_secret
        if secret is None:  # build() refuses to start without it first
            raise SettingsError("SLACK_SIGNING_SECRET is not set")
        self.verifier = SignatureVerifier(secret.get_secret_value())
        self.expected = migrate.expected_version()

    async def slack_events(self, request: web.Request) -> web.Response:
        # Checked here, before Bolt parses anything: a malformed timestamp or body is 401 (or, signed, 400),
        # never a 500 from a parser that ran before the signature check.
        raw = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 16) or not self.verifier.is_valid(
            raw, timestamp, signature
        ):
            return web.json_response({"error": "invalid or missing Slack signature"}, status=401)
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, TypeError, AttributeError):  # not JSON, not UTF-8, JSON that is not an object
            bolt_request = None
        if bolt_request is None or not isinstance(bolt_request.body, dict):
            return web.json_response({"error": "body: not a Slack request Bolt can read"}, status=400)
        return await to_aiohttp_response(await self.bolt.async_dispatch(bolt_request))

    async def livez(self, request: web.Request) -> web.Response:
        """Liveness: the process only, never the database (a restart would not mend an outage; see liveness.py)."""
        services = self.services
        job_runner, problems = services.liveness.state(services.jobs)
        body: dict[str, object] = {
            "status": "failing" if problems else "ok",
            "version": __version__,
            "replica": services.replica_id,
            "job_runner": job_runner,
        }
        if problems:
            body["problems"] = problems
        return web.json_response(body, status=503 if problems else 200)

    async def healthz(self, request: web.Request) -> web.Response:
        """Readiness: 503 while the database is unreachable, its schema is behind, or Socket Mode is down."""
        services = self.services
        up = await _database_up(services)
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
            body["schema"] = {"expected": self.expected, "found": found}
            if found is None or found < self.expected:
                problems.append(
                    f"schema at {found or 'no version'}, this code needs {self.expected}: run zzik-bot migrate"
                )
        if services.socket_mode is not None:
            socket = await services.socket_mode.state()
            body["socket_mode"] = socket
            if socket["state"] != "connected":
                problems.append(f"Socket Mode {socket['state']}")
        if problems:
            body["status"] = "degraded"
            body["problems"] = problems
        return web.json_response(body, status=503 if problems else 200)

    async def metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=self.services.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response


async def _database_up(services: Services) -> bool:
    """Within HEALTH_BUDGET whatever the database does: a ping that has not answered by then counts as down."""
    ping = asyncio.ensure_future(services.db.ping())
    done, _ = await asyncio.wait({ping}, timeout=HEALTH_BUDGET)
    if not done:
        ping.add_done_callback(lambda t: t.cancelled() or t.exception())
    return bool(done) and ping.result()


async def _schema_version(services: Services) -> str | None:
    try:
        return await migrate.schema_version(services.db)
    except DatabaseUnavailable:
        return None
