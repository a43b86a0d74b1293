"""/deploy, /rollback, their buttons, and the pipeline's callback: parse, call one flow, answer.

A change is acked once the flow has committed it (bot/slack/middleware.py acks on the commit), never before: only
what changes nothing (a rollback offer, a reason picked) acks first."""

from __future__ import annotations

import re

from aiohttp import web
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError

from bot import audit
from bot.deploys import answers, flows, jobs, parse, rollback
from bot.deploys.ids import Action, Finished, RollbackOffer, Status, deploy_id, parse_checklist_block
from bot.domain import Domain
from bot.errors import DatabaseUnavailable, Invalid
from bot.services import Services
from bot.slack.blocks import checkbox_part
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, Route
from bot.slack.text import escape
from bot.web.signing import verify


class DeployCallback(BaseModel):
    """What CI posts to /hooks/deploy when a deploy or rollback it was asked to run has finished."""

    model_config = ConfigDict(extra="ignore")
    deploy_id: int = Field(gt=0)
    status: str = Field(pattern=r"^(succeeded|failed)$")
    url: AnyHttpUrl | None = None
    detail: str | None = Field(default=None, max_length=2000)


# -- handlers: parse, call one flow ----------------------------------------------------------------------


async def deploy(ctx: Ctx) -> None:
    services = ctx.services
    request = parse.parse_deploy(ctx.text, services.config.deploy.environments)
    match request:
        case parse.Help():
            await ctx.answer(usage("/deploy"))
        case parse.Deploy():
            # a change: a refusal ready within the ack budget is answered in the ack, else through response_url
            key = f"command:{ctx.trigger_id}"
            await ctx.answer_change(flows.request(services, ctx.user_id, request, key, ctx.request_id))
        case parse.Status():
            await ctx.answer_soon(flows.status(services))
        case parse.History(environment=env, limit=limit):
            await ctx.answer_soon(flows.history(services, env, limit))
        case parse.Unlock(environment=env, reason=reason):
            await ctx.answer_change(flows.unlock(services, ctx.user_id, env, reason, ctx.request_id))


async def rollback_command(ctx: Ctx) -> None:
    request = parse.parse_rollback(ctx.text, ctx.services.config.deploy.environments)
    if isinstance(request, parse.Help):
        await ctx.answer(usage("/rollback"))
        return
    await ctx.ack()  # an offer: nothing is stored until it is confirmed
    blocks = await rollback.offer(ctx.services, ctx.user_id, request.environment, rollback.Prompt(request.reason))
    await ctx.answer(answers.say(answers.ROLL_BACK_QUESTION, environment=request.environment), blocks)


async def rollback_offered(ctx: Ctx) -> None:
    await ctx.ack()  # an offer: nothing is stored until it is confirmed
    env = ctx.action.value or ""
    if env not in ctx.services.config.deploy.environments:
        raise Invalid("That rollback button names no environment; use `/rollback prod`.")
    await ctx.answer(
        answers.say(answers.ROLL_BACK_QUESTION, environment=env),
        await rollback.offer(ctx.services, ctx.user_id, env),
    )


async def start(ctx: Ctx) -> None:
    await ctx.answer(*await flows.start(ctx.services, deploy_id(ctx.action.value), ctx.user_id))


async def start_anyway(ctx: Ctx) -> None:
    await ctx.answer(*await flows.start(ctx.services, deploy_id(ctx.action.value), ctx.user_id, anyway=True))


async def cancel(ctx: Ctx) -> None:
    await ctx.answer(await flows.cancel(ctx.services, deploy_id(ctx.action.value), ctx.user_id))


async def mark_deployed(ctx: Ctx) -> None:
    await ctx.answer(await flows.mark(ctx.services, deploy_id(ctx.action.value), Status.SUCCEEDED, ctx.user_id))


async def mark_failed(ctx: Ctx) -> None:
    await ctx.answer(await flows.mark(ctx.services, deploy_id(ctx.action.value), Status.FAILED, ctx.user_id))


