"""A fake Slack Web API served over real HTTP: records every call, can fail on demand, refuses what Slack refuses.

Shared by the tests and `zzik-bot demo` (one fake, not two).

The bot's SlackClient talks to it through SLACK_API_URL exactly as it talks to slack.com: same paths,
same JSON or form bodies, same Authorization header. It also serves response_url endpoints.

As strict as Slack about channels: `chat.postMessage` (and `chat.postEphemeral`) accept a channel's name and
answer with its id; every other method given a name (`chat.update`, `pins.add`, `conversations.*` …) fails with
`channel_not_found`, as does `chat.update` given a user id instead of the DM's id. The workspace has the
manual's channels (WORKSPACE_CHANNELS); `add_channel()` adds others.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import Callable
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
    channel: str | None = None  # only calls to this channel fail (e.g. a DM to one user)


# The channels the workspace has from the start (the manual's), by name, with the ids Slack gave them.
WORKSPACE_CHANNELS = {
    "zzik-alerts": "C0ALERTS",
    "zzik-deployments": "C0DEPLOYS",
    "zzik-incidents": "C0INCIDENTS",
    "zzik-dev": "C0DEV",
    "zzik-support": "C0SUPPORT",
}
# Methods that take a channel's name as well as its id (Slack's reference: "an encoded ID, or a name").
TAKE_NAMES = frozenset({"chat.postMessage", "chat.postEphemeral", "chat.scheduleMessage"})
# Slack's ids: channels C…, private channels G…, DMs D…; users U… or W… (a user id posts to the DM).
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]+")
_USER_ID = re.compile(r"[UW][A-Z0-9]+")


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
        for name, channel_id in WORKSPACE_CHANNELS.items():
            self.add_channel(name, channel_id)
        self.usergroups: dict[str, list[str]] = {}
        self.response_url_uses: dict[str, int] = {}
        self.refused: list[tuple[str, list[str]]] = []  # (method, why) of every payload refused as invalid
        # (method, channel) of every call refused because it named a channel (or a user) where Slack needs an id
        self.by_name: list[tuple[str, str]] = []
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.sockets: list[web.WebSocketResponse] = []  # Socket Mode connections from the bot
        self.socket_replies: list[dict[str, Any]] = []  # what the bot acknowledged over them
        self.url = ""
        self.base = ""
        self.latency = 0.0  # seconds every Web API call takes (a slow Slack)
        # files.uploadV2: file id -> {"filename", "length", "content" (bytes, once uploaded), "shared" (channels)}
        self.files: dict[str, dict[str, Any]] = {}
        # The messages of the workspace by (channel id, ts): the bot's posts and those tests post as users
        # (`post_message`), for the methods that read a message (reactions.get).
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}

    # -- set-up used by tests ---------------------------------------------------------------------

    def add_user(self, user_id: str, name: str | None = None, *, tz: str = "UTC", email: str | None = None) -> None:
        self.users[user_id] = User(user_id, name or user_id.lower(), tz, email)

    def add_channel(self, name: str, channel_id: str | None = None) -> str:
        """A channel the workspace has (`#name` or `name`); returns its id."""
        channel_id = channel_id or f"C{next(self._ids):08d}"
        self.channels[channel_id] = {"id": channel_id, "name": name.removeprefix("#"), "members": []}
        return channel_id

    def channel_id(self, channel: str) -> str:
        """The id of a channel the workspace has, by name (`#zzik-alerts` or `zzik-alerts`; an id is its own):
        what Slack answers a post to that name with, and what the bot must use for everything after the post."""
        found = channel if _CHANNEL_ID.fullmatch(channel) else self._by_name(channel)
        if found is None:
            raise KeyError(f"no channel named {channel!r} in the fake workspace")
        return found

    def posted_in(self, channel: str) -> list[dict[str, Any]]:
        """The chat.postMessage calls whose message landed in `channel`, whether the bot named it by name or by
        id (a first post may name it, a thread reply or an update must use the id)."""
        where = self._resolve("chat.postMessage", channel)
        return [
            c for c in self.calls_to("chat.postMessage") if self._resolve("chat.postMessage", c.get("channel")) == where
        ]

    def created_channels(self) -> list[dict[str, Any]]:
        """The channels created through conversations.create (not the workspace's own)."""
        return [c for c in self.channels.values() if c["id"] not in WORKSPACE_CHANNELS.values()]

    def _by_name(self, name: str) -> str | None:
        name = name.removeprefix("#")
        return next((c["id"] for c in self.channels.values() if c["name"] == name), None)

    def _resolve(self, method: str, channel: Any) -> str | None:
        """The id a call's `channel` means, as Slack reads it; None when Slack would answer channel_not_found."""
        channel = str(channel)
        if _CHANNEL_ID.fullmatch(channel):
            return channel
        if _USER_ID.fullmatch(channel):
            # A post to a user id lands in the DM and is answered with the DM's id (D…); editing needs that id.
            return "D" + channel if method in TAKE_NAMES else None
        return self._by_name(channel) if method in TAKE_NAMES else None

    def fail(self, method: str, *, times: int = 1, **failure: Any) -> None:
        self.failures.setdefault(method, []).extend(Failure(**failure) for _ in range(times))

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [c.args for c in self.calls if c.method == method]

    def response_url(self, name: str = "r") -> str:
        return f"{self.base}/response/{name}"

    def texts(self, method: str = "chat.postMessage") -> list[str]:
        """Every text a method was called with, blocks flattened in (for assertions on what people saw)."""
        return [flatten(c) for c in self.calls_to(method)]

    def connections(self, method: str) -> set[tuple[str, int] | None]:
        """The distinct TCP connections a method was called over (keep-alive reuses one)."""
        return {c.peer for c in self.calls if c.method == method}

    def placeholders(self) -> list[tuple[str, str]]:
        """(method, `<…>`) for every raw placeholder the bot sent in mrkdwn (Slack shows them as broken links)."""
        return [(c.method, p) for c in self.calls for p in message_placeholders(c.args)]

    def clear(self) -> None:
        self.calls.clear()

    # -- server ------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response_url)
        app.router.add_post("/upload/{file_id}", self._upload)  # files.getUploadURLExternal's upload_url
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
        """Slack's response_url: at most 5 uses, refuses blocks it cannot show, can expire (`fail("response_url")`)."""
        args = await self._read(request)
        name = request.match_info["name"]
        args["_response_url"] = name
        self.calls.append(Call("response_url", args, peer=_peer(request)))
        self.response_url_uses[name] = self.response_url_uses.get(name, 0) + 1
        queue = self.failures.get("response_url")
        if queue:
            failure = queue.pop(0)
            headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            error = failure.error or ("rate_limited" if failure.status == 429 else "expired_url")
            return web.json_response({"ok": False, "error": error}, status=failure.status, headers=headers)
        if self.response_url_uses[name] > 5:
            return web.json_response({"ok": False, "error": "used_url"}, status=404)
        errors = check_message(args)
        if errors:
            self.refused.append(("response_url", errors))
            return web.json_response({"ok": False, "error": "invalid_blocks", "errors": errors}, status=400)
        return web.json_response({"ok": True})

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._read(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ") or args.pop("token", None)
        self.calls.append(Call(method, args, token, _peer(request)))
        if self.latency:
            await asyncio.sleep(self.latency)
        if "channel" in args and self._resolve(method, args["channel"]) is None:
            if method not in TAKE_NAMES:  # (an unknown name given to chat.postMessage is only a missing channel)
                self.by_name.append((method, str(args["channel"])))
            return web.json_response({"ok": False, "error": "channel_not_found"})
        queue = self.failures.get(method)
        failure = next((f for f in queue or [] if f.channel in (None, args.get("channel"))), None)
        if failure is not None and queue is not None:
            queue.remove(failure)
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.status != 200:
                headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
                return web.json_response({"ok": False, "error": "fake_failure"}, status=failure.status, headers=headers)
            if failure.error:
                return web.json_response({"ok": False, "error": failure.error})
        errors = check_view(args.get("view")) if method.startswith("views.") else check_message(args)
        if errors:
            self.refused.append((method, errors))
            error = "msg_too_long" if errors == ["msg_too_long"] else "invalid_blocks"
            return web.json_response({"ok": False, "error": error, "errors": errors})
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
        self._keep("chat.postMessage", args, ts)
        return {
            "ok": True,
            "channel": self._resolve("chat.postMessage", args.get("channel")),
            "ts": ts,
            "message": {"text": args.get("text"), "ts": ts, "blocks": args.get("blocks")},
        }

    def _keep(self, method: str, args: dict[str, Any], ts: str) -> None:
        """A message the bot posted, as Slack keeps it (what reactions.get answers with)."""
        channel = self._resolve(method, args.get("channel"))
        if channel is not None:
            message = {"type": "message", "user": "U0BOT", "bot_id": "B0BOT", "text": args.get("text") or "", "ts": ts}
            if args.get("thread_ts"):
                message["thread_ts"] = str(args["thread_ts"])
            self.messages[(channel, ts)] = message

    def post_message(self, channel: str, user: str, text: str, *, thread_ts: str | None = None, **extra: Any) -> str:
        """A person's message in a channel (as Slack encodes it: `text` is sent as given); returns its ts."""
        ts = self._next_ts()
        message = {"type": "message", "user": user, "text": text, "ts": ts, **extra}
        if thread_ts:
            message["thread_ts"] = thread_ts
        self.messages[(self.channel_id(channel), ts)] = message
        return ts

    def react(self, channel: str, ts: str, user: str, name: str, *, added: bool = True) -> dict[str, Any]:
        """Add (or take off) a person's reaction on a message, as Slack records it before it sends the
        reaction_added (reaction_removed) event; returns that event."""
        message = self.messages[(self.channel_id(channel), ts)]
        reactions = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reaction = {"name": name, "users": [], "count": 0}
            reactions.append(reaction)
        if added and user not in reaction["users"]:
            reaction["users"].append(user)
        elif not added and user in reaction["users"]:
            reaction["users"].remove(user)
        reaction["count"] = len(reaction["users"])
        message["reactions"] = [r for r in reactions if r["count"]]
        if not message["reactions"]:
            del message["reactions"]
        return {
            "type": "reaction_added" if added else "reaction_removed",
            "user": user,
            "reaction": name,
            "item_user": message.get("user"),
            "item": {"type": "message", "channel": self.channel_id(channel), "ts": ts},
            "event_ts": self._next_ts(),
        }

    def m_reactions_get(self, args: dict[str, Any]) -> dict[str, Any]:
        """reactions.get for a message (channel + timestamp): the message with its text and reactions, or
        message_not_found for one the workspace does not have (Slack's reference, "Errors")."""
        channel, ts = args.get("channel"), args.get("timestamp")
        if not channel or not ts:
            return {"ok": False, "error": "no_item_specified"}
        if not re.fullmatch(r"\d+\.\d+", str(ts)):
            return {"ok": False, "error": "bad_timestamp"}
        message = self.messages.get((str(channel), str(ts)))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "type": "message", "channel": channel, "message": json.loads(json.dumps(message))}

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
        channel_id = f"C{next(self._ids):08d}"
        channel: dict[str, Any] = {"id": channel_id, "name": name, "members": []}
        self.channels[channel_id] = channel
        return {"ok": True, "channel": channel}

    def m_conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        channels = [{"id": c["id"], "name": c["name"]} for c in self.channels.values()]
        return {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}

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

    def m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        if str(args.get("user_id", ""))[:1] not in ("U", "W"):
            return {"ok": False, "error": "invalid_arguments"}
        # A user's Home tab is one view, republished in place.
        return {"ok": True, "view": {"id": f"VHOME{args['user_id']}", **(args.get("view") or {})}}

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

    # -- files.uploadV2 (slack_sdk's files_upload_v2): get an upload URL, POST the bytes there, complete -------------

    def m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        """Slack's reference: `filename` and `length` (bytes, an integer) required; a length of 0 is
        `missing_argument`."""
        filename, length = args.get("filename"), str(args.get("length", ""))
        if not filename or not length:
            return {"ok": False, "error": "invalid_arguments"}
        if not length.isdigit() or int(length) == 0:
            return {"ok": False, "error": "missing_argument" if length == "0" else "invalid_arguments"}
        file_id = f"F{next(self._ids):08d}"
        self.files[file_id] = {"filename": filename, "length": int(length), "content": None, "shared": []}
        return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL: the file's bytes, raw or as multipart form data; unknown ids 404."""
        file_id = request.match_info["file_id"]
        entry = self.files.get(file_id)
        if entry is None:
            return web.Response(status=404, text="not found")
        body = await request.read()
        self.calls.append(Call("upload", {"file_id": file_id, "bytes": len(body)}, peer=_peer(request)))
        entry["content"] = body
        return web.Response(text=f"OK - {len(body)}")

    def m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        """`files` (a JSON array of {id, title}) required, each a file whose bytes were uploaded; `channel_id` must
        be a channel's id, `channels` channel or user ids (a user: the DM)."""
        try:
            files = json.loads(args["files"]) if isinstance(args.get("files"), str) else args.get("files")
        except (KeyError, ValueError):
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(files, list) or not files or not all(isinstance(f, dict) and f.get("id") for f in files):
            return {"ok": False, "error": "invalid_arguments"}
        targets = [c for c in str(args.get("channels") or "").split(",") if c]
        if args.get("channel_id"):
            if not _CHANNEL_ID.fullmatch(str(args["channel_id"])):
                return {"ok": False, "error": "invalid_channel"}
            targets.append(str(args["channel_id"]))
        if any(not (_CHANNEL_ID.fullmatch(c) or _USER_ID.fullmatch(c)) for c in targets):
            return {"ok": False, "error": "invalid_channel"}
        done = []
        for f in files:
            entry = self.files.get(str(f["id"]))
            if entry is None or entry["content"] is None:
                return {"ok": False, "error": "file_not_found"}
            entry["shared"] = targets
            entry["title"] = f.get("title") or entry["filename"]
            done.append({"id": f["id"], "name": entry["filename"], "title": entry["title"]})
        return {"ok": True, "files": done}

    def uploaded(self) -> list[dict[str, Any]]:
        """The files completed through files.uploadV2, each with its bytes and where it was shared."""
        return [{"id": file_id, **entry} for file_id, entry in self.files.items() if entry.get("title") is not None]

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


# -- What Slack would misread: `<what we know>` in mrkdwn is link syntax, not a placeholder -------------------

_CONTROL = re.compile(r"<([^<>]*)>")
_VALID_CONTROL = re.compile(r"^(?:@[UW][A-Z0-9]+|#[CG][A-Z0-9]+|!|https?://|mailto:|tel:)")


def raw_placeholders(text: str) -> list[str]:
    """`<…>` sequences in mrkdwn that are not Slack's own (mentions, channels, links, `<!…>`)."""
    return [m[0] for m in _CONTROL.finditer(text) if not _VALID_CONTROL.match(m[1])]


def _mrkdwn_texts(node: Any, out: list[str], mrkdwn: bool = True) -> None:
    if isinstance(node, dict):
        if node.get("type") == "plain_text":
            return
        for key, value in node.items():
            if key == "text" and isinstance(value, str):
                out.append(value)
            else:
                _mrkdwn_texts(value, out)
    elif isinstance(node, list):
        for item in node:
            _mrkdwn_texts(item, out)


def message_placeholders(args: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    if isinstance(args.get("text"), str):
        texts.append(args["text"])
    _mrkdwn_texts(args.get("blocks") or [], texts)
    _mrkdwn_texts((args.get("view") or {}).get("blocks") if isinstance(args.get("view"), dict) else [], texts)
    return [p for t in texts for p in raw_placeholders(t)]


# -- Slack's documented limits (Block Kit reference), enforced as Slack does: the whole call is refused ---------

MESSAGE_BLOCKS, VIEW_BLOCKS = 50, 100


def _check_text(obj: Any, where: str, limit: int, errors: list[str], *, plain_only: bool = False) -> None:
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        errors.append(f"{where}: text object missing")
        return
    if plain_only and obj.get("type") != "plain_text":
        errors.append(f"{where}: must be plain_text")
    if not obj["text"]:
        errors.append(f"{where}: empty text")
    if len(obj["text"]) > limit:
        errors.append(f"{where}: text longer than {limit} ({len(obj['text'])})")


def _check_option(option: Any, where: str, errors: list[str], *, plain_only: bool) -> None:
    _check_text(option.get("text"), f"{where}.text", 75, errors, plain_only=plain_only)
    if "description" in option:
        _check_text(option["description"], f"{where}.description", 75, errors)
    if len(str(option.get("value", ""))) > 150:
        errors.append(f"{where}: value longer than 150")


def _check_element(element: dict[str, Any], where: str, errors: list[str]) -> None:
    kind = element.get("type")
    if len(str(element.get("action_id", ""))) > 255:
        errors.append(f"{where}: action_id longer than 255")
    if kind == "button":
        _check_text(element.get("text"), f"{where}.text", 75, errors, plain_only=True)
        if len(str(element.get("value", ""))) > 2000:
            errors.append(f"{where}: value longer than 2000")
    if kind in ("checkboxes", "radio_buttons", "static_select", "multi_static_select", "overflow"):
        options = element.get("options") or []
        most = {"checkboxes": 10, "radio_buttons": 10, "overflow": 5}.get(kind, 100)
        if not options or len(options) > most:
            errors.append(f"{where}: {len(options)} options (1 to {most} allowed)")
        for i, option in enumerate(options):
            _check_option(
                option, f"{where}.options[{i}]", errors, plain_only=kind not in ("checkboxes", "radio_buttons")
            )
        values = [o.get("value") for o in options]
        if len(values) != len(set(values)):
            errors.append(f"{where}: duplicate option values")
    if "confirm" in element:
        confirm = element["confirm"]
        _check_text(confirm.get("title"), f"{where}.confirm.title", 100, errors, plain_only=True)
        _check_text(confirm.get("text"), f"{where}.confirm.text", 300, errors)
    if "placeholder" in element:
        _check_text(element["placeholder"], f"{where}.placeholder", 150, errors, plain_only=True)


def check_blocks(blocks: Any, most: int) -> list[str]:
    """What Slack's Block Kit validation would refuse in these blocks (empty: valid)."""
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        return ["blocks is not a list"]
    errors: list[str] = []
    if len(blocks) > most:
        errors.append(f"{len(blocks)} blocks (at most {most})")
    block_ids: set[str] = set()
    for b, block in enumerate(blocks):
        where = f"blocks[{b}]"
        _check_block_id(block.get("block_id"), where, block_ids, errors)
        check = _BLOCK_CHECKS.get(block.get("type"))
        if check is not None:
            check(block, where, errors)
    return errors


def _check_block_id(block_id: Any, where: str, seen: set[str], errors: list[str]) -> None:
    if block_id is None:
        return
    if block_id in seen:
        errors.append(f"{where}: duplicate block_id {block_id!r}")
    seen.add(block_id)
    if len(str(block_id)) > 255:
        errors.append(f"{where}: block_id longer than 255")


def _check_section(block: dict[str, Any], where: str, errors: list[str]) -> None:
    if "text" not in block and not block.get("fields"):
        errors.append(f"{where}: a section needs text or fields")
    if "text" in block:
        _check_text(block["text"], f"{where}.text", 3000, errors)
    for f, field in enumerate(block.get("fields") or []):
        _check_text(field, f"{where}.fields[{f}]", 2000, errors)
    if len(block.get("fields") or []) > 10:
        errors.append(f"{where}: more than 10 fields")
    if "accessory" in block:
        _check_element(block["accessory"], f"{where}.accessory", errors)


def _check_header(block: dict[str, Any], where: str, errors: list[str]) -> None:
    _check_text(block.get("text"), f"{where}.text", 150, errors, plain_only=True)


def _check_context(block: dict[str, Any], where: str, errors: list[str]) -> None:
    elements = block.get("elements") or []
    if not elements or len(elements) > 10:
        errors.append(f"{where}: {len(elements)} elements (1 to 10 allowed)")
    for e, element in enumerate(elements):
        if element.get("type") in ("mrkdwn", "plain_text"):
            _check_text(element, f"{where}.elements[{e}]", 3000, errors)


def _check_actions(block: dict[str, Any], where: str, errors: list[str]) -> None:
    elements = block.get("elements") or []
    if not elements or len(elements) > 25:
        errors.append(f"{where}: {len(elements)} elements (1 to 25 allowed)")
    action_ids = [e.get("action_id") for e in elements if e.get("action_id")]
    if len(action_ids) != len(set(action_ids)):
        errors.append(f"{where}: duplicate action_id")
    for e, element in enumerate(elements):
        _check_element(element, f"{where}.elements[{e}]", errors)


def _check_input(block: dict[str, Any], where: str, errors: list[str]) -> None:
    _check_text(block.get("label"), f"{where}.label", 2000, errors, plain_only=True)
    if isinstance(block.get("element"), dict):
        _check_element(block["element"], f"{where}.element", errors)


# The block types the bot sends, each with what Slack checks of it (others: only the block_id).
_BLOCK_CHECKS: dict[Any, Callable[[dict[str, Any], str, list[str]], None]] = {
    "section": _check_section,
    "header": _check_header,
    "context": _check_context,
    "actions": _check_actions,
    "input": _check_input,
}


def check_message(args: dict[str, Any]) -> list[str]:
    """A chat.postMessage / chat.update / chat.postEphemeral / response_url body, as Slack validates it."""
    if len(str(args.get("text") or "")) > 40000:
        return ["msg_too_long"]
    return check_blocks(args.get("blocks"), MESSAGE_BLOCKS)


def check_view(view: Any) -> list[str]:
    """A modal as views.open/update/push validate it."""
    if not isinstance(view, dict):
        return []
    errors = check_blocks(view.get("blocks"), VIEW_BLOCKS)
    for key in ("title", "submit", "close"):
        if key in view:
            _check_text(view[key], f"view.{key}", 24, errors, plain_only=True)
    if len(str(view.get("private_metadata") or "")) > 3000:
        errors.append("view.private_metadata longer than 3000")
    if len(str(view.get("callback_id") or "")) > 255:
        errors.append("view.callback_id longer than 255")
    return errors


def _user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "real_name": user.name.title(),
        "deleted": user.deleted,
        "tz": user.tz,
        "profile": {"email": user.email, "real_name": user.name.title()},
    }


def flatten(args: dict[str, Any]) -> str:
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
