"""/maintenance and the checklist's checkboxes and Assign buttons: parse, call one flow. A change is acked once
the flow has committed it (bot/slack/middleware.py acks on the commit), never before."""

from __future__ import annotations

from bot.domain import Domain
from bot.errors import UsageError
from bot.maintenance import flows, jobs
from bot.maintenance.ids import KINDS, Action, parse_checklist_block, parse_task
from bot.slack.blocks import checkbox_part
from bot.slack.commands import HELP_WORDS, echo, usage
from bot.slack.middleware import Ctx, Route
from bot.slack.text import whole_number


async def maintenance(ctx: Ctx) -> None:
    words = ctx.text.lower().split()
    if words and words[0] in HELP_WORDS:
        await ctx.answer(usage("/maintenance"))
        return
    if words and words[0] == "post":
        if len(words) != 2 or words[1] not in KINDS:
            raise UsageError("say which checklist: `/maintenance post daily`, `weekly` or `monthly`")
        await ctx.answer(await flows.post_now(ctx.services, words[1], ctx.user_id))
        return
    if words:
        raise UsageError(f"`{echo(ctx.text)}` is not a /maintenance command")  # as typed, not lowercased
    await ctx.answer_soon(flows.overview(ctx.services))


async def check(ctx: Ctx) -> None:
    block, part = checkbox_part(ctx.action.block_id)  # maint:<id>[:partN] (long checklists are split)
    post_id = parse_checklist_block(block)
    selected = {n for v in ctx.action.selected if (n := whole_number(v, 10_000)) is not None}
    await flows.tick(ctx.services, post_id, selected, ctx.user_id, part)


async def assign(ctx: Ctx) -> None:
    await ctx.answer(await flows.assign(ctx.services, *parse_task(ctx.action.value), ctx.user_id))


ROUTES: list[Route] = [
    Route("command", "/maintenance", maintenance),
    Route("action", Action.CHECK, check),
    Route("action", Action.ASSIGN, assign),
]

DOMAIN = Domain("maintenance", routes=ROUTES, jobs=jobs.register)
