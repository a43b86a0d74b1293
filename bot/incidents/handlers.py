"""/incident, its buttons and the Declare modal: parse, call one flow, answer in messages' words.
`ROUTES` is the routing table: every command, button, form and shortcut of the domain, one line each.

A change is acked once the flow has committed it (bot/slack/middleware.py acks on the commit), never before:
only what changes nothing (opening a form, posting a draft) acks first."""

from __future__ import annotations

import asyncio

from bot.domain import Domain
from bot.errors import NotFound, UsageError
from bot.incidents import (
    ack_expiry,
    commander,
    flows,
    followups,
    forms,
    ids,
    jobs,
    messages,
    models,
    parse,
    pins,
    records,
    refusals,
    reports,
    setup,
    store,
)
from bot.incidents.enums import Severity
from bot.incidents.ids import Action, Block, Job, Shortcut, View
from bot.incidents.outcomes import Outcome
from bot.services import Services, zone
from bot.slack.blocks import checkbox_part
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, Route
from bot.slack.text import escape, length, whole_number


def _said(ctx: Ctx, outcome: Outcome) -> str:
    return messages.answer(outcome, zone(ctx.services))


def _incident_id(ctx: Ctx) -> int:
    incident_id = ids.incident_of(ctx.action.value or ctx.action.block_id)
    if incident_id is None:
        raise NotFound(refusals.stale_button("an incident"))
    return incident_id


def _number(ctx: Ctx, what: str) -> int:
    number = whole_number(ctx.action.value or "")
    if number is None:
        raise NotFound(refusals.stale_button(what))
    return number


# -- /incident ------------------------------------------------------------------------------------------------


async def incident(ctx: Ctx) -> None:
    services = ctx.services
    request = parse.parse(ctx.text)
    match request:
        case parse.Help():
            await ctx.answer(usage("/incident"))
        case parse.OpenModal():
            await ctx.ack()
            modal = forms.declare_modal(services.config, ctx.user_id, ctx.channel_id)
            await services.slack.views_open(trigger_id=ctx.trigger_id, view=modal)
        case parse.Declare():
            await _declare(ctx, request)
        case parse.ListOpen():
            await ctx.answer_soon(flows.listing(services))
        case _:
            await _in_channel(ctx, await flows.in_channel(services, ctx.channel_id), request)


async def _declare(ctx: Ctx, request: parse.Declare) -> None:
    key = f"command:{ctx.trigger_id}"
    stored = await flows.declare_durably(
        ctx.services,
        key=key,
        title=request.title,
        severity=request.severity,
        reporter=ctx.user_id,
        description=request.full_text,
        origin_channel=ctx.channel_id,
        request_id=ctx.request_id,
        response_url=ctx.body.get("response_url"),
        shortened=request.full_text is not None,
    )
    await ctx.ack()  # the declaration is stored (one round trip): it is made and set up now, or after a crash
    if stored:  # else a run of this key is under way, and it answers
        await ctx.services.jobs.run_now(Job.DECLARE, key)


async def _in_channel(ctx: Ctx, current: models.Incident, request: parse.Request) -> None:
    services, actor = ctx.services, ctx.user_id
    match request:
        case parse.Update(text=text):
            await flows.post_update(services, current, actor, text)
        case parse.ChangeSeverity(severity=severity):
            await ctx.in_channel(_said(ctx, await flows.change_severity(services, current, actor, severity)))
        case parse.Commander(user=user):
            await ctx.in_channel(_said(ctx, await commander.change_commander(services, current, actor, user)))
        case parse.Stage(name=name):
            await ctx.in_channel(_said(ctx, await flows.change_stage(services, current, actor, name)))
        case parse.AddAction(text=text, owner=owner, due=due):
            await ctx.in_channel(_said(ctx, await followups.add(services, current, actor, text, owner, due)))
        case parse.ActionDone(number=number):
            await ctx.in_channel(_said(ctx, await followups.close(services, actor, number, current)))
        case parse.ListActions():  # reads: acked first, as ever (nothing is stored)
            await ctx.ack()
            await ctx.answer(*records.actions_blocks(current, await store.actions(services.db, current.id)))
        case parse.Resolve(summary=summary):
            outcome = await flows.resolve(services, current, actor, summary, ctx.request_id)
            await ctx.in_channel(_said(ctx, outcome))
        case parse.Timeline():
            await ctx.ack()
            await ctx.answer(*await flows.timeline(services, current))
        case parse.Postmortem():
            await ctx.ack()  # a draft posted in the channel: nothing is stored
            await flows.post_postmortem(services, current)
        case parse.Public(rest=rest):
            await _public(ctx, current, rest)
        case parse.Reopen():
            await ctx.in_channel(_said(ctx, await flows.reopen(services, current, actor, ctx.request_id)))


