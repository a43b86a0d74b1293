"""/oncall and the override buttons: parse, call one flow; a change is acked once it is committed.
ROUTES is the routing table."""

from __future__ import annotations

from bot.domain import Domain
from bot.errors import NotFound
from bot.oncall import calendar, cover, feed, flows, jobs, parse, report
from bot.oncall.ids import Action
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, Route
from bot.slack.text import whole_number


async def oncall(ctx: Ctx) -> None:
    services = ctx.services
    request = parse.parse(ctx.text, services.config.oncall.zone, services.clock.now())
    match request:
        case parse.Help():
            await ctx.answer(usage("/oncall"))
        case parse.Now():
            await ctx.answer_soon(flows.show_now(services, ctx.user_id), "On call now")
        case parse.Next():
            await ctx.answer_soon(flows.show_next(services, ctx.user_id), "The next rotation")
        case parse.Schedule(weeks=weeks):
            await ctx.answer_soon(flows.show_schedule(services, weeks), "The on-call schedule")
        case parse.At(when=when, date_only=date_only):
            await ctx.answer_soon(flows.show_at(services, ctx.user_id, when, date_only), "On call then")
        case parse.Overrides():
            await ctx.answer_soon(flows.list_overrides(services))
        case parse.Contacts():
            await ctx.answer_soon(flows.show_contacts(services, ctx.user_id))
        # A change is answered through response_url; a refusal ready within the ack budget, in the ack.
        case parse.OverrideCreate():
            await ctx.answer_change(flows.create_override(services, ctx.user_id, request, ctx.request_id))
        case parse.OverrideCancel(override_id=override_id):
            await ctx.answer_change(flows.cancel_override(services, ctx.user_id, override_id, ctx.request_id))
        case parse.Calendar(rotate=rotate):
            await ctx.answer_change(calendar.send_links(services, ctx.user_id, ctx.request_id, rotate=rotate))
        case parse.Report(month=month):  # heavy reads: answered after the ack when they take longer than its budget
            await ctx.answer_soon(report.report(services, ctx.user_id, month))
        case parse.Cover():
            await ctx.answer_change(cover.ask(services, ctx.user_id, request, ctx.request_id))
        case parse.CoverCancel():
            await ctx.answer_change(cover.cancel(services, ctx.user_id, ctx.request_id))


async def _answer_request(ctx: Ctx, accept: bool) -> None:
    """*Accept* / *Decline* on a request for someone's shift: acked once the answer is stored."""
    override_id = whole_number(ctx.action.value or "")
    if override_id is None:
        raise NotFound("That button does not belong to an override request.")
    await ctx.answer(await flows.answer_override(ctx.services, override_id, ctx.user_id, accept, ctx.request_id))


async def accept_request(ctx: Ctx) -> None:
    await _answer_request(ctx, True)


async def decline_request(ctx: Ctx) -> None:
    await _answer_request(ctx, False)


async def take_cover(ctx: Ctx) -> None:
    """*I'll cover* on a request for urgent cover: the first press wins, acked once it is stored."""
    cover_id = whole_number(ctx.action.value or "")
    if cover_id is None:
        raise NotFound("That button does not belong to a request for cover.")
    await ctx.answer(await cover.take(ctx.services, cover_id, ctx.user_id, ctx.request_id))


ROUTES: list[Route] = [
    Route("command", "/oncall", oncall),
    Route("action", Action.OVERRIDE_ACCEPT, accept_request),
    Route("action", Action.OVERRIDE_DECLINE, decline_request),
    Route("action", Action.COVER_TAKE, take_cover),
]

DOMAIN = Domain("oncall", routes=ROUTES, jobs=jobs.register, web_routes=feed.web_routes)
