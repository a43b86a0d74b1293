"""/runbook, its Done and Skip buttons, and the skip-reason modal. A change is acked once the flow has committed
it (bot/slack/middleware.py acks on the commit), never before."""

from __future__ import annotations

from bot.domain import Domain
from bot.runbooks import flows, messages
from bot.runbooks.ids import Action, RunStep, StepStatus
from bot.slack.commands import HELP_WORDS, usage
from bot.slack.middleware import Ctx, Route
from bot.slack.text import escape


async def runbook(ctx: Ctx) -> None:
    text, services = ctx.text, ctx.services
    if text.lower() in HELP_WORDS:
        await ctx.answer(usage("/runbook"))
        return
    if text.lower() in ("", "list"):
        await ctx.answer(messages.listing(services.config.runbooks))
        return
    if text.lower() == "runs":
        await ctx.answer_soon(flows.in_progress(services))
        return
    chosen = flows.find(services, text)
    said = await flows.start(services, ctx.user_id, ctx.channel_id, chosen, f"command:{ctx.trigger_id}")
    if said:
        await ctx.answer(said)


async def done(ctx: Ctx) -> None:
    said = await flows.record_step(ctx.services, RunStep.parse(ctx.action.value), StepStatus.DONE, ctx.user_id)
    if said:
        await ctx.answer(said)


async def skip(ctx: Ctx) -> None:
    await ctx.ack()  # opens the reason form: the skip is stored when it is submitted
    step = RunStep.parse(ctx.action.value)
    run = await flows.step_run(ctx.services, step)
    await ctx.services.slack.views_open(trigger_id=ctx.trigger_id, view=messages.skip_modal(run, step.index))


async def skip_reason(ctx: Ctx) -> None:
    reason = escape(ctx.view.text("reason"))  # modal text is raw: stored as mrkdwn
    if len(reason) < 3:
        ctx.outcome = "usage_error"
        await ctx.ack(response_action="errors", errors={"reason": "Say why, in a few words."})
        return
    step = RunStep.parse(ctx.view.private_metadata)
    said = await flows.record_step(ctx.services, step, StepStatus.SKIPPED, ctx.user_id, reason)
    if said:
        await ctx.answer(said)


ROUTES: list[Route] = [
    Route("command", "/runbook", runbook),
    Route("action", Action.DONE, done),
    Route("action", Action.SKIP, skip),
    Route("view", Action.SKIP_VIEW, skip_reason),
]

DOMAIN = Domain("runbooks", routes=ROUTES)
