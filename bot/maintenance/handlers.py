"""/maintenance and the checklist's checkboxes and Assign buttons."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.errors import UsageError
from bot.maintenance import flows, messages
from bot.services import Services
from bot.slack.blocks import checkbox_part
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, action, command
from bot.slack.text import whole_number

KINDS = ("daily", "weekly", "monthly")


def register(app: AsyncApp, services: Services) -> None:
    @command(app, services, "/maintenance")
    async def maintenance(ctx: Ctx) -> None:
        words = ctx.text.lower().split()
        if words and words[0] in ("help", "-h", "--help", "?"):
            await ctx.answer(usage("/maintenance"))
            return
        if words and words[0] == "post":
            if len(words) != 2 or words[1] not in KINDS:
                raise UsageError("say which checklist: `/maintenance post daily`, `weekly` or `monthly`")
            await ctx.ack()
            await ctx.answer(await flows.post_now(services, words[1], ctx.user_id))
            return
        if words:
            raise UsageError(f"`{ctx.text.split()[0]}` is not a /maintenance command")  # as typed, not lowercased
        await ctx.answer_soon(flows.overview(services))

    @action(app, services, messages.CHECK)
    async def check(ctx: Ctx) -> None:
        await ctx.ack()
        block, part = checkbox_part(ctx.action.block_id)  # maint:<id>[:partN] (long checklists are split)
        if not block.startswith("maint:") or whole_number(block[6:]) is None:
            raise UsageError("That checklist does not exist.", usage=False)
        selected = {n for v in ctx.action.selected if (n := whole_number(v, 10_000)) is not None}
        await flows.tick(services, int(block[6:]), selected, ctx.user_id, part)

    @action(app, services, messages.ASSIGN)
    async def assign(ctx: Ctx) -> None:
        await ctx.ack()
        post_id, _, item = (ctx.action.value or "").partition(":")
        if whole_number(post_id) is None or whole_number(item, 10_000) is None:
            raise UsageError("That task is not on a checklist.", usage=False)
        await ctx.answer(await flows.assign(services, int(post_id), int(item), ctx.user_id))
