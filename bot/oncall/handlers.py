"""/oncall and the override buttons: parse, call one flow; a change is acked once it is committed.
register() is the routing table."""

from __future__ import annotations

from functools import partial

from slack_bolt.async_app import AsyncApp

from bot.domain import Domain
from bot.errors import NotFound
from bot.oncall import flows, jobs, parse
from bot.oncall.ids import Action
from bot.services import Services
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, action, command
from bot.slack.text import whole_number


async def oncall(services: Services, ctx: Ctx) -> None:
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


async def answer_request(services: Services, accept: bool, ctx: Ctx) -> None:
    """*Accept* / *Decline* on a request for someone's shift: acked once the answer is stored."""
    override_id = whole_number(ctx.action.value or "")
    if override_id is None:
        raise NotFound("That button does not belong to an override request.")
    await ctx.answer(await flows.answer_override(services, override_id, ctx.user_id, accept, ctx.request_id))


def register(app: AsyncApp, services: Services) -> None:
    command(app, services, "/oncall")(partial(oncall, services))
    action(app, services, Action.OVERRIDE_ACCEPT)(partial(answer_request, services, True))
    action(app, services, Action.OVERRIDE_DECLINE)(partial(answer_request, services, False))


DOMAIN = Domain(
    "oncall",
    jobs=jobs.register,
    register=register,
)
