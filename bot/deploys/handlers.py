"""/deploy, /rollback, their buttons, and the pipeline's callback: parse, ack, call one flow."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError
from slack_bolt.async_app import AsyncApp

from bot import audit
from bot.deploys import flows, parse
from bot.deploys.ids import Action
from bot.errors import DatabaseUnavailable, UsageError
from bot.services import Services
from bot.slack.blocks import checkbox_part
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, action, command
from bot.slack.text import escape, whole_number
from bot.web.signing import verify


def _deploy_id(ctx: Ctx) -> int:
    value = whole_number(ctx.action.value or "")
    if value is None:
        raise UsageError("That button does not belong to a deploy.", usage=False)
    return value


class DeployCallback(BaseModel):
    """What CI posts to /hooks/deploy when a deploy or rollback it was asked to run has finished."""

    model_config = ConfigDict(extra="ignore")
    deploy_id: int = Field(gt=0)
    status: str = Field(pattern=r"^(succeeded|failed)$")
    url: AnyHttpUrl | None = None
    detail: str | None = Field(default=None, max_length=2000)


def register(app: AsyncApp, services: Services) -> None:
    environments = services.config.deploy.environments

    @command(app, services, "/deploy")
    async def deploy(ctx: Ctx) -> None:
        request = parse.parse_deploy(ctx.text, environments)
        if isinstance(request, parse.Help):
            await ctx.answer(usage("/deploy"))
            return
        match request:
            case parse.Deploy():
                # a change: a refusal ready within the ack budget is answered in the ack, else through response_url
                await ctx.answer_change(
                    flows.request(services, ctx.user_id, request, f"command:{ctx.trigger_id}", ctx.request_id)
                )
            case parse.Status():
                await ctx.answer_soon(flows.status(services))
            case parse.History(environment=env, limit=limit):
                await ctx.answer_soon(flows.history(services, env, limit))
            case parse.Unlock(environment=env, reason=reason):
                await ctx.answer_change(flows.unlock(services, ctx.user_id, env, reason, ctx.request_id))

    @command(app, services, "/rollback")
    async def rollback(ctx: Ctx) -> None:
        request = parse.parse_rollback(ctx.text, environments)
        if isinstance(request, parse.Help):
            await ctx.answer(usage("/rollback"))
            return
        await ctx.ack()
        blocks = await flows.rollback_offer(services, ctx.user_id, request.environment, request.reason)
        await ctx.answer(f"Roll back {request.environment}?", blocks)

    @action(app, services, Action.ROLLBACK_OFFER)
    async def rollback_offered(ctx: Ctx) -> None:
        await ctx.ack()
        env = ctx.action.value or ""
        if env not in environments:
            raise UsageError("That rollback button names no environment; use `/rollback prod`.", usage=False)
        await ctx.answer(f"Roll back {env}?", await flows.rollback_offer(services, ctx.user_id, env, None))

    @action(app, services, Action.START)
    async def start(ctx: Ctx) -> None:
        await ctx.ack()
        await ctx.answer(*await flows.start(services, _deploy_id(ctx), ctx.user_id))

    @action(app, services, Action.START_ANYWAY)
    async def start_anyway(ctx: Ctx) -> None:
        await ctx.ack()
        await ctx.answer(*await flows.start(services, _deploy_id(ctx), ctx.user_id, anyway=True))

    @action(app, services, Action.CANCEL)
    async def cancel(ctx: Ctx) -> None:
        await ctx.ack()
        await ctx.answer(await flows.cancel(services, _deploy_id(ctx), ctx.user_id))

    @action(app, services, Action.MARK_DEPLOYED)
    async def mark_deployed(ctx: Ctx) -> None:
        await ctx.ack()
        await ctx.answer(await flows.mark(services, _deploy_id(ctx), "succeeded", ctx.user_id))

    @action(app, services, Action.MARK_FAILED)
    async def mark_failed(ctx: Ctx) -> None:
        await ctx.ack()
        await ctx.answer(await flows.mark(services, _deploy_id(ctx), "failed", ctx.user_id))

    @action(app, services, re.compile(rf"^{Action.CHECK}:(pre|staging|post|verify)$"))
    async def check(ctx: Ctx) -> None:
        await ctx.ack()
        block, part = checkbox_part(ctx.action.block_id)  # deploy:<id>:<list>[:partN] (long lists are split)
        parts = block.split(":")
        if len(parts) != 3 or not parts[1].isdigit():
            raise UsageError("That checklist does not belong to a deploy.", usage=False)
        selected = set(ctx.action.selected)
        said = await flows.tick(services, int(parts[1]), parts[2], selected, ctx.user_id, part)
        if said:
            await ctx.answer(said)

    @action(app, services, Action.HEALTHY)
    async def healthy(ctx: Ctx) -> None:
        await ctx.ack()
        await ctx.answer(await flows.watch_healthy(services, _deploy_id(ctx), ctx.user_id))

    @action(app, services, Action.ROLL_BACK)
    async def watch_rollback(ctx: Ctx) -> None:
        await ctx.ack()
        deploy = await flows.store.get(services.db, _deploy_id(ctx))
        if deploy is None:
            raise UsageError("That deploy does not exist.", usage=False)
        reason = f"Post-deployment watch of {deploy.ref}"
        await ctx.answer(
            await flows.rollback(services, ctx.user_id, deploy.environment, deploy.id, reason, ctx.request_id)
        )

    @action(app, services, Action.ROLLBACK_REASON)
    async def reason_picked(ctx: Ctx) -> None:
        await ctx.ack()  # the choice is read from the message's state when the rollback is confirmed

    @action(app, services, Action.ROLLBACK_CONFIRM)
    async def rollback_confirmed(ctx: Ctx) -> None:
        await ctx.ack()
        try:
            offer: dict[str, Any] = json.loads(ctx.action.value or "")
            env, current = str(offer["env"]), int(offer["current"])
        except (ValueError, KeyError, TypeError):
            raise UsageError(
                "That rollback button is damaged; run `/rollback &lt;env&gt;` again.", usage=False
            ) from None
        picked = ctx.state.input("rollback_reason", Action.ROLLBACK_REASON).selected_option
        choice = picked.value if picked else None
        await ctx.answer(
            await flows.rollback_confirmed(
                services, ctx.user_id, env, current, choice, str(offer.get("reason") or ""), ctx.request_id
            )
        )


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
                callback.status,
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
        if outcome == "conflict":
            return web.json_response({"error": f"deploy {deploy.id} is {deploy.status}, not running"}, status=409)
        return web.json_response(
            {"ok": True, "deploy_id": deploy.id, "status": deploy.status, "replayed": outcome == "replayed"}
        )

    web_app.router.add_post("/hooks/deploy", deploy_callback)
