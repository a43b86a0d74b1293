"""/backups (the routing table, ROUTES) and POST /hooks/heartbeat/<name> (webhooks.py): parse, call one flow."""

from __future__ import annotations

from bot.domain import Domain
from bot.errors import UsageError
from bot.heartbeats import flows, jobs, webhooks
from bot.slack.commands import HELP_WORDS, echo, usage
from bot.slack.middleware import Ctx, Route


async def backups(ctx: Ctx) -> None:
    words = ctx.text.lower().split()
    if words and words[0] in HELP_WORDS:
        await ctx.answer(usage("/backups"))
        return
    if words:
        raise UsageError(f"`{echo(ctx.text)}` is not a /backups command")
    await ctx.answer_soon(flows.overview(ctx.services, ctx.user_id))


ROUTES: list[Route] = [Route("command", "/backups", backups)]

DOMAIN = Domain("heartbeats", routes=ROUTES, jobs=jobs.register, hooks=webhooks.HOOKS)
