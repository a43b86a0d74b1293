"""Cross-cutting Slack concerns.

- `install()`: a global Bolt middleware (after Bolt's signature check) that binds a request id into
  structlog's contextvars, handles each Slack delivery once (event_id / trigger_id claimed in Postgres),
  and times the ack.
- `command()`, `action()`, `view()`: how domains register listeners. The wrapper answers the errors a user
  can cause and DatabaseUnavailable once, ephemerally, as the table in bot/errors.py says, anything else with
  an apology with the request id, and writes the audit row and the metrics for every request, whatever its outcome.
  A request that may change something is acked only once its change has committed (bot/db.py `on_commit`), or
  past the ack budget with an ack that says it is not recorded yet; after a commit no answer says nothing was done.
- `drain()`: on shutdown, lets the handlers still running after their ack finish before the pool closes.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Unpack

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot import audit, log
from bot.db import Database, on_commit
from bot.errors import UNAVAILABLE, DatabaseUnavailable, Refused, answer_for, answer_text
from bot.services import Services
from bot.slack import store
from bot.slack.commands import only_reads, usage
from bot.slack.context import Ctx, actor_of, channel_of

logger = log.get("zzik.slack")

INCOMPLETE = "That click reached the bot incomplete, so nothing was done. Try again, or use the slash command."
# How long the delivery claim may take: the ack must reach Slack within 3 s whatever the database does
# (a black-holed database would otherwise hold the claim for the pool's timeouts).
CLAIM_BUDGET = 1.0


def scrub(value: Any) -> Any:
    """NUL characters out of every string of a request: PostgreSQL text and jsonb refuse them, and no user means one."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        for key in list(value):
            value[key] = scrub(value[key])
        return value
    if isinstance(value, list):
        for i, item in enumerate(value):
            value[i] = scrub(item)
        return value
    return value


async def bounded_claim(db: Database, key: str) -> bool:
    """`store.claim` (True the first time a key is seen) within CLAIM_BUDGET; DatabaseUnavailable past it. The
    query is left to finish or fail on its own (cancelling a query on an unreachable server can itself hang)."""
    task = asyncio.ensure_future(store.claim(db, key))
    done, _ = await asyncio.wait({task}, timeout=CLAIM_BUDGET)
    if not done:
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        raise DatabaseUnavailable(f"delivery claim took over {CLAIM_BUDGET} s")
    return task.result()


def _incomplete_action(body: dict[str, Any]) -> bool:
    if body.get("type") != "block_actions":
        return False
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        return True
    return not isinstance(actions[0].get("action_id"), str) or not isinstance(body.get("user"), dict)


def classify(body: dict[str, Any]) -> tuple[str, str]:
    """(kind, name) of a Slack request, for metrics, logs and the audit log."""
    if "command" in body:
        return "command", str(body["command"])
    kind = body.get("type")
    if kind == "block_actions":
        actions = body.get("actions") or [{}]
        return "action", str(actions[0].get("action_id", "?"))
    if kind in ("view_submission", "view_closed"):
        return "view", str((body.get("view") or {}).get("callback_id", "?"))
    if kind in ("message_action", "shortcut"):
        return "shortcut", str(body.get("callback_id", "?"))
    if kind == "event_callback":
        return "event", str((body.get("event") or {}).get("type", "?"))
    return "other", str(kind or "?")


def delivery_key(body: dict[str, Any]) -> str | None:
    """What makes one delivery of one user intent unique. A redelivery or retry carries the same key.

    None for a command that only reads: it is answered without a claim (no database round trip before it).
    """
    if "command" in body and only_reads(str(body["command"]), str(body.get("text") or "")):
        return None
    if body.get("type") == "event_callback" and body.get("event_id"):
        return f"event:{body['event_id']}"
    trigger = body.get("trigger_id")
    if trigger:
        kind, name = classify(body)
        return f"{kind}:{name}:{trigger}"
    return None


