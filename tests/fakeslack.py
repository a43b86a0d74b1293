"""A fake Slack Web API served over real HTTP: records every call, can fail on demand.

The bot's SlackClient talks to it through SLACK_API_URL exactly as it talks to slack.com: same paths,
same JSON or form bodies, same Authorization header. It also serves response_url endpoints.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str | None = None
    peer: tuple[str, int] | None = None  # the client's address: one per TCP connection


@dataclass
class Failure:
    status: int = 200
    error: str | None = None  # ok: false with this error (HTTP 200)
    retry_after: int | None = None
    delay: float = 0.0  # seconds to sleep before answering (a timeout, if longer than the client's)


@dataclass
class User:
    id: str
    name: str
    tz: str = "UTC"
    email: str | None = None
    deleted: bool = False


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.failures: dict[str, list[Failure]] = {}
        self.users: dict[str, User] = {}
        self.channels: dict[str, dict[str, Any]] = {}  # id -> channel
        self.usergroups: dict[str, list[str]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.sockets: list[web.WebSocketResponse] = []  # Socket Mode connections from the bot
        self.socket_replies: list[dict[str, Any]] = []  # what the bot acknowledged over them
        self.url = ""
        self.base = ""

    # -- set-up used by tests ---------------------------------------------------------------------

    def add_user(self, user_id: str, name: str | None = None, *, tz: str = "UTC", email: str | None = None) -> None:
        self.users[user_id] = User(user_id, name or user_id.lower(), tz, email)

    def fail(self, method: str, *, times: int = 1, **failure: Any) -> None:
        self.failures.setdefault(method, []).extend(Failure(**failure) for _ in range(times))

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.method == method]

    def response_url(self, name: str = "r") -> str:
        return f"{self.base}/response/{name}"

    def texts(self, method: str = "chat.postMessage") -> list[str]:
        """Every text a method was called with, blocks flattened in (for assertions on what people saw)."""
        return [_flatten(c) for c in self.calls_to(method)]

    def connections(self, method: str) -> set[tuple[str, int] | None]:
        """The distinct TCP connections a method was called over (keep-alive reuses one)."""
        return {c.peer for c in self.calls if c.method == method}

    def clear(self) -> None:
        self.calls.clear()

    # -- server ------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response_url)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/api/"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _read(self, request: web.Request) -> dict[str, Any]:
        raw = await request.text()
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json" and raw:
            args.update(json.loads(raw))
        elif raw:
            args.update(dict(parse_qsl(raw, keep_blank_values=True)))
        for key in ("blocks", "view", "attachments"):
            if isinstance(args.get(key), str):
                try:
                    args[key] = json.loads(args[key])
                except ValueError:
                    pass
        return args

    async def _response_url(self, request: web.Request) -> web.Response:
        args = await self._read(request)
        args["_response_url"] = request.match_info["name"]
        self.calls.append(Call("response_url", args, peer=_peer(request)))
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._read(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ") or args.pop("token", None)
        self.calls.append(Call(method, args, token, _peer(request)))
        queue = self.failures.get(method)
        if queue:
            failure = queue.pop(0)
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.status != 200:
                headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
                return web.json_response({"ok": False, "error": "fake_failure"}, status=failure.status, headers=headers)
            if failure.error:
                return web.json_response({"ok": False, "error": failure.error})
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(handler(args))

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0ZZIK"}})
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self.socket_replies.append(json.loads(message.data))
        return ws

    async def socket_send(self, envelope: dict[str, Any]) -> None:
        """Deliver an envelope to the bot over Socket Mode, as Slack does."""
        await self.sockets[-1].send_json(envelope)

    # -- Web API methods ----------------------------------------------------------------------------

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": self.base.replace("http://", "ws://") + "/socket"}

    def m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://zzik.slack.com/",
            "team": "ZZIK",
            "user": "zzik-bot",
            "team_id": "T0ZZIK",
            "user_id": "U0BOT",
            "bot_id": "B0BOT",
        }

    def m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        return {
            "ok": True,
            "channel": args.get("channel"),
            "ts": ts,
            "message": {"text": args.get("text"), "ts": ts, "blocks": args.get("blocks")},
        }

    def m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts"), "text": args.get("text")}

    def m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def m_chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "permalink": f"https://zzik.slack.com/archives/{args.get('channel')}/p{args.get('message_ts')}",
        }

    def m_conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args.get("name", ""))
        if not name or len(name) > 80 or name != name.lower() or any(c in name for c in " .,!?#@'\""):
            return {"ok": False, "error": "invalid_name_specials"}
        if any(c["name"] == name for c in self.channels.values()):
            return {"ok": False, "error": "name_taken"}
        channel = {"id": f"C{next(self._ids):08d}", "name": name, "members": []}
        self.channels[channel["id"]] = channel
        return {"ok": True, "channel": channel}

    def m_conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(str(args.get("channel")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        users = [u for u in str(args.get("users", "")).split(",") if u]
        channel["members"].extend(u for u in users if u not in channel["members"])
        return {"ok": True, "channel": channel}

    def m_conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": {"id": args.get("channel")}}

    def m_conversations_setTopic(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "topic": args.get("topic")}

    def m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": {"id": "D" + str(args.get("users", "")).split(",")[0]}}

    def m_pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True}

    def m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": {"id": f"V{next(self._ids):08d}", **(args.get("view") or {})}}

    def m_views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "view": {"id": args.get("view_id"), **(args.get("view") or {})}}

    def m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": _user_json(user)}

    def m_users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email", "")).lower()
        user = next((u for u in self.users.values() if (u.email or "").lower() == email), None)
        if user is None:
            return {"ok": False, "error": "users_not_found"}
        return {"ok": True, "user": _user_json(user)}

    def m_usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup"))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": self.usergroups[group]}

    def m_usergroups_users_update(self, args: dict[str, Any]) -> dict[str, Any]:
        group = str(args.get("usergroup"))
        users = args.get("users")
        self.usergroups[group] = users.split(",") if isinstance(users, str) else list(users or [])
        return {"ok": True, "usergroup": {"id": group, "users": self.usergroups[group]}}


def _peer(request: web.Request) -> tuple[str, int] | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return (peer[0], peer[1]) if peer else None


def _user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "real_name": user.name.title(),
        "deleted": user.deleted,
        "tz": user.tz,
        "profile": {"email": user.email, "real_name": user.name.title()},
    }


def _flatten(args: dict[str, Any]) -> str:
    parts = [str(args.get("text") or "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    parts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(args.get("blocks") or [])
    return "\n".join(p for p in parts if p)