async def check(ctx: Ctx) -> None:
    block, part = checkbox_part(ctx.action.block_id)  # deploy:<id>:<list>[:partN] (long lists are split)
    deploy, checklist = parse_checklist_block(block)
    said = await flows.tick(ctx.services, deploy, checklist, set(ctx.action.selected), ctx.user_id, part)
    if said:
        await ctx.answer(said)


async def healthy(ctx: Ctx) -> None:
    await ctx.answer(await flows.watch_healthy(ctx.services, deploy_id(ctx.action.value), ctx.user_id))


async def watch_rollback(ctx: Ctx) -> None:
    deploy = deploy_id(ctx.action.value)
    await ctx.answer(await rollback.from_watch(ctx.services, ctx.user_id, deploy, ctx.request_id))


async def reason_picked(ctx: Ctx) -> None:
    await ctx.ack()  # the choice is read from the message's state when the rollback is confirmed


async def rollback_confirmed(ctx: Ctx) -> None:
    offer = RollbackOffer.parse(ctx.action.value)
    picked = ctx.state.input("rollback_reason", Action.ROLLBACK_REASON).selected_option
    choice = picked.value if picked else None
    said = await rollback.confirmed(
        ctx.services, ctx.user_id, offer.env, offer.current, choice, offer.reason, ctx.request_id
    )
    await ctx.answer(said)


ROUTES: list[Route] = [
    Route("command", "/deploy", deploy),
    Route("command", "/rollback", rollback_command),
    Route("action", Action.ROLLBACK_OFFER, rollback_offered),
    Route("action", Action.START, start),
    Route("action", Action.START_ANYWAY, start_anyway),
    Route("action", Action.CANCEL, cancel),
    Route("action", Action.MARK_DEPLOYED, mark_deployed),
    Route("action", Action.MARK_FAILED, mark_failed),
    Route("action", re.compile(rf"^{Action.CHECK}:(pre|staging|post|verify)$"), check),
    Route("action", Action.HEALTHY, healthy),
    Route("action", Action.ROLL_BACK, watch_rollback),
    Route("action", Action.ROLLBACK_REASON, reason_picked),
    Route("action", Action.ROLLBACK_CONFIRM, rollback_confirmed),
]


def web_routes(web_app: web.Application, services: Services) -> None:
    async def deploy_callback(request: web.Request) -> web.Response:
        body = await request.read()
        secret = services.settings.zzik_webhook_secret
        if secret is None:
            return web.json_response({"error": "unauthorized: ZZIK_WEBHOOK_SECRET is not set on the bot"}, status=401)
        if not verify(request.headers, body, secret.get_secret_value()):
            return web.json_response({"error": "unauthorized: sign the body or send the shared secret"}, status=401)
        try:
            callback = DeployCallback.model_validate_json(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "body"
            return web.json_response({"error": f"{field}: {first['msg']}"}, status=400)
        try:
            deploy, outcome = await flows.finish(
                services,
                callback.deploy_id,
                Status(callback.status),
                "pipeline",
                str(callback.url) if callback.url else None,
                escape(callback.detail) if callback.detail else None,  # raw from the pipeline: stored as mrkdwn
            )
        except DatabaseUnavailable:
            return web.json_response({"error": "database unavailable, retry later"}, status=503)
        await audit.record(
            services.db,
            kind="webhook",
            action="hooks/deploy",
            outcome=outcome,
            actor="pipeline",
            detail=callback.model_dump(mode="json"),
        )
        services.metrics.requests.labels("webhook", "hooks/deploy", outcome).inc()
        if deploy is None:
            return web.json_response({"error": f"deploy_id: no deploy {callback.deploy_id}"}, status=404)
        if outcome == Finished.CONFLICT:
            return web.json_response({"error": f"deploy {deploy.id} is {deploy.status}, not running"}, status=409)
        return web.json_response(
            {"ok": True, "deploy_id": deploy.id, "status": deploy.status, "replayed": outcome == Finished.REPLAYED}
        )

    web_app.router.add_post("/hooks/deploy", deploy_callback)


DOMAIN = Domain(
    "deploys",
    routes=ROUTES,
    jobs=jobs.register,
    web_routes=web_routes,
)