def install(app: AsyncApp, services: Services) -> None:
    @app.middleware
    async def request_context(req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[Any]]):
        body = scrub(req.body or {})
        kind, name = classify(body)
        request_id = uuid.uuid4().hex[:16]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, kind=kind, name=name)
        req.context["request_id"] = request_id
        if req.context.respond is not None:  # answer through the pooled session, not a connection per answer
            req.context["respond"] = services.slack.responder(req.context.respond.response_url)
        started = time.perf_counter()
        if _incomplete_action(body):
            return await _incomplete(req, services, body, request_id)
        key = delivery_key(body)
        if key is not None:

            def unclaimed(outcome: str) -> audit.Row:
                services.metrics.requests.labels(kind, name, outcome).inc()
                return audit.Row(
                    kind=kind,
                    action=name,
                    outcome=outcome,
                    actor=actor_of(body),
                    channel=channel_of(body),
                    request_id=request_id,
                    detail={"key": key},
                )

            try:
                fresh = await bounded_claim(services.db, key)
            except DatabaseUnavailable:
                # Audited too (the writer retries until the database takes it): a claim that only ran out of
                # time on a loaded machine is a request refused, and every request has its row.
                await _audit(services, **unclaimed("unavailable"))
                return await _unavailable(req, kind)
            if not fresh:
                logger.info("duplicate delivery ignored", key=key, retry=req.headers.get("x-slack-retry-num"))
                await audit.record(services.db, **unclaimed("duplicate"))
                return BoltResponse(status=200, body="")
        req.context["started"] = started  # the listener observes the ack's latency (Bolt's next() returns at once)
        req.context["claimed"] = key is not None  # it may change something: acked only once that is stored
        return await next()

    @app.error
    async def unhandled(error: Exception, body: dict[str, Any], logger: Any) -> BoltResponse | None:
        # Reached only for errors outside the listener wrapper (Bolt's own middleware, a bad payload).
        answer = answer_for(error)
        if answer is not None:
            return _ephemeral_response(answer_text(error, answer, None))
        log.get("zzik.slack").error("unhandled error", error=repr(error))
        return None


async def _incomplete(req: AsyncBoltRequest, services: Services, body: dict[str, Any], request_id: str) -> BoltResponse:
    """A click whose payload lacks what every click carries: acked, answered, audited, nothing done."""
    services.metrics.requests.labels("action", "?", "usage_error").inc()
    await _tell(req, INCOMPLETE)
    await audit.record(
        services.db,
        kind="action",
        action="?",
        outcome="usage_error",
        actor=actor_of(body) if isinstance(body.get("user"), dict) else None,
        request_id=request_id,
        detail={"why": "block_actions without an action_id or user"},
    )
    return BoltResponse(status=200, body="")


async def _unavailable(req: AsyncBoltRequest, kind: str) -> BoltResponse:
    if kind == "command":
        return _ephemeral_response(UNAVAILABLE)
    form = _form_error(req.body or {}, UNAVAILABLE)
    if form is not None:
        return form
    await _tell(req, UNAVAILABLE)
    return BoltResponse(status=200, body="")


def _form_error(body: dict[str, Any], text: str) -> BoltResponse | None:
    """A form submitted when nothing could be done stays open and says so on its first field: an empty ack
    would close it, and a form has no response_url to say why, so its sender would take it as done."""
    if body.get("type") != "view_submission":
        return None
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    if not isinstance(values, dict) or not values:
        return None
    first = next(iter(values))
    return BoltResponse(
        status=200,
        body=json.dumps({"response_action": "errors", "errors": {first: text}}),
        headers={"content-type": "application/json"},
    )


async def _tell(req: AsyncBoltRequest, text: str) -> None:
    """An ephemeral answer to a click through its response_url, before any listener ran; a failure is logged."""
    respond = req.context.respond
    if respond is None:
        return
    try:
        await respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception as exc:
        logger.warning("could not answer the click", text=text[:80], error=repr(exc))


def _ephemeral_response(text: str) -> BoltResponse:
    return BoltResponse(
        status=200,
        body=json.dumps({"response_type": "ephemeral", "text": text}),
        headers={"content-type": "application/json"},
    )


HandlerFn = Callable[[Ctx], Awaitable[None]]


