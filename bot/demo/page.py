"""The demo's web page: the channels and DMs as the bot posted and edited them, each person's ephemeral answers
and modals, a composer that sends slash commands as Slack does, and buttons that fire the bot's own hooks.

Everything works without JavaScript: server-rendered forms, each POST answered with a redirect back (a small
script only refreshes the page when something new arrived and applies a choice as soon as it is made).
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp import web
from multidict import MultiDictProxy

from bot.demo import wire
from bot.demo.people import PEOPLE, Person
from bot.demo.render import STATEFUL, Renderer, esc, options_of
from bot.demo.standin import BOT_USER, Answering, Ephemeral, Message, Modal, StandIn
from bot.fakeslack import check_message, check_view
from bot.slack.commands import COMMANDS
from bot.web.signing import signed_headers as zzik_signed_headers
from bot.web.signing import verify as zzik_verify

CURRENT = ' aria-current="page"'
HOME = "home"  # the page's name for the acting person's Home tab
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Secrets:
    signing: str
    webhook: str
    pagerduty_routing: str
    pagerduty_webhook: str


@dataclass
class Paged:
    """A PagerDuty incident the bot opened through the page's Events API stand-in."""

    key: str
    number: int
    summary: str
    status: str = "triggered"


@dataclass
class Demo:
    standin: StandIn
    bot_url: str
    secrets: Secrets
    flashes: dict[str, list[str]] = field(default_factory=dict)  # user -> notes shown once
    pending: dict[str, tuple[str, dict[str, list[str]]]] = field(default_factory=dict)  # confirm token -> form
    paged: dict[str, Paged] = field(default_factory=dict)
    deploys: list[dict[str, Any]] = field(default_factory=list)  # what the pipeline was asked to run
    silences: dict[str, dict[str, Any]] = field(default_factory=dict)  # Alertmanager's, by silence id
    alerts_fired: int = 0
    http: aiohttp.ClientSession | None = None

    def __post_init__(self) -> None:
        self.renderer = Renderer(self._user_name, self._channel_name)
        self.renderer.people = [(p.id, p.name) for p in PEOPLE]

    # -- names ------------------------------------------------------------------------------------------------

    def _user_name(self, user: str) -> str | None:
        if user == BOT_USER:
            return "ZZIK Ops Bot"
        found = self.standin.users.get(user)
        return found.name if found else None

    def _channel_name(self, channel: str) -> str | None:
        found = self.standin.channels.get(channel)
        return found["name"] if found else None

    def person(self, user: str | None) -> Person:
        return next((p for p in PEOPLE if p.id == user), PEOPLE[0])

    def flash(self, user: str, text: str) -> None:
        self.flashes.setdefault(user, []).append(text)

    # -- the app ------------------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024, middlewares=[loopback_only])
        app.router.add_get("/", self.index)
        app.router.add_get("/version", self.version)
        app.router.add_get("/confirm", self.confirm_page)
        for path, handler in (
            ("/command", self.command),
            ("/act", self.act),
            ("/submit", self.submit),
            ("/close", self.close),
            ("/sample/alert", self.sample_alert),
            ("/sample/pagerduty", self.sample_pagerduty),
            ("/sample/deploy", self.sample_deploy),
            ("/pagerduty/enqueue", self.pagerduty_enqueue),
            ("/pipeline/trigger", self.pipeline_trigger),
            ("/alertmanager/api/v2/silences", self.alertmanager_silence),
        ):
            app.router.add_post(path, handler)
        app.router.add_delete("/alertmanager/api/v2/silence/{id}", self.alertmanager_expire)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        return app

    async def _open(self, app: web.Application) -> None:
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def _close(self, app: web.Application) -> None:
        if self.http is not None:
            await self.http.close()

    async def _post(self, path: str, body: str | bytes, headers: dict[str, str]) -> tuple[int, str]:
        assert self.http is not None
        try:
            async with self.http.post(self.bot_url + path, data=body, headers=headers) as answer:
                return answer.status, await answer.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return 0, f"the bot could not be reached ({type(exc).__name__})"

    async def to_slack_events(self, body: str) -> tuple[int, str]:
        """A signed request to the bot's /slack/events, as Slack sends it."""
        content_type = "application/x-www-form-urlencoded"
        return await self._post("/slack/events", body, wire.signed_headers(self.secrets.signing, body, content_type))

    async def open_home(self, me: Person) -> None:
        """The Events API's app_home_opened, signed, as Slack sends it when a person opens the Home tab."""
        body = json.dumps(
            {
                "token": "demo-verification-token",
                "team_id": wire.TEAM["id"],
                "api_app_id": wire.APP_ID,
                "event": {
                    "type": "app_home_opened",
                    "user": me.id,
                    "channel": "D" + me.id,
                    "tab": "home",
                    "event_ts": f"{time.time():.6f}",
                },
                "type": "event_callback",
                "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
                "event_time": int(time.time()),
            }
        )
        headers = wire.signed_headers(self.secrets.signing, body, "application/json")
        status, _ = await self._post("/slack/events", body, headers)
        if status != 200:
            self.flash(me.id, f"Opening the Home tab failed: the bot answered HTTP {status}")

    # -- reading ------------------------------------------------------------------------------------------------

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": self.standin.version})

    async def index(self, request: web.Request) -> web.Response:
        me = self.person(request.query.get("as"))
        channel = request.query.get("c") or self.standin.channel_id("zzik-incidents")
        if not self.visible(me, channel):  # someone else's DM with the bot, or no such channel
            self.flash(me.id, "That conversation is not one of yours: your channels and your DM with the bot.")
            raise web.HTTPSeeOther(self.url(me, "D" + me.id, ""))
        if channel == HOME and request.query.get("open"):
            await self.open_home(me)  # as Slack tells the bot when the tab is opened; then the tab, without `open`
            raise web.HTTPSeeOther(self.url(me, HOME, ""))
        return web.Response(text=self.render_page(me, channel), content_type="text/html", charset="utf-8")

    def channel_list(self, me: Person) -> list[tuple[str, str]]:
        """(id, label) of every channel, the manual's first, then as created; the person's DM with the bot (only
        theirs, as in Slack) and their Home tab."""
        channels = [(c["id"], "#" + c["name"]) for c in self.standin.channels.values()]
        return [*channels, ("D" + me.id, "DM · ZZIK Ops Bot"), (HOME, "Home tab")]

    def visible(self, me: Person, channel: str) -> bool:
        """A channel, the person's own DM with the bot, or their Home tab: what that person can see in Slack."""
        return channel in self.standin.channels or channel in ("D" + me.id, HOME)

    def render_page(self, me: Person, channel: str) -> str:
        names = dict(self.channel_list(me))
        title = names.get(channel, channel)
        self.renderer.channels = [(c["id"], c["name"]) for c in self.standin.channels.values()]
        nav = "".join(
            f'<li><a href="{esc(self.url(me, cid, opening=cid == HOME))}"{CURRENT if cid == channel else ""}>'
            f"{esc(label)}</a> <span class=count>{len(self.standin.history.get(cid, []))}</span></li>"
            for cid, label in self.channel_list(me)
        )
        flashes = "".join(f"<p>{esc(text)}</p>" for text in self.flashes.pop(me.id, []))
        return PAGE.format(
            title=esc(title),
            people=self.people_options(me),
            channel=esc(channel if channel != HOME else "D" + me.id),
            nav=nav,
            flashes=f'<div class="flash" role="status">{flashes}</div>' if flashes else "",
            modal=self.render_modal(me, channel),
            messages=self.render_home(me) if channel == HOME else self.render_messages(me, channel),
            me=esc(me.id),
            samples=self.render_samples(me, channel),
            version=self.standin.version,
        )

    def people_options(self, me: Person) -> str:
        return "".join(
            f'<option value="{esc(p.id)}"{" selected" if p.id == me.id else ""}>{esc(p.title)} ({esc(p.role)})</option>'
            for p in PEOPLE
        )

    def url(self, me: Person, channel: str, anchor: str = "latest", *, opening: bool = False) -> str:
        query = {"c": channel, "as": me.id, **({"open": "1"} if opening else {})}
        return "/?" + urlencode(query) + (f"#{anchor}" if anchor else "")

    def render_messages(self, me: Person, channel: str) -> str:
        posted = self.standin.history.get(channel, [])
        replies: dict[str, list[Message]] = {}
        for message in posted:
            if message.thread_ts and message.thread_ts != message.ts:
                replies.setdefault(message.thread_ts, []).append(message)
        timeline: list[tuple[str, str]] = []
        for message in posted:
            if message.thread_ts and message.thread_ts != message.ts and self.standin.find(channel, message.thread_ts):
                continue  # shown in its thread
            thread = "".join(self.render_message(me, r) for r in replies.get(message.ts, []))
            thread_html = f'<div class="thread" aria-label="Thread">{thread}</div>' if thread else ""
            timeline.append((message.ts, self.render_message(me, message, thread_html)))
        for eph in self.standin.ephemerals:
            if eph.user == me.id and eph.channel == channel:
                timeline.append((eph.ts, self.render_ephemeral(me, eph)))
        timeline.sort(key=lambda item: item[0])
        if not timeline:
            return '<p class="empty">No messages here yet.</p>'
        return "".join(html for _, html in timeline)

    def render_message(self, me: Person, message: Message, thread: str = "") -> str:
        author = self._user_name(message.user) or message.user
        edited = ' <span class="edited">(edited)</span>' if message.edited else ""
        body = self.message_body(message.text, message.blocks, message.attachments)
        form = self.wrap_form(me, f"msg:{message.channel}:{message.ts}", message.channel, body)
        return (
            f'<article class="msg" id="m{esc(message.ts)}"><header><b>{esc(author)}</b> '
            f"<time>{esc(_clock(message.at))}</time>{edited}</header>{form}{thread}</article>"
        )

    def render_ephemeral(self, me: Person, eph: Ephemeral) -> str:
        body = self.message_body(eph.text, eph.blocks, [])
        form = self.wrap_form(me, f"eph:{eph.id}", eph.channel, body)
        return (
            f'<article class="msg ephemeral" id="{esc(eph.id)}"><header><b>ZZIK Ops Bot</b> '
            f'<span class="only">Only visible to you</span></header>{form}</article>'
        )

    def message_body(self, text: str, blocks: list[dict[str, Any]], attachments: list[dict[str, Any]]) -> str:
        parts = [self.renderer.blocks(blocks) if blocks else f'<div class="text">{self.renderer.mrkdwn(text)}</div>']
        for attachment in attachments:
            colour = str(attachment.get("color") or "#ddd")
            inner = self.renderer.blocks(attachment.get("blocks") or []) or self.renderer.mrkdwn(
                str(attachment.get("text") or attachment.get("fallback") or "")
            )
            parts.append(f'<div class="attachment" data-color="{esc(colour)}">{inner}</div>')
        return "".join(parts)

    def wrap_form(self, me: Person, where: str, channel: str, body: str) -> str:
        if 'name="act"' not in body and 'name="s.' not in body:
            return body
        return (
            '<form method="post" action="/act" class="interactive">'
            '<button type="submit" disabled hidden aria-hidden="true"></button>'
            f'<input type="hidden" name="as" value="{esc(me.id)}">'
            f'<input type="hidden" name="c" value="{esc(channel)}">'
            f'<input type="hidden" name="where" value="{esc(where)}">{body}</form>'
        )

    def render_home(self, me: Person) -> str:
        """The person's Home tab, as the bot last published it (views.publish)."""
        view = self.standin.homes.get(me.id)
        if not view:
            return '<p class="empty">The bot has not published this Home tab yet.</p>'
        body = self.renderer.blocks(view.get("blocks") or [])
        form = self.wrap_form(me, "view:" + str(view["id"]), HOME, body)
        return f'<div class="home">{form}</div>'

    def render_modal(self, me: Person, channel: str) -> str:
        stack = self.standin.modals.get(me.id) or []
        if not stack:
            return ""
        modal = stack[-1]
        view = modal.view
        title = self.renderer.plain(view.get("title")) or "Form"
        submit = self.renderer.plain(view.get("submit")) or "Submit"
        close = self.renderer.plain(view.get("close")) or "Cancel"
        body = self.renderer.blocks(view.get("blocks") or [], errors=modal.errors, typed=modal.typed)
        general = modal.errors.get("") or ""
        submit_button = (
            f'<button type="submit" class="btn primary">{submit}</button>'
            if view.get("submit") or _has_inputs(view)
            else ""
        )
        return (
            f'<section class="modal" role="dialog" aria-modal="true" aria-labelledby="modal-title">'
            f'<h2 id="modal-title">{title}</h2>'
            f'<form method="post" action="/submit">'
            f'<input type="hidden" name="as" value="{esc(me.id)}">'
            f'<input type="hidden" name="view" value="{esc(modal.id)}">'
            f'<input type="hidden" name="c" value="{esc(channel)}">'
            f'<input type="hidden" name="where" value="view:{esc(modal.id)}">'
            f"{f'<p class=error role=alert>{esc(general)}</p>' if general else ''}{body}"
            f'<div class="modal-buttons">{submit_button}'
            f'<button type="submit" formaction="/close" formnovalidate class="btn">{close}</button></div>'
            f"</form></section>"
        )

    def render_samples(self, me: Person, channel: str) -> str:
        hidden = (
            f'<input type="hidden" name="as" value="{esc(me.id)}"><input type="hidden" name="c" value="{esc(channel)}">'
        )
        open_pages = [p for p in self.paged.values() if p.status == "triggered"]
        page_note = (
            f"Acknowledges {esc(open_pages[-1].key)} ({esc(open_pages[-1].summary)}) as {esc(me.title)}."
            if open_pages
            else "No page is open in PagerDuty: declare a P1 or P2 incident, or fire the sample alert."
        )
        running = self.deploys[-1] if self.deploys else None
        deploy_note = (
            f"Reports on deploy {int(running['deploy_id'])} ({esc(running.get('environment') or '')})."
            if running
            else "The pipeline has not been asked to deploy yet: try /deploy staging."
        )
        return SAMPLES.format(hidden=hidden, page_note=page_note, deploy_note=deploy_note) + self.render_refused()

    def render_refused(self) -> str:
        """What the stand-in refused as Slack would (bot/fakeslack.py's checks): a bug of the bot's, shown."""
        refused = [f"{method}: {'; '.join(why)}" for method, why in self.standin.refused]
        refused += [
            f"{method}: channel_not_found ({channel} is a name, not an id)" for method, channel in self.standin.by_name
        ]
        if not refused:
            return ""
        items = "".join(f"<li>{esc(line)}</li>" for line in refused[-20:])
        return f'<section class="refused" role="alert"><h2>Refused as Slack would</h2><ul>{items}</ul></section>'

    # -- confirm dialogs ------------------------------------------------------------------------------------------

    async def confirm_page(self, request: web.Request) -> web.Response:
        token = request.query.get("t", "")
        pending = self.pending.get(token)
        me = self.person(request.query.get("as"))
        if pending is None:
            raise web.HTTPSeeOther(self.url(me, request.query.get("c") or "C0INCIDENTS"))
        _, form = pending
        found = self.locate(form)
        element = found[2] if found else None
        confirm = (element or {}).get("confirm") or {}
        channel = (form.get("c") or [""])[0]
        body = CONFIRM.format(
            title=self.renderer.plain(confirm.get("title")) or "Are you sure?",
            text=self.renderer.text(confirm.get("text")),
            yes=self.renderer.plain(confirm.get("confirm")) or "Yes",
            no=self.renderer.plain(confirm.get("deny")) or "Cancel",
            token=esc(token),
            back=esc(self.url(me, channel)),
        )
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    # -- writing: commands ---------------------------------------------------------------------------------------

    async def command(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        me = self.person(str(form.get("as") or ""))
        channel = str(form.get("c") or "")
        typed = str(form.get("text") or "").strip()
        if typed.startswith("/") and len(typed) > 1:
            command, _, rest = typed.partition(" ")
            if not self.visible(me, channel) or channel == HOME:
                self.flash(me.id, "There is no such channel here: choose one of yours on the left, then send.")
            elif command.lower() not in COMMANDS:  # Slack answers this itself, to that person only
                self.flash(me.id, f"{command} is not a valid command. The app has {', '.join(COMMANDS)}.")
            else:
                await self.send_command(me, channel, command.lower(), rest.strip())
        elif typed:
            self.flash(me.id, "Type a slash command, e.g. /incident p1 Search is down (the bot answers commands).")
        raise web.HTTPSeeOther(self.url(me, channel))

    async def send_command(self, me: Person, channel: str, command: str, typed: str) -> None:
        people = {p.name: p.id for p in PEOPLE}
        text = wire.slack_encode(wire.mentions_typed(typed, people))
        answering = Answering(me.id, channel)
        body = wire.command_form(
            command,
            text,
            user=me.id,
            user_name=me.name,
            channel=channel,
            channel_name=self._channel_name(channel) or "directmessage",
            response_url=self.standin.new_response_url(answering),
            trigger=self.standin.new_trigger(me.id),
        )
        status, answer = await self.to_slack_events(body)
        self.take_ack(me, answering, status, answer, f"`{command}`")

    def take_ack(self, me: Person, answering: Answering, status: int, answer: str, what: str) -> None:
        """The bot's HTTP answer to a command (or a click): a message in the ack is shown as Slack shows it."""
        if status != 200:
            self.flash(me.id, f"{what} failed: the bot answered HTTP {status} {answer[:200]}")
            return
        if not answer.strip():
            return
        try:
            message = json.loads(answer)
        except ValueError:
            message = {"text": answer}
        if isinstance(message, dict) and (message.get("text") or message.get("blocks")):
            errors = check_message(message)
            if errors:  # Slack shows nothing of an ack it cannot show; the page lists it with the other refusals
                self.standin.refused.append(("ack", errors))
                self.standin.version += 1
                return
            self.standin.respond(answering, message)

    # -- writing: clicks and choices -------------------------------------------------------------------------------

    def locate(self, form: dict[str, list[str]]) -> tuple[str, Any, dict[str, Any], list[str]] | None:
        """(where, the block, the element acted on, [block index, element ref, option value]) or None when the
        element at that place no longer has the action_id the page showed (or no longer offers that option): the
        message changed since, and a click is never taken as another element's."""
        where = (form.get("where") or [""])[0]
        act = _act_of((form.get("act") or [""])[0])
        blocks = self.blocks_at(where) if self.reachable(self.person((form.get("as") or [""])[0]), where) else None
        if blocks is None or act is None:
            return None
        (ref, action_id, *option) = act
        b, _, e = ref.partition(".")
        if not b.isdigit() or int(b) >= len(blocks):
            return None
        block = blocks[int(b)]
        element = _element_at(block, e)
        if element is None or str(element.get("action_id") or "") != action_id:
            return None
        if not _offers(element, [*option, *form.get(f"s.{ref}", [])]):
            return None
        return where, block, element, [b, e, *option]

    def reachable(self, me: Person, where: str) -> bool:
        """Whether the person can see (so click in) that message, ephemeral answer, modal or Home tab."""
        kind, _, rest = where.partition(":")
        if kind == "msg":
            return self.visible(me, rest.partition(":")[0])
        if kind == "eph":
            eph = self.standin.find_ephemeral(rest)
            return eph is not None and eph.user == me.id
        modal, view = self.standin.find_view(rest)
        return modal.user == me.id if modal is not None else view is not None and view is self.standin.homes.get(me.id)

    def blocks_at(self, where: str) -> list[dict[str, Any]] | None:
        kind, _, rest = where.partition(":")
        if kind == "msg":
            channel, _, ts = rest.partition(":")
            message = self.standin.find(channel, ts)
            return message.blocks if message else None
        if kind == "eph":
            eph = self.standin.find_ephemeral(rest)
            return eph.blocks if eph else None
        if kind == "view":
            _, view = self.standin.find_view(rest)
            return (view or {}).get("blocks")
        return None

    async def act(self, request: web.Request) -> web.StreamResponse:
        raw = await request.post()
        form = _lists(raw)
        token = (form.get("pending") or [""])[0]
        if token:
            pending = self.pending.pop(token, None)
            if pending is None or "deny" in form:
                me = self.person((form.get("as") or [""])[0])
                raise web.HTTPSeeOther(self.url(me, (form.get("c") or [""])[0]))
            form = pending[1]
        me = self.person((form.get("as") or [""])[0])
        channel = (form.get("c") or [""])[0]
        found = self.locate(form)
        if found is None:
            self.flash(me.id, "That message has changed since the page was shown: look again.")
            raise web.HTTPSeeOther(self.url(me, channel))
        where, block, element, act = found
        if element.get("confirm") and not token:
            token = secrets.token_urlsafe(12)
            self.pending[token] = (me.id, form)
            raise web.HTTPSeeOther("/confirm?" + urlencode({"t": token, "as": me.id, "c": channel}))
        await self.send_action(me, channel, where, block, element, act, form)
        raise web.HTTPSeeOther(self.url(me, channel))

    async def send_action(
        self,
        me: Person,
        channel: str,
        where: str,
        block: dict[str, Any],
        element: dict[str, Any],
        act: list[str],
        form: dict[str, list[str]],
    ) -> None:
        """The block_actions payload of a click or a choice, with the state of the message's (or view's) other
        elements, sent as Slack sends it."""
        kind, _, rest = where.partition(":")
        action = action_of(block, element, act, form)
        state = state_values(self.blocks_at(where) or [], form)
        user = wire.user_ref(me.id, me.name)
        trigger = self.standin.new_trigger(me.id)
        if kind == "view":
            _, view = self.standin.find_view(rest)
            shown = {**(view or {}), "state": {"values": state}}
            container = {"type": "view", "view_id": rest}
            payload = wire.block_actions(action, user=user, container=container, trigger=trigger, view=shown)
        else:
            answering, container, message = self._clicked(me, kind, rest)
            payload = wire.block_actions(
                action,
                user=user,
                container=container,
                trigger=trigger,
                channel={"id": answering.channel, "name": self._channel_name(answering.channel) or "directmessage"},
                message=message,
                state=state,
                response_url=self.standin.new_response_url(answering),
            )
        status, _ = await self.to_slack_events(wire.interaction_form(payload))
        if status != 200:
            self.flash(me.id, f"The click failed: the bot answered HTTP {status}")

    def _clicked(self, me: Person, kind: str, rest: str) -> tuple[Answering, dict[str, Any], dict[str, Any] | None]:
        """(what the click's response_url answers, its container, the message) of a message or an ephemeral."""
        if kind == "eph":
            eph = self.standin.find_ephemeral(rest)
            assert eph is not None  # located just before
            container = {"type": "message", "message_ts": eph.ts, "channel_id": eph.channel, "is_ephemeral": True}
            return Answering(me.id, eph.channel, ephemeral=eph.id), container, None
        channel, _, ts = rest.partition(":")
        found = self.standin.find(channel, ts)
        container = {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False}
        message: dict[str, Any] = {"type": "message", "user": BOT_USER, "ts": ts, "text": found.text if found else ""}
        if found is not None:
            message["blocks"] = found.blocks
        return Answering(me.id, channel, message_ts=ts), container, message

    # -- writing: modals --------------------------------------------------------------------------------------------

    async def submit(self, request: web.Request) -> web.StreamResponse:
        form = _lists(await request.post())
        me = self.person((form.get("as") or [""])[0])
        modal, view = self.standin.find_view((form.get("view") or [""])[0])
        back = self.url(me, (form.get("c") or [""])[0] or self._last_channel(me))
        if modal is None or view is None or modal.user != me.id:
            raise web.HTTPSeeOther(back)
        if "act" in form and form["act"][0]:  # a button or Apply inside the modal
            found = self.locate(form)
            if found is not None:
                where, block, element, act = found
                await self.send_action(me, "", where, block, element, act, form)
            raise web.HTTPSeeOther(back)
        modal.typed = {k: v for k, v in form.items() if k.startswith("s.")}
        missing = required_missing(view.get("blocks") or [], form)
        if missing:
            modal.errors = dict.fromkeys(missing, "Please complete this required field.")
            self.standin.version += 1
            raise web.HTTPSeeOther(back)
        payload = wire.view_submission(
            _shown_view(view),
            state_values(view.get("blocks") or [], form),
            user=wire.user_ref(me.id, me.name),
            trigger=self.standin.new_trigger(me.id),
        )
        status, answer = await self.to_slack_events(wire.interaction_form(payload))
        if status != 200:
            modal.errors = {"": f"The bot answered HTTP {status}: the form was not taken."}
            self.standin.version += 1
            raise web.HTTPSeeOther(back)
        self.take_view_answer(me, modal, answer)
        raise web.HTTPSeeOther(back)

    def take_view_answer(self, me: Person, modal: Modal, answer: str) -> None:
        try:
            reply = json.loads(answer) if answer.strip() else {}
        except ValueError:
            reply = {}
        if not isinstance(reply, dict):
            reply = {}
        if reply.get("response_action") in ("update", "push"):
            errors = check_view(reply.get("view")) or ([] if isinstance(reply.get("view"), dict) else ["view missing"])
            if errors:  # Slack keeps the modal as it was; the page lists the refusal
                self.standin.refused.append((f"view_submission response_action {reply['response_action']}", errors))
                self.standin.version += 1
                return
        if reply.get("response_action") != "errors":
            modal.errors, modal.typed = {}, {}
        self.standin.open_view_answer(me.id, modal, reply)

    async def close(self, request: web.Request) -> web.StreamResponse:
        form = _lists(await request.post())
        me = self.person((form.get("as") or [""])[0])
        modal, view = self.standin.find_view((form.get("view") or [""])[0])
        if modal is not None and view is not None and modal.user == me.id:
            if view.get("notify_on_close"):
                payload = {
                    "type": "view_closed",
                    "team": wire.TEAM,
                    "user": wire.user_ref(me.id, me.name),
                    "api_app_id": wire.APP_ID,
                    "view": _shown_view(view),
                    "is_cleared": False,
                }
                await self.to_slack_events(wire.interaction_form(payload))
            self.standin.close_view(me.id, modal)
        raise web.HTTPSeeOther(self.url(me, (form.get("c") or [""])[0] or self._last_channel(me)))

    def _last_channel(self, me: Person) -> str:
        return self.standin.channel_id("zzik-incidents")

    # -- the bot's hooks: a sample alert, a PagerDuty acknowledgement, the pipeline's callback ------------------------

    async def sample_alert(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        me = self.person(str(form.get("as") or ""))
        self.alerts_fired += 1
        n = self.alerts_fired
        body = json.dumps(
            wire.alertmanager_message(
                "HighErrorRate",
                {"service": "api", "severity": "critical", "instance": f"api-{n}"},
                f"5xx error rate above 5% on api-{n} for 5 minutes",
                f"demo{n:04d}{int(time.time())}",
            )
        )
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.secrets.webhook}"}
        status, _ = await self._post("/hooks/alertmanager", body, headers)
        self.flash(me.id, f"Alertmanager posted a firing HighErrorRate alert to /hooks/alertmanager: HTTP {status}.")
        raise web.HTTPSeeOther(self.url(me, self.standin.channel_id("zzik-alerts")))

    async def sample_pagerduty(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        me = self.person(str(form.get("as") or ""))
        channel = str(form.get("c") or "")
        open_pages = [p for p in self.paged.values() if p.status == "triggered"]
        if not open_pages:
            self.flash(me.id, "No page is open in PagerDuty: declare a P1 or P2 incident, or fire the sample alert.")
            raise web.HTTPSeeOther(self.url(me, channel))
        page = open_pages[-1]
        agent = {"id": me.pagerduty_id, "type": "user_reference", "summary": me.title}
        event = wire.pagerduty_event(page.key, page.number, "incident.acknowledged", page.summary, agent)
        raw = json.dumps(event).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "PagerDuty-Webhook/V3.0",
            "X-PagerDuty-Signature": wire.pagerduty_signature(self.secrets.pagerduty_webhook, raw),
        }
        status, _ = await self._post("/hooks/pagerduty", raw, headers)
        if status == 200:
            page.status = "acknowledged"
        self.flash(me.id, f"PagerDuty sent incident.acknowledged for {page.key} by {me.title}: HTTP {status}.")
        raise web.HTTPSeeOther(self.url(me, channel))

    async def sample_deploy(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        me = self.person(str(form.get("as") or ""))
        channel = str(form.get("c") or "")
        outcome = "failed" if form.get("status") == "failed" else "succeeded"
        if not self.deploys:
            self.flash(me.id, "The pipeline has not been asked to deploy yet: try /deploy staging.")
            raise web.HTTPSeeOther(self.url(me, channel))
        deploy_id = int(self.deploys[-1]["deploy_id"])
        body = json.dumps(
            {
                "deploy_id": deploy_id,
                "status": outcome,
                "url": f"https://ci.zzik.example/runs/{deploy_id}",
                "detail": "All steps passed" if outcome == "succeeded" else "Step `migrate` failed: exit status 1",
            }
        ).encode()
        headers = {"Content-Type": "application/json", **zzik_signed_headers(self.secrets.webhook, body)}
        status, _ = await self._post("/hooks/deploy", body, headers)
        self.flash(me.id, f"The pipeline reported deploy {deploy_id} {outcome} to /hooks/deploy: HTTP {status}.")
        raise web.HTTPSeeOther(self.url(me, self.standin.channel_id("zzik-deployments")))

    # -- stand-ins for what the bot calls: PagerDuty's Events API v2 and the deploy pipeline ---------------------------

    async def pagerduty_enqueue(self, request: web.Request) -> web.Response:
        try:
            event = await request.json()
        except ValueError:
            return web.json_response({"status": "invalid event", "message": "Event object is invalid"}, status=400)
        if not isinstance(event, dict) or event.get("routing_key") != self.secrets.pagerduty_routing:
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": ["routing_key"]},
                status=400,
            )
        key = str(event.get("dedup_key") or secrets.token_hex(8))
        action = event.get("event_action")
        if action == "trigger" and key not in self.paged:
            summary = str((event.get("payload") or {}).get("summary") or key)
            self.paged[key] = Paged(key, len(self.paged) + 1, summary)
        elif key in self.paged and action in ("acknowledge", "resolve"):
            self.paged[key].status = "acknowledged" if action == "acknowledge" else "resolved"
        return web.json_response({"status": "success", "message": "Event processed", "dedup_key": key}, status=202)

    async def pipeline_trigger(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not zzik_verify(request.headers, body, self.secrets.webhook):
            return web.json_response({"error": "bad signature"}, status=401)
        try:
            asked = json.loads(body)
        except ValueError:
            return web.json_response({"error": "not JSON"}, status=400)
        if isinstance(asked, dict) and "deploy_id" in asked:
            self.deploys.append(asked)
        return web.json_response({"queued": True}, status=202)

    async def alertmanager_silence(self, request: web.Request) -> web.Response:
        """Alertmanager's API v2 POST /silences: a silence needs matchers, its times, who and why."""
        try:
            silence = await request.json()
        except ValueError:
            return web.json_response("silence: not JSON", status=400)
        missing = [k for k in ("matchers", "startsAt", "endsAt", "createdBy", "comment") if not silence.get(k)]
        if missing:
            return web.json_response(f"silence invalid: {', '.join(missing)} missing", status=400)
        silence_id = str(uuid.uuid4())
        self.silences[silence_id] = silence
        return web.json_response({"silenceID": silence_id})

    async def alertmanager_expire(self, request: web.Request) -> web.Response:
        if self.silences.pop(request.match_info["id"], None) is None:
            return web.json_response("silence not found", status=404)
        return web.Response(status=200)


# -- only this machine's browser: no other site's form, no DNS name rebound to 127.0.0.1 ----------------------------

LOOPBACK = frozenset({"127.0.0.1", "localhost"})


def _ours(host: str | None, port: int, *, scheme: str | None = None) -> bool:
    """Whether a Host (or an Origin's scheme and host) names this page: 127.0.0.1 or localhost, its port or none."""
    if not host:
        return False
    try:
        parts = urlsplit(f"{scheme or 'http'}://{host}")
        given = parts.port
    except ValueError:
        return False
    return parts.hostname in LOOPBACK and given in ((port,) if scheme else (None, port)) and scheme in (None, "http")


@web.middleware
async def loopback_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 for a request whose Host is not 127.0.0.1/localhost (a rebound name), and for a POST from another
    site's page (a foreign Origin): the page acts as anyone, so only a page it served may use it."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    port = int(sockname[1]) if sockname else 0
    if not _ours(request.headers.get("Host"), port):
        return web.Response(status=403, text=f"Forbidden: open the demo at http://127.0.0.1:{port}/\n")
    origin = request.headers.get("Origin")
    if request.method == "POST" and origin is not None:
        scheme, _, host = origin.partition("://")
        if not _ours(host, port, scheme=scheme):
            return web.Response(status=403, text="Forbidden: a form from another site\n")
    return await handler(request)


# -- Slack's state and selections, from the page's form fields ------------------------------------------------------


def _lists(form: MultiDictProxy[Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in form.items():
        out.setdefault(key, []).append(str(value))
    return out


_OPTIONED = frozenset({"overflow", "checkboxes", "radio_buttons", "static_select", "multi_static_select"})


def _act_of(raw: str) -> list[str] | None:
    """A button's `act` value (render.act_value): [ref, action_id(, option value)], or None if it is not one."""
    try:
        act = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(act, list) or len(act) not in (2, 3) or not all(isinstance(a, str) for a in act):
        return None
    return act


def _element_at(block: dict[str, Any], e: str) -> dict[str, Any] | None:
    """A block's element by its place: `a` its accessory, `0` an input's element, else the n-th of its elements."""
    if e == "a":
        element = block.get("accessory")
    elif e == "0" and block.get("type") == "input":
        element = block.get("element")
    else:
        elements = block.get("elements") or []
        element = elements[int(e)] if e.isdigit() and int(e) < len(elements) else None
    return element if isinstance(element, dict) else None


def _offers(element: dict[str, Any], chosen: list[str]) -> bool:
    """Whether an element with options (an overflow, checkboxes, a static select...) still offers each value."""
    if element.get("type") not in _OPTIONED:
        return True
    values = {str(o.get("value")) for o in options_of(element)}
    return all(v in values for v in chosen if v)


def _option(option: dict[str, Any]) -> dict[str, Any]:
    return {k: option[k] for k in ("text", "value", "description") if k in option}


def action_of(block: dict[str, Any], element: dict[str, Any], act: list[str], form: dict[str, list[str]]) -> dict:
    """`actions[0]`: the element acted on, with what was clicked or chosen."""
    action: dict[str, Any] = {
        "type": element.get("type"),
        "action_id": element.get("action_id"),
        "block_id": block.get("block_id"),
    }
    if element.get("type") == "button":
        action.update({"text": element.get("text"), "value": element.get("value", "")})
        if element.get("style"):
            action["style"] = element["style"]
    elif element.get("type") == "overflow":
        options = options_of(element)
        pick = next((o for o in options if len(act) > 2 and str(o.get("value")) == act[2]), options[0])
        action["selected_option"] = _option(pick)
    else:
        action.update(selection(element, form.get(f"s.{act[0]}.{act[1]}", [])))
    return action


_SINGLE_KEY = {
    "users_select": "selected_user",
    "conversations_select": "selected_conversation",
    "channels_select": "selected_channel",
    "datepicker": "selected_date",
    "timepicker": "selected_time",
}
_MULTI_KEY = {
    "multi_users_select": "selected_users",
    "multi_conversations_select": "selected_conversations",
    "multi_channels_select": "selected_channels",
}


def selection(element: dict[str, Any], raw: list[str]) -> dict[str, Any]:
    """An element's state as Slack reports it (in `state.values` and in the action), from the form's values."""
    kind = str(element.get("type"))
    raw = [v for v in raw if v != ""]
    if kind in ("checkboxes", "multi_static_select", "multi_external_select", "radio_buttons", "static_select"):
        options = options_of(element)
        by_value = {str(o.get("value")): o for o in reversed(options)}  # the first of equal values, as shown
        picked = [_option(by_value[v]) for v in raw if v in by_value]
        if kind in ("radio_buttons", "static_select"):
            return {"type": kind, "selected_option": picked[0] if picked else None}
        return {"type": kind, "selected_options": picked}
    if kind in _SINGLE_KEY:
        return {"type": kind, _SINGLE_KEY[kind]: raw[0] if raw else None}
    if kind in _MULTI_KEY:
        return {"type": kind, _MULTI_KEY[kind]: raw}
    return {"type": kind, "value": raw[0] if raw else None}


def _elements(blocks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(field name, block, element) of every element that keeps a state."""
    found = []
    for b, block in enumerate(blocks):
        if block.get("type") == "input" and isinstance(block.get("element"), dict):
            found.append((f"s.{b}.0", block, block["element"]))
        elif isinstance(block.get("accessory"), dict):
            found.append((f"s.{b}.a", block, block["accessory"]))
        elif block.get("type") == "actions":
            found.extend((f"s.{b}.{e}", block, el) for e, el in enumerate(block.get("elements") or []))
    return [(name, block, el) for name, block, el in found if el.get("type") in STATEFUL]


def state_values(blocks: list[dict[str, Any]], form: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """`state.values` as Slack builds it: block_id -> action_id -> the element's state."""
    values: dict[str, dict[str, Any]] = {}
    for name, block, element in _elements(blocks):
        values.setdefault(str(block.get("block_id")), {})[str(element.get("action_id"))] = selection(
            element, form.get(name, [])
        )
    return values


def required_missing(blocks: list[dict[str, Any]], form: dict[str, list[str]]) -> list[str]:
    """The block ids of required inputs left empty (Slack's client refuses to submit those)."""
    return [
        str(block.get("block_id"))
        for name, block, _ in _elements(blocks)
        if block.get("type") == "input"
        and block.get("optional") not in (True, "true")
        and not [v for v in form.get(name, []) if v != ""]
    ]


def _has_inputs(view: dict[str, Any]) -> bool:
    return any(b.get("type") == "input" for b in view.get("blocks") or [])


def _shown_view(view: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "modal",
        "team_id": wire.TEAM["id"],
        "app_id": wire.APP_ID,
        "bot_id": "B0BOT",
        "root_view_id": view.get("id"),
        "previous_view_id": None,
        **view,
    }


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · ZZIK Ops Bot demo</title><style>{style}</style></head>
<body data-version="{version}">
<header class="top"><h1>ZZIK Ops Bot demo</h1>
<form method="get" action="/" class="who"><input type="hidden" name="c" value="{channel}">
<label for="as-top">Acting as</label> <select id="as-top" name="as">{people}</select>
<button type="submit" class="btn">Switch</button></form></header>
<div class="layout">
<nav aria-label="Channels and direct messages"><h2>Channels</h2><ul>{nav}</ul></nav>
<main>{flashes}{modal}
<h2 class="channel-title">{title}</h2>
<div class="messages" aria-live="polite">{messages}</div><div id="latest"></div>
<form method="post" action="/command" class="composer">
<input type="hidden" name="c" value="{channel}">
<label for="as">As</label> <select id="as" name="as">{people}</select>
<label for="composer">Slash command</label>
<input id="composer" name="text" autocomplete="off" placeholder="/incident p1 Search is down" size="50">
<button type="submit" class="btn primary">Send</button>
<p class="hint">What Slack sends: form-encoded, signed, <code>@alice</code> as a mention, <code>&amp; &lt; &gt;</code>
escaped. Try <code>/incident help</code>, <code>/oncall</code>, <code>/deploy staging</code>.</p>
</form>
</main>
<aside aria-label="Outside events">{samples}</aside>
</div>
<script>
(function () {{
  var seen = document.body.dataset.version;
  document.querySelectorAll('[data-apply] input, .accessory select, .actions select').forEach(function (el) {{
    el.addEventListener('change', function () {{
      var box = el.closest('[data-apply]') || el.parentElement;
      var apply = box && box.querySelector('button.apply');
      if (apply) apply.click();
    }});
  }});
  function typing(el) {{  // a text field changed from what the page was shown with (a reload would lose it)
    var text = el.tagName === 'TEXTAREA' || /^(text|number|email|url|search|date|time)$/.test(el.type);
    return text && el.value !== el.defaultValue;
  }}
  function busy() {{
    return Array.prototype.some.call(document.querySelectorAll('input, textarea'), typing) ||
      document.querySelector('.modal');
  }}
  setInterval(function () {{
    fetch('/version').then(function (r) {{ return r.json(); }}).then(function (v) {{
      if (String(v.version) !== seen && !busy()) location.reload();
    }}).catch(function () {{}});
  }}, 1500);
}})();
</script>
</body></html>
"""

SAMPLES = """<h2>From outside</h2>
<form method="post" action="/sample/alert">{hidden}
<button type="submit" class="btn">Fire a sample alert</button>
<p class="hint">Alertmanager's webhook (version 4) into <code>/hooks/alertmanager</code>.</p></form>
<form method="post" action="/sample/pagerduty">{hidden}
<button type="submit" class="btn">PagerDuty: acknowledge</button>
<p class="hint">A signed v3 webhook into <code>/hooks/pagerduty</code>. {page_note}</p></form>
<form method="post" action="/sample/deploy">{hidden}
<fieldset><legend>Pipeline callback</legend>
<label><input type="radio" name="status" value="succeeded" checked> succeeded</label>
<label><input type="radio" name="status" value="failed"> failed</label></fieldset>
<button type="submit" class="btn">Report to the bot</button>
<p class="hint">Signed, into <code>/hooks/deploy</code>. {deploy_note}</p></form>
"""

CONFIRM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · ZZIK Ops Bot demo</title><style>{style}</style></head>
<body><section class="modal confirm" role="alertdialog" aria-labelledby="confirm-title">
<h2 id="confirm-title">{title}</h2><div class="text">{text}</div>
<form method="post" action="/act"><input type="hidden" name="pending" value="{token}">
<button type="submit" class="btn primary">{yes}</button>
<button type="submit" name="deny" value="1" class="btn">{no}</button></form>
<p><a href="{back}">Back to the channel</a></p></section></body></html>
"""

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d1c1d;background:#fff}
.top{display:flex;gap:1em;align-items:center;justify-content:space-between;background:#3f0e40;color:#fff;
  padding:.5em 1em}
.top h1{font-size:1.1em;margin:0}.top label{color:#fff}
.layout{display:grid;grid-template-columns:14em 1fr 16em;gap:1em;padding:1em}
nav ul{list-style:none;padding:0;margin:0}nav li{margin:.2em 0}nav a[aria-current]{font-weight:bold}
nav .count{color:#555;font-size:.85em}
main{min-width:0}.msg{border-bottom:1px solid #eee;padding:.5em 0;overflow-wrap:anywhere}
.msg header{font-size:.9em}.msg time,.edited,.only{color:#555;font-size:.85em}
.ephemeral{background:#f4f8ff;border-left:3px solid #1264a3;padding-left:.5em}
.thread{margin-left:2em;border-left:2px solid #ddd;padding-left:.75em}
.text,.field{white-space:pre-wrap}.fields{display:grid;grid-template-columns:1fr 1fr;gap:.25em 1em}
.context{color:#555;font-size:.85em}.header{margin:.3em 0}
.quote{border-left:3px solid #ccc;padding-left:.5em;display:inline-block}
.mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px}.broadcast{background:#fff3c4;color:#6b4f00}
code,pre{background:#f6f6f6;border:1px solid #ddd;border-radius:3px;padding:0 3px}pre{padding:.5em;white-space:pre-wrap}
.actions,.accessory{display:flex;flex-wrap:wrap;gap:.4em;margin:.3em 0;align-items:center}
.btn{font:inherit;padding:.25em .8em;border:1px solid #bbb;border-radius:4px;background:#fff;cursor:pointer}
.btn.primary{background:#007a5a;color:#fff;border-color:#007a5a}.btn.danger{background:#e01e5a;color:#fff;border-color:#e01e5a}
.btn:focus-visible,a:focus-visible,input:focus-visible,select:focus-visible,textarea:focus-visible{
  outline:3px solid #1264a3;outline-offset:1px}
.choices{display:flex;flex-direction:column;gap:.2em}.choice{display:block}.choices .apply{align-self:flex-start}
.modal{border:2px solid #3f0e40;border-radius:8px;padding:1em;margin:0 0 1em;background:#fafafa;max-width:40em}
.input{margin:.6em 0;border:0;padding:0}.input label,.input legend{display:block;font-weight:bold}
.input input[type=text],.input textarea,.input select{width:100%;box-sizing:border-box}
.error{color:#b00020;font-weight:bold}.hint{color:#555;font-size:.85em}.optional{font-weight:normal;color:#555}
.flash{background:#fff8e1;border:1px solid #e6c200;padding:.25em .75em;margin-bottom:1em}
.composer{position:sticky;bottom:0;background:#fff;border-top:1px solid #ddd;padding:.5em 0;margin-top:1em}
.attachment{border-left:4px solid #ddd;padding-left:.5em;margin:.3em 0}
aside form{margin-bottom:1em}.empty{color:#555}
@media (max-width:900px){.layout{grid-template-columns:1fr}}
"""
PAGE = PAGE.replace("{style}", STYLE.replace("{", "{{").replace("}", "}}"))
CONFIRM = CONFIRM.replace("{style}", STYLE.replace("{", "{{").replace("}", "}}"))
