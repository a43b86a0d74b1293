"""/alerts, the buttons on alert messages, and the two webhooks: parse, ack, call one flow."""

from __future__ import annotations

import re

from slack_bolt.async_app import AsyncApp

from bot.alerts import flows, jobs, parse, webhooks
from bot.alerts.ids import Acknowledged, Action, alert_id, runbook_of, silence_of
from bot.domain import Domain
from bot.services import Services
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, action, command
from bot.slack.middleware import HandlerFn as Handler


async def alerts(ctx: Ctx) -> None:
    match parse.parse_alerts(ctx.text):
        case parse.Help():
            await ctx.answer(usage("/alerts"))
        case parse.FiringNow():
            await ctx.ack()
            await ctx.answer(await flows.firing_now(ctx.services))
        case parse.History(limit=limit):
            await ctx.ack()
            await ctx.answer(await flows.history(ctx.services, limit))


async def acknowledge(ctx: Ctx) -> None:
    await ctx.ack()
    target = Acknowledged.parse(ctx.action.value)
    await ctx.answer(await flows.acknowledge(ctx.services, target, ctx.user_id, ctx.request_id))


async def declare(ctx: Ctx) -> None:
    await ctx.ack()
    form = await flows.declare_form(ctx.services, alert_id(ctx.action.value), ctx.user_id, ctx.channel_id)
    await ctx.services.slack.views_open(trigger_id=ctx.trigger_id, view=form)


async def runbook(ctx: Ctx) -> None:
    await ctx.ack()
    alert, slug = runbook_of(ctx.action.value)
    await ctx.answer(await flows.start_runbook(ctx.services, alert, slug, ctx.user_id))


async def roll_back(ctx: Ctx) -> None:
    await ctx.ack()
    await ctx.answer(*await flows.rollback_offer(ctx.services, alert_id(ctx.action.value), ctx.user_id))


async def silence(ctx: Ctx) -> None:
    await ctx.ack()
    alert, hours = silence_of(ctx.action.value)
    await ctx.answer(await flows.silence(ctx.services, alert, hours, ctx.user_id, ctx.request_id))


async def unsilence(ctx: Ctx) -> None:
    await ctx.ack()
    await ctx.answer(await flows.unsilence(ctx.services, alert_id(ctx.action.value), ctx.user_id, ctx.request_id))


ACTIONS: list[tuple[str | re.Pattern[str], Handler]] = [
    (Action.ACKNOWLEDGE, acknowledge),
    (Action.DECLARE, declare),
    (re.compile(rf"^{Action.RUNBOOK}(:.*)?$"), runbook),
    (Action.ROLL_BACK, roll_back),
    (re.compile(rf"^{Action.SILENCE}(:\d+h)?$"), silence),
    (Action.UNSILENCE, unsilence),
]


def register(app: AsyncApp, services: Services) -> None:
    command(app, services, "/alerts")(alerts)
    for action_id, handler in ACTIONS:
        action(app, services, action_id)(handler)


DOMAIN = Domain(
    "alerts",
    jobs=jobs.register,
    register=register,
    hooks=webhooks.HOOKS,
)
