"""The demo's Slack: bot/fakeslack.py's fake Web API (its limits and channel rules, refused as Slack refuses them)
that also keeps what a person would see: each channel's messages as posted and edited, the ephemeral answers of
each person, each person's open modals (a stack of three at most) and Home tab.

Triggers and response_urls are the stand-in's own: a trigger_id is handed out with each command or click, is good
for one views.open/views.push within 3 s (as Slack's), and names the person the modal opens for; a response_url is
handed out with each command or click and knows whose answer it carries and where.
"""

from __future__ import annotations

import copy
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.demo import wire
from bot.fakeslack import FakeSlack

BOT_USER = "U0BOT"
TRIGGER_SECONDS = 3.0  # Slack's: a trigger_id is good for 3 s
PUSH_LIMIT = 3  # views.push: at most three views in a stack


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    attachments: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    user: str = BOT_USER
    edited: bool = False
    at: float = field(default_factory=time.time)  # when it was posted (ts is the fake's counter)


@dataclass
class Ephemeral:
    id: str
    user: str
    channel: str
    text: str
    blocks: list[dict[str, Any]]
    ts: str = ""  # when it was shown (Slack's ts form), to place it among the channel's messages
    response_url: str | None = None  # a click on it carries this one, which can replace it


@dataclass
class Modal:
    id: str
    user: str
    view: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)  # block_id -> the bot's `response_action: errors`
    typed: dict[str, Any] = field(default_factory=dict)  # what the person had filled in, kept across an error


@dataclass
class Answering:
    """What a response_url answers: whose request, in which channel, about which message (if a click)."""

    user: str
    channel: str
    message_ts: str | None = None
    ephemeral: str | None = None


def with_ids(blocks: Any, prefix: str) -> list[dict[str, Any]]:
    """The blocks as Slack keeps them: a block without block_id, an element without action_id, gets one."""
    out = copy.deepcopy(blocks) if isinstance(blocks, list) else []
    for b, block in enumerate(out):
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", f"{prefix}{b}")
        elements = [block.get("accessory"), block.get("element"), *(block.get("elements") or [])]
        for e, element in enumerate(elements):
            if isinstance(element, dict) and "type" in element and element["type"] not in _TEXT_TYPES:
                element.setdefault("action_id", f"{prefix}{b}.{e}")
    return out


_TEXT_TYPES = frozenset({"mrkdwn", "plain_text", "image"})


