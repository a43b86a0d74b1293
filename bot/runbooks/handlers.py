"""/runbook, its Done and Skip buttons, and the skip-reason modal. A change is acked once the flow has committed
it (bot/slack/middleware.py acks on the commit), never before."""

from __future__ import annotations

import re

from bot.domain import Domain
from bot.errors import Invalid
from bot.runbooks import drills, flows, jobs, messages
from bot.runbooks.ids import Action, RunStep, StepStatus, run_id
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
    if text.lower() == "drills":
        await ctx.answer_soon(drills.listing(services))
        return
    word, _, name = text.partition(" ")
    if word.lower() == "drill":
        if not name.strip():
            await ctx.answer(usage("/runbook"))
            return
        key = f"command:{ctx.trigger_id}"
        await ctx.answer(await drills.start(services, ctx.user_id, ctx.channel_id, name.strip(), key))
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


async def drill_offered(ctx: Ctx) -> None:
    """The monthly checklist's "Start drill" button: a drill of that runbook, here."""
    slug = ctx.action.value or ""
    said = await drills.start(ctx.services, ctx.user_id, ctx.channel_id, slug, f"action:{ctx.trigger_id}")
    await ctx.answer(said)


async def drill_age(ctx: Ctx) -> None:
    await ctx.ack()  # opens the form: the age is stored when it is submitted
    said = await drills.open_age(ctx.services, run_id(ctx.action.value), ctx.trigger_id)
    if said:
        await ctx.answer(said)


async def drill_age_told(ctx: Ctx) -> None:
    try:
        await drills.record_age(ctx.services, run_id(ctx.view.private_metadata), ctx.view.text("age"), ctx.user_id)
    except Invalid as exc:  # nothing stored: the form stays open and says why
        ctx.outcome = "usage_error"
        await ctx.ack(response_action="errors", errors={"age": exc.message})


ROUTES: list[Route] = [
    Route("command", "/runbook", runbook),
    Route("action", Action.DONE, done),
    Route("action", Action.SKIP, skip),
    Route("view", Action.SKIP_VIEW, skip_reason),
    Route("action", re.compile(rf"^{Action.DRILL_START}(:.*)?$"), drill_offered),
    Route("action", Action.DRILL_AGE, drill_age),
    Route("view", Action.DRILL_AGE_VIEW, drill_age_told),
]

DOMAIN = Domain("runbooks", routes=ROUTES, jobs=jobs.register)
