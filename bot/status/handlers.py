"""The Publish form, `/incident public` (the incidents domain hands it over through services.subcommands) and the
public page's routes (a page, not an inbound hook: mounted by web_routes)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot import log
from bot.domain import Domain
from bot.errors import DatabaseUnavailable
from bot.incidents.models import Incident
from bot.jobs import JobRunner
from bot.services import Services
from bot.slack.middleware import Ctx, Route
from bot.status import flows, jobs, parse
from bot.status import page as statuspage
from bot.status.ids import Action, Block, Public, View
from bot.status.messages import MAX_TITLE, NOT_PUBLISHED
from bot.status.text import without_controls

logger = log.get("zzik.status")
CACHE_CONTROL = "public, no-cache"  # always revalidate; the ETag makes that cheap


async def public(ctx: Ctx, services: Services, incident: Incident, rest: str) -> None:
    """`/incident public …` in an incident channel: the first update's form, or a later update's preview."""
    request = parse.parse(rest)
    outcome = await flows.public_command(
        services, incident, ctx.user_id, request, key=f"command:{ctx.trigger_id}", trigger_id=ctx.trigger_id
    )
    if outcome.preview:
        await ctx.answer(*outcome.preview)


async def publish_update(ctx: Ctx) -> None:
    """*Publish* under a later update's preview."""
    await ctx.answer(await flows.publish_confirmed(ctx.services, ctx.user_id, ctx.action.value))


async def edit_update(ctx: Ctx) -> None:
    await ctx.answer(NOT_PUBLISHED)


async def publish_submitted(ctx: Ctx) -> None:
    services = ctx.services
    form = ctx.view
    title = " ".join(without_controls(form.text(Block.TITLE)).split())
    picked = form.state.input(Block.STATUS).selected_option
    status = picked.value if picked else ""
    known = {c.id for c in services.config.components}
    components = [v for v in (o.value for o in form.state.input(Block.COMPONENTS).selected_options) if v in known]
    errors = {}
    if not title:
        errors[Block.TITLE.value] = "Give the public a title."
    elif len(title) > MAX_TITLE:
        errors[Block.TITLE.value] = f"Keep the title to {MAX_TITLE} characters."
    if Public.parse(status) is None:
        errors[Block.STATUS.value] = "Pick a public status."
    if known and not components:
        errors[Block.COMPONENTS.value] = "Pick at least one affected component."
    if errors:
        ctx.outcome = "usage_error"
        await ctx.ack(response_action="errors", errors=errors)
        return
    # acked (the form closes) once the publication is stored: bot/slack/middleware.py acks on the commit
    await flows.publish_from_form(
        services,
        ctx.user_id,
        key=f"view:{form.id}",
        metadata=form.private_metadata,
        title=title,
        status=status,
        components=components,
    )


def _cached(request: web.Request, body: bytes, content_type: str) -> web.Response:
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    wanted = [t.strip().removeprefix("W/") for t in request.headers.get("If-None-Match", "").split(",")]
    if etag in wanted or "*" in wanted:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers={**headers, "Content-Type": content_type})


def _public(handler: Callable[[web.Request], Awaitable[web.Response]]):
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except DatabaseUnavailable:
            return web.Response(
                status=503,
                text="The status page is unavailable for a moment; try again shortly.",
                headers={"Retry-After": "30", "Cache-Control": "no-store"},
            )

    return wrapped


def web_routes(web_app: web.Application, services: Services) -> None:
    def base(request: web.Request) -> str:
        return flows.base_url(services) or f"{request.scheme}://{request.host}"

    @_public
    async def status_html(request: web.Request) -> web.Response:
        page = await flows.status_page(services)
        return _cached(request, statuspage.render_html(page).encode(), "text/html; charset=utf-8")

    @_public
    async def status_json(request: web.Request) -> web.Response:
        page = await flows.status_page(services)
        body = json.dumps(statuspage.render_json(page), ensure_ascii=False).encode()
        return _cached(request, body, "application/json; charset=utf-8")

    @_public
    async def status_feed(request: web.Request) -> web.Response:
        return _cached(request, await flows.feed(services, base(request)), "application/atom+xml; charset=utf-8")

    web_app.router.add_get("/status", status_html)
    web_app.router.add_get("/status.json", status_json)
    web_app.router.add_get("/status/feed.atom", status_feed)


ROUTES: list[Route] = [
    Route("view", View.PUBLISH, publish_submitted),
    Route("action", Action.PUBLISH, publish_update),
    Route("action", Action.EDIT, edit_update),
]

SUBCOMMAND = "/incident public"


def register_jobs(runner: JobRunner, services: Services) -> None:
    """The domain's durable work and event subscriptions, and the /incident subcommand it answers."""
    jobs.register(runner, services)
    services.subcommands[SUBCOMMAND] = public


DOMAIN = Domain(
    "status",
    routes=ROUTES,
    jobs=register_jobs,
    web_routes=web_routes,
)
