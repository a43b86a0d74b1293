"""/deploy, /rollback and their buttons: parse, call one flow, answer. The pipeline's callback is a webhook
(webhooks.py).

A change is acked once the flow has committed it (bot/slack/middleware.py acks on the commit), never before: only
what changes nothing (a rollback offer, a reason picked) acks first."""

from __future__ import annotations

import re

from bot.deploys import answers, flows, jobs, parse, rollback, webhooks
from bot.deploys.ids import Action, RollbackOffer, Status, deploy_id, parse_checklist_block
from bot.domain import Domain
from bot.errors import Invalid
from bot.slack.blocks import checkbox_part
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, Route

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
    await ctx.answer(await rollback.from_watch(ctx.services, ctx.user_id, deploy, ctx.request_id, ctx.channel_id))


async def reason_picked(ctx: Ctx) -> None:
    await ctx.ack()  # the choice is read from the message's state when the rollback is confirmed


async def rollback_confirmed(ctx: Ctx) -> None:
    offer = RollbackOffer.parse(ctx.action.value)
    picked = ctx.state.input("rollback_reason", Action.ROLLBACK_REASON).selected_option
    choice = picked.value if picked else None
    said = await rollback.confirmed(
        ctx.services, ctx.user_id, offer.env, offer.current, choice, offer.reason, ctx.request_id, ctx.channel_id
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


DOMAIN = Domain("deploys", routes=ROUTES, jobs=jobs.register, hooks=webhooks.HOOKS)