class StandIn(FakeSlack):
    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Message]] = {}
        self.ephemerals: list[Ephemeral] = []
        self.modals: dict[str, list[Modal]] = {}
        self.homes: dict[str, dict[str, Any]] = {}
        self.triggers: dict[str, tuple[str, float]] = {}  # trigger_id -> (user, issued at)
        self.answering: dict[str, Answering] = {}  # response_url name -> what it answers
        self.spent_triggers: set[str] = set()
        self.version = 0  # bumped by every change a person could see (the page's live refresh)
        self._names = itertools.count(1)

    # -- what the page hands out --------------------------------------------------------------------------------

    def new_trigger(self, user: str) -> str:
        trigger = wire.trigger_id()
        self.triggers[trigger] = (user, time.monotonic())
        return trigger

    def new_response_url(self, answering: Answering) -> str:
        name = f"demo-{next(self._names)}"
        self.answering[name] = answering
        return self.response_url(name)

    def find(self, channel: str, ts: str) -> Message | None:
        return next((m for m in self.history.get(channel, []) if m.ts == ts), None)

    def find_ephemeral(self, ephemeral_id: str) -> Ephemeral | None:
        return next((e for e in self.ephemerals if e.id == ephemeral_id), None)

    def find_view(self, view_id: str) -> tuple[Modal | None, dict[str, Any] | None]:
        """An open modal, or a Home tab (as a view dict), by its id."""
        for stack in self.modals.values():
            for modal in stack:
                if modal.id == view_id:
                    return modal, modal.view
        for view in self.homes.values():
            if view.get("id") == view_id:
                return None, view
        return None, None

    def ephemeral(self, user: str, channel: str, text: str, blocks: Any, response_url: str | None = None) -> None:
        eph = Ephemeral(
            f"E{next(self._ids):08d}", user, channel, text, with_ids(blocks, "e"), self._next_ts(), response_url
        )
        self.ephemerals.append(eph)
        self._changed()

    def post_as(self, user: str, channel: str, text: str, blocks: Any = None) -> Message:
        """A message in a channel by someone (an in_channel answer is the bot's; this is for the page's own)."""
        message = Message(channel, self._next_ts(), text, with_ids(blocks, "m"), user=user)
        self.history.setdefault(channel, []).append(message)
        self._changed()
        return message

    def _changed(self) -> None:
        self.version += 1

    # -- Web API methods: the fake's answers, kept as a person would see them -----------------------------------

    def m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        answer = super().m_chat_postMessage(args)
        channel, ts = answer["channel"], answer["ts"]
        thread = args.get("thread_ts")
        message = Message(
            channel,
            ts,
            str(args.get("text") or ""),
            with_ids(args.get("blocks"), "m"),
            list(args.get("attachments") or []) if isinstance(args.get("attachments"), list) else [],
            str(thread) if thread else None,
        )
        self.history.setdefault(channel, []).append(message)
        self._changed()
        return answer

    def m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.find(str(args.get("channel")), str(args.get("ts")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if args.get("text") is not None:
            message.text = str(args["text"])
        if args.get("blocks") is not None:  # Slack keeps the old blocks when none are given
            message.blocks = with_ids(args["blocks"], "m")
        if isinstance(args.get("attachments"), list):
            message.attachments = args["attachments"]
        message.edited = True
        self._changed()
        return super().m_chat_update(args)

    def m_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel"))
        message = self.find(channel, str(args.get("ts")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        self.history[channel].remove(message)
        self._changed()
        return {"ok": True, "channel": channel, "ts": message.ts}

    def m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user") or "")
        if user not in self.users:
            return {"ok": False, "error": "user_not_found"}
        channel = self._resolve("chat.postEphemeral", args.get("channel")) or ""
        self.ephemeral(user, channel, str(args.get("text") or ""), args.get("blocks"))
        return super().m_chat_postEphemeral(args)

    def _exchange(self, trigger: Any) -> tuple[str | None, str | None]:
        """(user, None) for a good trigger_id, used up; (None, Slack's error) otherwise."""
        found = self.triggers.pop(str(trigger or ""), None)
        if found is None:
            return None, "exchanged_trigger_id" if trigger in self.spent_triggers else "invalid_trigger_id"
        self.spent_triggers.add(str(trigger))
        user, issued = found
        if time.monotonic() - issued > TRIGGER_SECONDS:
            return None, "expired_trigger_id"
        return user, None

    def _modal(self, user: str, view: dict[str, Any], view_id: str | None = None) -> Modal:
        view_id = view_id or f"V{next(self._ids):08d}"
        shown = {**copy.deepcopy(view), "id": view_id, "blocks": with_ids(view.get("blocks"), "v")}
        return Modal(view_id, user, shown)

    def m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        user, error = self._exchange(args.get("trigger_id"))
        if user is None:
            return {"ok": False, "error": error}
        modal = self._modal(user, args.get("view") or {})
        self.modals[user] = [modal]
        self._changed()
        return {"ok": True, "view": modal.view}

    def m_views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        user, error = self._exchange(args.get("trigger_id"))
        if user is None:
            return {"ok": False, "error": error}
        stack = self.modals.get(user) or []
        if not stack:
            return {"ok": False, "error": "not_found"}
        if len(stack) >= PUSH_LIMIT:
            return {"ok": False, "error": "push_limit_reached"}
        modal = self._modal(user, args.get("view") or {})
        stack.append(modal)
        self._changed()
        return {"ok": True, "view": modal.view}

    def m_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external = args.get("view_id"), args.get("external_id")
        for stack in self.modals.values():
            for i, modal in enumerate(stack):
                if modal.id == view_id or (external and modal.view.get("external_id") == external):
                    stack[i] = self._modal(modal.user, args.get("view") or {}, modal.id)
                    self._changed()
                    return {"ok": True, "view": stack[i].view}
        return {"ok": False, "error": "not_found"}

    def m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        answer = super().m_views_publish(args)
        if answer.get("ok"):
            view = {**answer["view"], "blocks": with_ids((args.get("view") or {}).get("blocks"), "h")}
            self.homes[str(args["user_id"])] = view
            self._changed()
        return answer

    def open_view_answer(self, user: str, modal: Modal, answer: dict[str, Any]) -> None:
        """The bot's answer to a view_submission: close (nothing), errors, update, push or clear."""
        stack = self.modals.get(user) or []
        action = answer.get("response_action")
        if action == "errors":
            modal.errors = {str(k): str(v) for k, v in (answer.get("errors") or {}).items()}
        elif action == "update":
            if modal in stack:
                stack[stack.index(modal)] = self._modal(user, answer.get("view") or {}, modal.id)
        elif action == "push" and len(stack) < PUSH_LIMIT:
            stack.append(self._modal(user, answer.get("view") or {}))
        elif action == "clear":
            stack.clear()
        elif modal in stack:
            stack.remove(modal)
        self._changed()

    def close_view(self, user: str, modal: Modal) -> None:
        stack = self.modals.get(user) or []
        if modal in stack:
            stack.remove(modal)
        self._changed()

    # -- response_url: as Slack applies what the bot sends to it -------------------------------------------------

    async def _response_url(self, request: web.Request) -> web.Response:
        answer = await super()._response_url(request)
        answering = self.answering.get(request.match_info["name"])
        if answer.status == 200 and answering is not None:
            self.respond(answering, await self._read(request), request.match_info["name"])
        return answer

    def respond(self, answering: Answering, args: dict[str, Any], name: str | None = None) -> None:
        """A message sent to a response_url (or in an ack): in the channel, replacing or deleting the message
        clicked, or an ephemeral answer to the person."""
        url = self.response_url(name) if name else None
        if args.get("delete_original") in (True, "true"):
            self._delete_original(answering)
            return
        text, blocks = str(args.get("text") or ""), args.get("blocks")
        replace = args.get("replace_original") in (True, "true")
        if replace and answering.ephemeral is not None:
            eph = self.find_ephemeral(answering.ephemeral)
            if eph is not None:
                eph.text, eph.blocks = text, with_ids(blocks, "e")
                self._changed()
                return
        if replace and answering.message_ts is not None:
            message = self.find(answering.channel, answering.message_ts)
            if message is not None:
                message.text, message.blocks, message.edited = text, with_ids(blocks, "m"), True
                self._changed()
                return
        if args.get("response_type") == "in_channel":
            thread = args.get("thread_ts")
            message = Message(answering.channel, self._next_ts(), text, with_ids(blocks, "m"))
            message.thread_ts = str(thread) if thread else None
            self.history.setdefault(answering.channel, []).append(message)
            self._changed()
            return
        self.ephemeral(answering.user, answering.channel, text, blocks, url)

    def _delete_original(self, answering: Answering) -> None:
        if answering.ephemeral is not None:
            eph = self.find_ephemeral(answering.ephemeral)
            if eph is not None:
                self.ephemerals.remove(eph)
        elif answering.message_ts is not None:
            message = self.find(answering.channel, answering.message_ts)
            if message is not None:
                self.history[answering.channel].remove(message)
        self._changed()
