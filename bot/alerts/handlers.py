"""/alerts and the buttons on alert messages (the routing table, ROUTES): parse, ack, call one flow. The two
webhooks (Alertmanager, Grafana) are in webhooks.py."""

from __future__ import annotations

import re

from bot.alerts import ack_expiry, flows, jobs, parse, webhooks
from bot.alerts.ids import Acknowledged, Action, alert_id, hours_of, runbook_of, silence_of
from bot.domain import Domain
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, Route


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


async def snooze(ctx: Ctx) -> None:  # acked once the snooze has committed
    alert, hours = hours_of(ctx.action.value)
    await ctx.answer(await ack_expiry.snooze(ctx.services, alert, hours, ctx.user_id, ctx.request_id))


async def still_on_it(ctx: Ctx) -> None:  # acked once the renewal has committed
    target = alert_id(ctx.action.value)
    await ctx.answer(await ack_expiry.still_on_it(ctx.services, target, ctx.user_id, ctx.request_id))


ROUTES: list[Route] = [
    Route("command", "/alerts", alerts),
    Route("action", Action.ACKNOWLEDGE, acknowledge),
    Route("action", Action.DECLARE, declare),
    Route("action", re.compile(rf"^{Action.RUNBOOK}(:.*)?$"), runbook),
    Route("action", Action.ROLL_BACK, roll_back),
    Route("action", re.compile(rf"^{Action.SILENCE}(:\d+h)?$"), silence),
    Route("action", Action.UNSILENCE, unsilence),
    Route("action", re.compile(rf"^{Action.SNOOZE}(:\d+h)?$"), snooze),
    Route("action", Action.STILL_ON_IT, still_on_it),
]


DOMAIN = Domain("alerts", routes=ROUTES, jobs=jobs.register, hooks=webhooks.HOOKS)