async def _public(ctx: Ctx, current: models.Incident, rest: str) -> None:
    """`/incident public …`: the status page's subcommand (registered by its domain on services.subcommands);
    without one, answered as an unknown subcommand."""
    public = ctx.services.subcommands.get("/incident public")
    if public is None:
        raise parse.unknown(ctx.text.strip())
    await public(ctx, ctx.services, current, rest)


# -- buttons --------------------------------------------------------------------------------------------------


async def action_done(ctx: Ctx) -> None:
    item = _number(ctx, "an action item")
    await ctx.answer(_said(ctx, await followups.close(ctx.services, ctx.user_id, item)))


async def acknowledge(ctx: Ctx) -> None:
    await ctx.answer(_said(ctx, await flows.acknowledge(ctx.services, _incident_id(ctx), ctx.user_id)))


async def snooze(ctx: Ctx) -> None:
    target = ids.snooze_of(ctx.action.value or "")
    if target is None:
        raise NotFound(refusals.stale_button("an incident"))
    incident_id, hours = target
    await ctx.answer(await ack_expiry.snooze(ctx.services, incident_id, hours, ctx.user_id, ctx.request_id))


async def still_on_it(ctx: Ctx) -> None:
    await ctx.answer(await ack_expiry.still_on_it(ctx.services, _incident_id(ctx), ctx.user_id, ctx.request_id))


async def take_command(ctx: Ctx) -> None:
    await ctx.answer(_said(ctx, await commander.take_command(ctx.services, _incident_id(ctx), ctx.user_id)))


async def _answer_request(ctx: Ctx, hand_over: bool) -> None:
    request_id = _number(ctx, "a request for command")
    outcome = await commander.answer_command_request(ctx.services, request_id, ctx.user_id, hand_over)
    await ctx.answer(_said(ctx, outcome))


async def hand_over(ctx: Ctx) -> None:
    await _answer_request(ctx, True)


async def keep_command(ctx: Ctx) -> None:
    await _answer_request(ctx, False)


async def join(ctx: Ctx) -> None:
    await ctx.ack()  # an invitation: nothing is stored
    await ctx.answer(_said(ctx, await flows.join(ctx.services, _incident_id(ctx), ctx.user_id)))


async def retry_setup(ctx: Ctx) -> None:
    busy = await setup.retry_setup(ctx.services, _incident_id(ctx), ctx.user_id, ctx.body.get("response_url"))
    if busy:  # else the set-up run answers
        await ctx.answer(_said(ctx, busy))


async def check(ctx: Ctx) -> None:
    incident = await store.by_channel(ctx.services.db, ctx.channel_id or "")
    if incident is None:
        raise NotFound(refusals.NOT_AN_INCIDENT_CHECKLIST)
    stage = ids.stage_of(ctx.action.action_id)
    _, part = checkbox_part(ctx.action.block_id)  # a long stage is split: this click reports only its part
    scope = set(range(part.start, part.stop))
    selected = ids.items_of(ctx.action.selected) & scope
    await flows.tick_stage(ctx.services, incident.id, stage, selected, ctx.user_id, scope)


# -- the Declare form and the message shortcut ------------------------------------------------------------------


def _form_errors(title: str, severity: Severity | None, description: str) -> dict[str, str]:
    errors = {}
    try:
        parse.title(title)
    except UsageError as exc:
        errors[Block.TITLE.value] = exc.message
    if severity is None:
        errors[Block.SEVERITY.value] = "Pick a severity, P1 to P4."
    if description and length(description) > parse.MAX_TEXT:
        errors[Block.DESCRIPTION.value] = f"Keep the description to {parse.MAX_TEXT} characters."
    return errors