# Slack gives up on an ack after 3 s: past this, the wrapper acks whatever the handler is doing (saying so when
# the change is not recorded yet).
ACK_DEADLINE = 2.5
_running: set[asyncio.Task[None]] = set()  # handlers that go on after their ack (kept from the GC)


async def drain(seconds: float) -> int:
    """Wait up to `seconds` for the handlers still running (past their ack) to finish; how many did not.

    Those are cancelled rather than left to fail on a closed pool (and answer as if nothing was stored): what
    they committed stays, and durable work they had claimed resumes on another replica when its lease ends."""
    pending = {t for t in _running if not t.done()}
    if pending and seconds > 0:
        _, pending = await asyncio.wait(pending, timeout=seconds)
    if pending:
        logger.warning("handlers still running at shutdown: cancelled", handlers=len(pending))
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=1.0)
    return len(pending)


def _wrap(services: Services, handler: HandlerFn, usage_of: str | None) -> Callable[..., Awaitable[None]]:
    """The listener Bolt calls. Bolt runs it to completion before it sends the HTTP answer
    (process_before_response), so it returns as soon as the ack may go: the handler has acked, or the request's
    change has committed (then it acks here, empty, unless the handler answered first). The ack goes out at once,
    not at Bolt's next 10 ms poll, and the handler goes on in its own task."""

    async def listener(ack: Any, body: dict[str, Any], context: Any, respond: Any = None) -> None:
        kind, name = classify(body)
        ctx = Ctx(services, body, kind, name, context.get("request_id", "-"), ack, respond)
        ctx.acked_signal = acked = asyncio.get_running_loop().create_future()
        ctx.claimed = bool(context.get("claimed"))
        if kind == "event":
            await ctx.ack()  # Slack only needs the event received: the work may take its time
        task = asyncio.ensure_future(_handle(services, handler, usage_of, ctx))
        _running.add(task)
        task.add_done_callback(_running.discard)
        task.add_done_callback(lambda _: None if acked.done() else acked.set_result(None))
        try:
            async with asyncio.timeout(ACK_DEADLINE):
                await asyncio.shield(acked)
        except TimeoutError:
            logger.warning(
                "handler did not ack in time", seconds=ACK_DEADLINE, claimed=ctx.claimed, committed=ctx.is_committed
            )
            await ctx.ack_overdue()
        else:
            await ctx.ack()  # its change is stored (else the handler has acked, and this does nothing)
        started = context.get("started")
        if started is not None:
            services.metrics.latency.labels(kind, name).observe(time.perf_counter() - started)

    listener.__name__ = getattr(handler, "__name__", "listener")
    return listener


async def _handle(services: Services, handler: HandlerFn, usage_of: str | None, ctx: Ctx) -> None:
    """One request's handler: its errors answered as the error table says, then its log line, metrics and audit.

    Every commit made while it runs (in this task or those it starts) tells the Ctx (bot/db.py `on_commit`)."""
    started = time.perf_counter()
    listening = on_commit.set(ctx.committed)
    try:
        await handler(ctx)
        await ctx.ack()
    except Exception as exc:
        answer = answer_for(exc, committed=ctx.is_committed)
        if answer is None:  # a bug
            ctx.outcome = "error"
            logger.exception("handler failed", error=repr(exc), committed=ctx.is_committed)
            if ctx.is_committed:
                text = (
                    f"Recorded, but something went wrong after that (request `{ctx.request_id}`). "
                    "Check before doing it again; the team can find the details in the bot's log."
                )
            else:
                text = (
                    f"Something went wrong and it may not have been done (request `{ctx.request_id}`). "
                    "Check before trying again; the team can find the details in the bot's log."
                )
        else:  # an error a user can cause, or an outage: answered as the table says
            ctx.outcome = answer.outcome
            if isinstance(exc, Refused) and exc.rule:
                ctx.audit_detail["rule"] = exc.rule
            text = answer_text(exc, answer, usage(usage_of) if usage_of else None)
        await _safe_answer(ctx, text)
    finally:
        ctx.handling = False
        on_commit.reset(listening)  # the audit writer's task, started below, is not this request's
        await _handled(services, ctx, started)


