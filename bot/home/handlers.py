"""`app_home_opened`: the Home tab is built fresh each time it is opened."""

from __future__ import annotations

from bot.domain import Domain
from bot.home import flows
from bot.slack.middleware import Ctx, Route


async def home_opened(ctx: Ctx) -> None:
    await ctx.ack()
    opened = ctx.body.get("event") or {}
    if opened.get("tab", "home") != "home" or not ctx.user_id:
        ctx.outcome = "ignored"
        return
    await flows.publish(ctx.services, ctx.user_id)


ROUTES: list[Route] = [Route("event", "app_home_opened", home_opened)]

DOMAIN = Domain("home", routes=ROUTES, jobs=None)