async def declare_submitted(ctx: Ctx) -> None:
    services, form = ctx.services, ctx.view
    title = escape(form.text(Block.TITLE))  # modal text is raw: encoded once, stored as mrkdwn
    picked = form.state.input(Block.SEVERITY).selected_option
    severity = Severity.parse(picked.value) if picked else None
    description = escape(form.text(Block.DESCRIPTION))
    errors = _form_errors(title, severity, description)
    if errors or severity is None:
        ctx.outcome = "usage_error"
        await ctx.ack(response_action="errors", errors=errors)
        return
    origin, source = forms.metadata(form.private_metadata)
    key = f"view:{form.id}"
    # As /incident p1: the declaration stored in one statement, then the ack closes the form; it is made (and
    # paged, and set up) now, or by any replica after a crash.
    stored = await flows.declare_durably(
        services,
        key=key,
        title=parse.title(title),
        severity=severity,
        reporter=ctx.user_id,
        commander=form.state.input(Block.COMMANDER).selected_user,
        description=description or None,
        origin_channel=origin,
        request_id=ctx.request_id,
        alert_id=forms.alert_of(form.private_metadata),  # the alerts domain links them (IncidentDeclared)
    )
    await ctx.ack()
    if not stored:  # submitted twice: the first submission declares (and answers); this one says so
        incident = await _declared_by(services, key)
        if incident is not None:
            await ctx.answer(messages.already_declared(incident))
        return
    await services.jobs.run_now(Job.DECLARE, key)
    incident = await store.by_declare_key(services.db, key)
    if incident is None:  # not made here yet (another replica runs it): the links follow from its run's answer
        return
    if source:
        await reports.link_source(services, incident, source, ctx.user_id)


async def _declared_by(services: Services, key: str, within: float = 10.0) -> models.Incident | None:
    """The incident a stored declaration made, once its run (here or on another replica) has made it."""
    deadline = asyncio.get_running_loop().time() + within
    while (incident := await store.by_declare_key(services.db, key)) is None:
        if asyncio.get_running_loop().time() >= deadline:
            return None
        await asyncio.sleep(0.1)
    return incident


async def declare_from_message(ctx: Ctx) -> None:
    await ctx.ack()
    await reports.open_declare_form(
        ctx.services,
        trigger_id=ctx.trigger_id or "",
        reporter=ctx.user_id,
        channel=ctx.channel_id,
        message=ctx.body.get("message") or {},
    )


# -- the timeline from the conversation: a 📌 reaction, or the message shortcut Add to timeline -------------------


async def reaction_added(ctx: Ctx) -> None:
    if not await pins.reacted(ctx.services, ctx.body.get("event") or {}, added=True):
        ctx.outcome = "ignored"


async def reaction_removed(ctx: Ctx) -> None:
    if not await pins.reacted(ctx.services, ctx.body.get("event") or {}, added=False):
        ctx.outcome = "ignored"


async def add_to_timeline(ctx: Ctx) -> None:
    said = await pins.from_shortcut(
        ctx.services, ctx.user_id, ctx.channel_id, ctx.body.get("message") or {}, ctx.body.get("action_ts")
    )
    await ctx.answer(said)


ROUTES: list[Route] = [
    Route("command", "/incident", incident),
    Route("action", Action.ACTION_DONE, action_done),
    Route("action", Action.ACKNOWLEDGE, acknowledge),
    Route("action", Action.TAKE_COMMAND, take_command),
    Route("action", ids.SNOOZE_ACTION, snooze),
    Route("action", Action.STILL_ON_IT, still_on_it),
    Route("action", Action.HAND_OVER, hand_over),
    Route("action", Action.KEEP_COMMAND, keep_command),
    Route("action", Action.JOIN, join),
    Route("action", Action.RETRY_SETUP, retry_setup),
    Route("action", ids.CHECK_ACTION, check),
    Route("view", View.DECLARE, declare_submitted),
    Route("shortcut", Shortcut.DECLARE_FROM_MESSAGE, declare_from_message),
    Route("shortcut", Shortcut.ADD_TO_TIMELINE, add_to_timeline),
    Route("event", "reaction_added", reaction_added),
    Route("event", "reaction_removed", reaction_removed),
]

DOMAIN = Domain("incidents", routes=ROUTES, jobs=jobs.register)