async def _handled(services: Services, ctx: Ctx, started: float) -> None:
    logger.info(
        "handled",
        outcome=ctx.outcome,
        user=ctx.user_id or None,
        channel=ctx.channel_id,
        ms=round((time.perf_counter() - started) * 1000),
    )
    services.metrics.requests.labels(ctx.kind, ctx.name, ctx.outcome).inc()
    detail = dict(ctx.audit_detail)
    if ctx.kind == "command":
        detail.setdefault("text", ctx.text[:500])
    elif ctx.kind == "action":
        detail.setdefault("value", (ctx.action.value or ",".join(ctx.action.selected))[:500])
    await _audit(
        services,
        kind=ctx.kind,
        action=ctx.name,
        outcome=ctx.outcome,
        actor=ctx.user_id or None,
        channel=ctx.channel_id,
        detail=detail,
        request_id=ctx.request_id,
    )


async def _safe_answer(ctx: Ctx, text: str) -> None:
    try:
        await ctx.answer(text)
    except Exception as exc:  # the answer itself failed (Slack down): the log is all that is left
        logger.error("could not answer the user", error=repr(exc))


async def _audit(services: Services, **row: Unpack[audit.Row]) -> None:
    """The request's audit row: to the background writer when there is one (no round trip on the request)."""
    if services.audit_writer is not None:
        services.audit_writer.add(**row)
    else:
        await audit.record(services.db, **row)


def command(app: AsyncApp, services: Services, name: str | re.Pattern[str]) -> Callable[[HandlerFn], HandlerFn]:
    def decorator(fn: HandlerFn) -> HandlerFn:
        app.command(name)(_wrap(services, fn, name if isinstance(name, str) else None))
        if isinstance(name, str):
            services.commands.add(name)
        return fn

    return decorator


def action(app: AsyncApp, services: Services, action_id: str | re.Pattern[str], *, usage_of: str | None = None):
    def decorator(fn: HandlerFn) -> HandlerFn:
        app.action(action_id)(_wrap(services, fn, usage_of))
        return fn

    return decorator


def view(app: AsyncApp, services: Services, callback_id: str, *, usage_of: str | None = None):
    def decorator(fn: HandlerFn) -> HandlerFn:
        app.view(callback_id)(_wrap(services, fn, usage_of))
        return fn

    return decorator


def shortcut(app: AsyncApp, services: Services, callback_id: str):
    """A global or message shortcut (manifest.yml `shortcuts`)."""

    def decorator(fn: HandlerFn) -> HandlerFn:
        app.shortcut(callback_id)(_wrap(services, fn, None))
        return fn

    return decorator


def event(app: AsyncApp, services: Services, event_type: str | re.Pattern[str]):
    def decorator(fn: HandlerFn) -> HandlerFn:
        app.event(event_type)(_wrap(services, fn, None))
        return fn

    return decorator


@dataclass(frozen=True)
class Route:
    """One line of a domain's routing table (its handlers.py ROUTES): what Slack sends -> the handler.
    `kind`: command (a slash command's name), action (an action_id), view (a form's callback_id), shortcut (a
    shortcut's callback_id) or event (an Events API type). `usage_of`: the command whose usage a wrong use of
    this action or form is answered with."""

    kind: Literal["command", "action", "view", "shortcut", "event"]
    id: str | re.Pattern[str]
    handler: HandlerFn
    usage_of: str | None = None


def mount(app: AsyncApp, services: Services, routes: Iterable[Route]) -> None:
    """Register a routing table with Bolt, each listener wrapped as every listener is (ack, audit, errors)."""
    for route in routes:
        match route.kind:
            case "command":
                command(app, services, route.id)(route.handler)
            case "action":
                action(app, services, route.id, usage_of=route.usage_of)(route.handler)
            case "view":
                assert isinstance(route.id, str)
                view(app, services, route.id, usage_of=route.usage_of)(route.handler)
            case "shortcut":
                assert isinstance(route.id, str)
                shortcut(app, services, route.id)(route.handler)
            case "event":
                event(app, services, route.id)(route.handler)
