"""/incident, its buttons and the Declare modal: parse, ack, call one flow."""

from __future__ import annotations

import re

from slack_bolt.async_app import AsyncApp

from bot.alerts import flows as alert_flows
from bot.errors import UsageError
from bot.incidents import commander, flows, followups, messages, parse, reports, setup, store
from bot.incidents.ids import Action, Block, Shortcut, View
from bot.services import Services
from bot.slack.blocks import checkbox_part
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, action, command, shortcut, view
from bot.slack.text import escape, length, whole_number
from bot.status import handlers as status


def _incident_id(ctx: Ctx) -> int:
    value = (ctx.action.value or ctx.action.block_id).removeprefix("incident:")
    incident_id = whole_number(value)
    if incident_id is None:
        raise UsageError("That button does not belong to an incident.", usage=False)
    return incident_id


def register(app: AsyncApp, services: Services) -> None:
    @command(app, services, "/incident")
    async def incident(ctx: Ctx) -> None:
        request = parse.parse(ctx.text)
        match request:
            case parse.Help():
                await ctx.answer(usage("/incident"))
            case parse.OpenModal():
                await ctx.ack()
                await services.slack.views_open(
                    trigger_id=ctx.trigger_id, view=messages.declare_modal(services.config, ctx.user_id, ctx.channel_id)
                )
            case parse.Declare(severity=severity, title=title, full_text=full_text):
                await ctx.ack()
                result = await flows.declare(
                    services,
                    key=f"command:{ctx.trigger_id}",
                    title=title,
                    severity=severity,
                    reporter=ctx.user_id,
                    description=full_text,
                    origin_channel=ctx.channel_id,
                    request_id=ctx.request_id,
                    response_url=ctx.body.get("response_url"),
                    shortened=full_text is not None,
                )
                if not result.created:  # else the set-up answers, by response_url or DM
                    await ctx.answer(flows.already_declared(result.incident))
            case parse.ListOpen():
                await ctx.answer_soon(flows.listing(services))
            case _:
                await ctx.ack()
                current = await flows.in_channel(services, ctx.channel_id)
                await _in_channel(ctx, services, current, request)

    async def _in_channel(ctx: Ctx, services: Services, current: store.Incident, request: parse.Request) -> None:
        match request:
            case parse.Update(text=text):
                await flows.post_update(services, current, ctx.user_id, text)
            case parse.Severity(severity=severity):
                await ctx.in_channel(await flows.change_severity(services, current, ctx.user_id, severity))
            case parse.Commander(user=user):
                await ctx.in_channel(await commander.change_commander(services, current, ctx.user_id, user))
            case parse.Stage(name=name):
                await ctx.in_channel(await flows.change_stage(services, current, ctx.user_id, name))
            case parse.AddAction(text=text, owner=owner, due=due):
                await ctx.in_channel(await followups.add(services, current, ctx.user_id, text, owner, due))
            case parse.ActionDone(number=number):
                await ctx.in_channel(await followups.close(services, ctx.user_id, number, current))
            case parse.Actions():
                await ctx.answer(*messages.actions_blocks(current, await store.actions(services.db, current.id)))
            case parse.Resolve(summary=summary):
                await ctx.in_channel(await flows.resolve(services, current, ctx.user_id, summary, ctx.request_id))
            case parse.Timeline():
                await ctx.answer(*await flows.timeline(services, current))
            case parse.Postmortem():
                await flows.post_postmortem(services, current)
            case parse.Public(rest=rest):
                await status.public(ctx, services, current, rest)
            case parse.Reopen():
                await ctx.in_channel(await flows.reopen(services, current, ctx.user_id, ctx.request_id))

    @action(app, services, Action.ACTION_DONE)
    async def action_done(ctx: Ctx) -> None:
        await ctx.ack()
        item = whole_number(ctx.action.value or "")
        if item is None:
            raise UsageError("That button does not belong to an action item.", usage=False)
        await ctx.answer(await followups.close(services, ctx.user_id, item))

    @action(app, services, Action.ACKNOWLEDGE)
    async def acknowledge(ctx: Ctx) -> None:
        await ctx.ack()
        await ctx.answer(await flows.acknowledge(services, _incident_id(ctx), ctx.user_id))

    @action(app, services, Action.TAKE_COMMAND)
    async def take_command(ctx: Ctx) -> None:
        await ctx.ack()
        await ctx.answer(await commander.take_command(services, _incident_id(ctx), ctx.user_id))

    async def answer_request(ctx: Ctx, hand_over: bool) -> None:
        await ctx.ack()
        request_id = whole_number(ctx.action.value or "")
        if request_id is None:
            raise UsageError("That button does not belong to a request for command.", usage=False)
        await ctx.answer(await commander.answer_command_request(services, request_id, ctx.user_id, hand_over))

    @action(app, services, Action.HAND_OVER)
    async def hand_over(ctx: Ctx) -> None:
        await answer_request(ctx, True)

    @action(app, services, Action.KEEP_COMMAND)
    async def keep_command(ctx: Ctx) -> None:
        await answer_request(ctx, False)

    @action(app, services, Action.JOIN)
    async def join(ctx: Ctx) -> None:
        await ctx.ack()
        await ctx.answer(await flows.join(services, _incident_id(ctx), ctx.user_id))

    @action(app, services, Action.RETRY_SETUP)
    async def retry(ctx: Ctx) -> None:
        await ctx.ack()
        said = await setup.retry_setup(services, _incident_id(ctx), ctx.user_id, ctx.body.get("response_url"))
        if said:  # else the set-up run answers
            await ctx.answer(said)

    @action(app, services, re.compile(rf"^{Action.CHECK}:\d+$"))
    async def check(ctx: Ctx) -> None:
        await ctx.ack()
        incident = await store.by_channel(services.db, ctx.channel_id or "")
        if incident is None:
            raise UsageError("This checklist is not in an incident channel.", usage=False)
        stage = whole_number(ctx.action.action_id.rsplit(":", 1)[1], 1000) or 0
        selected = {int(v.split(":")[1]) for v in ctx.action.selected if re.fullmatch(r"\d{1,4}:\d{1,4}", v, re.ASCII)}
        _, part = checkbox_part(ctx.action.block_id)  # a long stage is split: this click reports only its part
        scope = set(range(part.start, part.stop))
        await flows.tick_stage(services, incident.id, stage, selected & scope, ctx.user_id, scope)

    @view(app, services, View.DECLARE)
    async def declare_submitted(ctx: Ctx) -> None:
        form = ctx.view
        title = escape(form.text(Block.TITLE))  # modal text is raw: encoded once, stored as mrkdwn
        picked = form.state.input(Block.SEVERITY).selected_option
        severity = picked.value if picked else None
        description = escape(form.text(Block.DESCRIPTION))
        commander = form.state.input(Block.COMMANDER).selected_user
        origin, source = reports.metadata(form.private_metadata)
        errors = {}
        try:
            title = parse.title(title)
        except UsageError as exc:
            errors[Block.TITLE.value] = exc.message
        if severity not in ("P1", "P2", "P3", "P4"):
            errors[Block.SEVERITY.value] = "Pick a severity, P1 to P4."
        if description and length(description) > parse.MAX_TEXT:
            errors[Block.DESCRIPTION.value] = f"Keep the description to {parse.MAX_TEXT} characters."
        if errors:
            ctx.outcome = "usage_error"
            await ctx.ack(response_action="errors", errors=errors)
            return
        await ctx.ack()
        result = await flows.declare(
            services,
            key=f"view:{form.id}",
            title=title,
            severity=str(severity),
            reporter=ctx.user_id,
            commander=commander,
            description=description or None,
            origin_channel=origin,
            request_id=ctx.request_id,
        )
        if source and result.created:
            await reports.link_source(services, result.incident, source, ctx.user_id)
        alert_id = alert_flows.declared_for(form.private_metadata)
        if alert_id is not None:
            await alert_flows.link_incident(services, alert_id, result.incident.id, ctx.user_id)
        if not result.created:
            await ctx.answer(flows.already_declared(result.incident))

    @shortcut(app, services, Shortcut.DECLARE_FROM_MESSAGE)
    async def declare_from_message(ctx: Ctx) -> None:
        await ctx.ack()
        await reports.open_declare_form(
            services,
            trigger_id=ctx.trigger_id or "",
            reporter=ctx.user_id,
            channel=ctx.channel_id,
            message=ctx.body.get("message") or {},
        )
