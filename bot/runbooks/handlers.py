"""/runbook, its Done and Skip buttons, and the skip-reason modal."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.errors import UsageError
from bot.runbooks import flows, messages, store
from bot.services import Services
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, action, command, view
from bot.slack.text import escape, whole_number


def _run_step(value: str) -> tuple[int, int]:
    run, _, step = value.partition(":")
    run_id, step_no = whole_number(run), whole_number(step, 10_000)
    if run_id is None or step_no is None:
        raise UsageError("That button does not belong to a runbook run.", usage=False)
    return run_id, step_no


def register(app: AsyncApp, services: Services) -> None:
    @command(app, services, "/runbook")
    async def runbook(ctx: Ctx) -> None:
        text = ctx.text
        if text.lower() in ("help", "-h", "--help", "?"):
            await ctx.answer(usage("/runbook"))
            return
        if text.lower() in ("", "list"):
            await ctx.answer(messages.listing(services.config.runbooks))
            return
        if text.lower() == "runs":
            await ctx.answer_soon(flows.in_progress(services))
            return
        chosen = flows.find(services, text)
        await ctx.ack()
        said = await flows.start(services, ctx.user_id, ctx.channel_id, chosen, f"command:{ctx.trigger_id}")
        if said:
            await ctx.answer(said)

    @action(app, services, messages.DONE)
    async def done(ctx: Ctx) -> None:
        await ctx.ack()
        said = await flows.record_step(services, *_run_step(ctx.action.value or ""), "done", ctx.user_id)
        if said:
            await ctx.answer(said)

    @action(app, services, messages.SKIP)
    async def skip(ctx: Ctx) -> None:
        await ctx.ack()
        run_id, index = _run_step(ctx.action.value or "")
        run = await store.get(services.db, run_id)
        if run is None or not 0 <= index < len(run.steps):
            raise UsageError("That step is not part of a runbook run.", usage=False)
        await services.slack.views_open(trigger_id=ctx.trigger_id, view=messages.skip_modal(run, index))

    @view(app, services, messages.SKIP_VIEW)
    async def skip_reason(ctx: Ctx) -> None:
        reason = escape(ctx.view.text("reason"))  # modal text is raw: stored as mrkdwn
        if len(reason) < 3:
            ctx.outcome = "usage_error"
            await ctx.ack(response_action="errors", errors={"reason": "Say why, in a few words."})
            return
        await ctx.ack()
        said = await flows.record_step(services, *_run_step(ctx.view.private_metadata), "skipped", ctx.user_id, reason)
        if said:
            await ctx.answer(said)
