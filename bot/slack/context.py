"""One Slack request as a domain handler sees it (`Ctx`), and how it answers the person who asked.

An answer goes in the ack when it is ready in time (`answer`, `answer_soon`, `in_channel`), else through
response_url over the pooled session, else (an expired or spent response_url, blocks refused) as an ephemeral
message in the channel or a DM. The answer that reached nobody is counted and audited, never raised.

Nothing acknowledged is lost: a request that may change something is acked once its change has committed
(`committed()`, called by bot/db.py for every commit made while its handler runs), when its handler is done, or,
past the ack budget, with an ack that says the change is not recorded yet (`ack_overdue`).

Which answer a handler uses (one rule; the kind of request decides, never taste):
- A read (help, a list, a status: what bot/slack/commands.py `Command.reads` names, so no delivery claim) whose
  answer needs the database or the network → `answer_soon(flows.x(...))`: in the ack when it is ready within the
  ack budget, else an empty ack at once and the answer through response_url. Never `await` such work and then
  `answer`: past 3 s Slack shows the user an error.
- A change from a slash command (claimed before its handler runs) → `answer_change(flows.y(...))`: a refusal or bad
  input raised within the budget is answered in the ack; otherwise the ack goes once the change commits, and the
  answer through response_url. The answer never says "done" before the commit, and never "nothing was done" after.
- A change whose outcome the channel should see (the incident channel's subcommands) → `in_channel(...)` with the
  change's outcome, once the flow has returned (the commit has acked the request).
- Anything already in hand — usage, a parse error, a button's or a form's result once its flow has returned (a
  click's ack carries no text, so `answer_soon`/`answer_change` buy nothing there) → `answer(text, blocks)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from bot import log
from bot.errors import STILL_WORKING
from bot.services import Services
from bot.slack import payloads
from bot.slack.text import from_slack

logger = log.get("zzik.slack")


def actor_of(body: dict[str, Any]) -> str | None:
    return body.get("user_id") or (body.get("user") or {}).get("id") or (body.get("event") or {}).get("user")


def channel_of(body: dict[str, Any]) -> str | None:
    return (
        body.get("channel_id")
        or (body.get("channel") or {}).get("id")
        or (body.get("container") or {}).get("channel_id")
        or (body.get("event") or {}).get("channel")
    )


@dataclass
class Ctx:
    """One Slack request as a domain handler sees it."""

    services: Services
    body: dict[str, Any]
    kind: str
    name: str
    request_id: str
    _ack: Any
    _respond: Any
    acked: bool = False
    outcome: str = "ok"
    audit_detail: dict[str, Any] = field(default_factory=dict)
    # Set once the ack may go: it has gone to Bolt, or the request's change has committed. The listener then
    # acks (if the handler has not) and returns, and Bolt sends the ack to Slack.
    acked_signal: asyncio.Future[None] | None = None
    # The request may change something (its delivery was claimed): an ack before its commit must say so.
    claimed: bool = False
    # A change of this request is stored: from here no answer may say that nothing was done.
    is_committed: bool = False
    # The handler is still running: commits made later by tasks it left behind are not this request's.
    handling: bool = True
    _notice: asyncio.Task[None] | None = None  # "still working", sent before any later answer of a click

    def committed(self) -> None:
        """A transaction of this request has committed: its change is stored, so the ack may go now."""
        if not self.handling:
            return
        self.is_committed = True
        if self.acked_signal is not None and not self.acked_signal.done():
            self.acked_signal.set_result(None)

    @property
    def user_id(self) -> str:
        return str(actor_of(self.body) or "")

    @property
    def channel_id(self) -> str | None:
        return channel_of(self.body)

    @property
    def text(self) -> str:
        """A command's text as safe mrkdwn: Slack sends it encoded (mentions and links kept, broadcasts defused)."""
        return from_slack(str(self.body.get("text") or "").strip())

    @property
    def trigger_id(self) -> str | None:
        return self.body.get("trigger_id")

    @property
    def action(self) -> payloads.BlockAction:
        return payloads.block_action(self.body)

    @property
    def state(self) -> payloads.State:
        """The interactive elements of the message a button was clicked in (radio buttons beside it)."""
        return payloads.message_state(self.body)

    @property
    def view(self) -> payloads.View:
        return payloads.view(self.body)

    async def ack(self, **kwargs: Any) -> None:
        if not self.acked:
            self.acked = True
            try:
                await self._ack(**kwargs)
            finally:
                if self.acked_signal is not None and not self.acked_signal.done():
                    self.acked_signal.set_result(None)

    async def ack_overdue(self) -> None:
        """The ack budget is spent and the handler goes on. An empty ack when nothing is at stake (a read, or a
        change already stored); else one that says honestly that the change is not recorded yet. The work then
        either commits and answers so, or fails and says nothing was done: never both."""
        if self.acked:
            return
        if not self.claimed or self.is_committed:
            await self.ack()
        elif self.kind == "command":
            await self.ack(text=STILL_WORKING, response_type="ephemeral")
        else:  # a click's or a form's ack carries no text: said through response_url (or a DM), before the answer
            await self.ack()
            self._notice = asyncio.ensure_future(self._say(STILL_WORKING, None, public=False))

    async def answer(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """An ephemeral answer to the person who asked: in the ack if not yet sent, else via response_url,
        else (an expired or spent response_url, blocks refused) an ephemeral message or a DM. Never raises."""
        await self._say(text, blocks, public=False)

    async def answer_soon(self, work: Awaitable[Any], text: str | None = None) -> None:
        """Answer with what `work` gives (text, (text, blocks), or blocks under `text`): inside the ack when it is
        ready within the ack budget, else ack at once and answer through response_url when it is.

        The work is never cancelled; an error it raises within the budget is answered in the ack, later ones
        through response_url, as any handler error is.
        """
        task = asyncio.ensure_future(work)
        if not self.acked and self.kind == "command":
            await asyncio.wait({task}, timeout=self.services.settings.zzik_ack_budget_seconds)
        if not task.done():
            await self.ack()
        result = await task
        if text is not None:
            await self.answer(text, result)
        elif isinstance(result, tuple):
            await self.answer(*result)
        else:
            await self.answer(result)

    async def answer_change(self, work: Awaitable[Any]) -> None:
        """A command that changes something (claimed before its handler ran): a refusal or bad input the work
        raises within the ack budget is answered in the ack itself; its answer (text, or (text, blocks)) goes
        through response_url as ever, after an empty ack as soon as the change commits or the work is done (past
        ACK_DEADLINE with nothing committed, an ack that says the change is not recorded yet).

        The work is never cancelled; an error it raises later is answered through response_url."""
        task = asyncio.ensure_future(work)
        if not self.acked and self.kind == "command":
            await asyncio.wait({task}, timeout=self.services.settings.zzik_ack_budget_seconds)
        if task.done() and (task.cancelled() or task.exception() is None):
            await self.ack()
        # Still going: the listener acks once the change commits, or past Slack's wait saying it is not recorded yet.
        result = await task  # an error raised within the budget reaches the wrapper before the ack: in the ack
        if isinstance(result, tuple):
            await self.answer(*result)
        elif result:
            await self.answer(result)

    async def in_channel(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """A public answer in the channel the command was typed in (with the same fallbacks as `answer`)."""
        await self._say(text, blocks, public=True)

    async def _say(self, text: str, blocks: list[dict[str, Any]] | None, *, public: bool) -> None:
        notice = self._notice
        if notice is not None and notice is not asyncio.current_task():
            await asyncio.wait({notice})  # "still working" comes before the answer, never after it
        response_type = "in_channel" if public else "ephemeral"
        if not self.acked and self.kind == "command":
            await self.ack(text=text, blocks=blocks, response_type=response_type)
            return
        await self.ack()
        if await self._respond_checked(text=text, blocks=blocks, response_type=response_type):
            return
        await self._fallback(text, blocks, public=public)

    async def _respond_checked(self, **message: Any) -> bool:
        """Answer through response_url and read Slack's verdict (Bolt's respond() returns it, never raises it)."""
        if self._respond is None or not self.body.get("response_url"):
            return False
        try:
            response = await self._respond(replace_original=False, **message)
        except Exception as exc:
            why = repr(exc)
        else:
            if response.status_code == 200:
                return True
            why = f"HTTP {response.status_code} {str(response.body)[:200]}"
        logger.warning("response_url answer refused", why=why)
        self.audit_detail["response_url"] = why
        return False

    async def _fallback(self, text: str, blocks: list[dict[str, Any]] | None, *, public: bool) -> None:
        """Where response_url cannot carry the answer: ephemeral (or public) in the channel, else a DM in text."""
        slack = self.services.slack
        tries: list[tuple[str, Any]] = []
        if self.channel_id and self.user_id:
            if public:
                tries.append(
                    ("channel", lambda b: slack.chat_postMessage(channel=self.channel_id, text=text, blocks=b))
                )
            else:
                tries.append(
                    (
                        "ephemeral",
                        lambda b: slack.chat_postEphemeral(
                            channel=self.channel_id, user=self.user_id, text=text, blocks=b
                        ),
                    )
                )
        if self.user_id:
            tries.append(("dm", lambda b: slack.chat_postMessage(channel=self.user_id, text=text, blocks=b)))
        via_response_url = "response_url" in self.audit_detail
        for route, send in tries:
            for with_blocks in [blocks, None] if blocks else [None]:
                try:
                    await send(with_blocks)
                except Exception as exc:
                    logger.warning("answer not delivered", route=route, error=repr(exc))
                    continue
                if via_response_url:
                    self._answer_outcome("answer_fallback", route)
                return
        self._answer_outcome("answer_lost", "none")
        logger.error("the answer reached nobody", text=text[:200])

    def _answer_outcome(self, outcome: str, route: str) -> None:
        self.services.metrics.answer_fallbacks.labels(self.kind, self.name, route).inc()
        self.audit_detail["answered_via"] = route
        if self.outcome == "ok":
            self.outcome = outcome
