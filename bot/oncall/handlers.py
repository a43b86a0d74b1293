"""/oncall: parse, ack, call one flow."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.oncall import flows, parse
from bot.services import Services
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, command


def register(app: AsyncApp, services: Services) -> None:
    @command(app, services, "/oncall")
    async def oncall(ctx: Ctx) -> None:
        request = parse.parse(ctx.text, services.config.oncall.zone, services.clock.now())
        if isinstance(request, parse.Help):
            await ctx.answer(usage("/oncall"))
            return
        await ctx.ack()
        match request:
            case parse.Now():
                await ctx.answer("On call now", await flows.show_now(services, ctx.user_id))
            case parse.Next():
                await ctx.answer("The next rotation", await flows.show_next(services, ctx.user_id))
            case parse.Schedule(weeks=weeks):
                await ctx.answer("The on-call schedule", await flows.show_schedule(services, weeks))
            case parse.At(when=when, date_only=date_only):
                await ctx.answer("On call then", await flows.show_at(services, ctx.user_id, when, date_only))
            case parse.OverrideList():
                await ctx.answer(await flows.list_overrides(services))
            case parse.OverrideCreate():
                await ctx.answer(await flows.create_override(services, ctx.user_id, request, ctx.request_id))
            case parse.OverrideCancel(override_id=override_id):
                await ctx.answer(await flows.cancel_override(services, ctx.user_id, override_id, ctx.request_id))
