"""/slo: the SLO tables of the ops config."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.errors import UsageError
from bot.services import Services
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, command
from bot.slo import messages


def register(app: AsyncApp, services: Services) -> None:
    @command(app, services, "/slo")
    async def slo(ctx: Ctx) -> None:
        if ctx.text.lower() in ("help", "-h", "--help", "?"):
            await ctx.answer(usage("/slo"))
            return
        if ctx.text:
            raise UsageError(f"`{ctx.text.split()[0]}` is not a /slo command")
        await ctx.answer("Service level objectives", messages.tables(services.config.slos))
