"""`zzik-bot demo` over plain HTTP (no browser, no JavaScript): the page escapes everything it shows, its forms
work as forms (POST, then a redirect back), and what it sends the bot is what Slack sends: Slack-encoded command
text, block_actions and view_submission payloads, signed hooks. The bot is the real one, in this process."""

from __future__ import annotations

import html
import json
import pathlib
import re
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import pytest

from bot.demo import run
from bot.demo.page import Demo, Secrets
from bot.demo.render import EMOJI, Renderer
from bot.demo.standin import Answering, Modal, StandIn
from tests.conftest import eventually
from tests.processes import scratch_database

INCIDENTS, ALERTS = "C0INCIDENTS", "C0ALERTS"
ACKNOWLEDGED = "SELECT acknowledged_by FROM incidents WHERE acknowledged_at IS NOT NULL"
HOSTILE = '<script>window.__xss = 1</script><img src=x onerror="alert(1)"> & "quoted"'


@dataclass
class RunningDemo:
    running: run.Running
    url: str
    db: str
    http: aiohttp.ClientSession

    async def post(self, path: str, **form: str) -> str:
        """POST a form as a browser without JavaScript does; the page answers with a redirect (303) back."""
        async with self.http.post(self.url + path, data=form, allow_redirects=False) as answer:
            assert answer.status == 303, (answer.status, await answer.text())
            return answer.headers["Location"]

    async def page(self, user: str, channel: str) -> str:
        async with self.http.get(self.url + "/", params={"as": user, "c": channel}) as answer:
            assert answer.status == 200 and answer.content_type == "text/html"
            return await answer.text()

    async def fetch(self, query: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.db)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()


@pytest.fixture
async def demo(pg_dsn: str) -> AsyncIterator[RunningDemo]:
    async with scratch_database(pg_dsn) as url:
        sock = run.loopback_socket(0)
        running = await run.start(url, sock, configure_logging=False)
        try:
            async with aiohttp.ClientSession() as http:
                yield RunningDemo(running, f"http://127.0.0.1:{sock.getsockname()[1]}", url, http)
        finally:
            await running.stop()


def form_of(page: str, containing: str) -> dict[str, str]:
    """The hidden fields of the message form whose text contains `containing`."""
    for form in re.findall(r'<form method="post" action="/act".*?</form>', page, re.DOTALL):
        if containing in form:
            return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form))
    raise AssertionError(f"no message form with {containing!r}")


def messages(page: str) -> str:
    """The channel's messages, without the rest of the page."""
    return page[page.index('<div class="messages"') : page.index('<div id="latest">')]


async def _messages(page: Any) -> str:
    return messages(await page)


def button(page: str, label: str) -> str:
    """The `act` value of the (first) button labelled `label`."""
    found = re.search(rf'<button type="submit" name="act" value="([^"]+)"[^>]*>{re.escape(label)}</button>', page)
    assert found, f"no button {label!r}"
    return html.unescape(found[1])


def incident_channel(demo: RunningDemo) -> str:
    return next(c["id"] for c in demo.running.standin.channels.values() if c["name"].startswith("inc-1-"))


async def test_the_page_escapes_what_it_shows_and_the_command_goes_as_slack_encodes_it(demo: RunningDemo) -> None:
    back = await demo.post("/command", **{"as": "U0DAVE", "c": INCIDENTS, "text": f"/incident p1 {HOSTILE} @bob"})
    assert back == f"/?c={INCIDENTS}&as=U0DAVE#latest"
    # The bot got the text as Slack sends it with should_escape: & < > escaped, @bob a mention.
    rows = await eventually(lambda: demo.fetch("SELECT title, reporter FROM incidents"))
    assert rows[0]["reporter"] == "U0DAVE"
    assert rows[0]["title"] == (
        '&lt;script&gt;window.__xss = 1&lt;/script&gt;&lt;img src=x onerror="alert(1)"&gt; &amp; "quoted" <@U0BOB|bob>'
    )
    page = messages(await eventually(lambda: _when(demo.page("U0DAVE", INCIDENTS), "INC-1 · P1 · ")))
    # Shown as text: Slack's entities once decoded, then HTML-escaped; no element of the text's own.
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
    assert "&amp; &quot;quoted&quot;" in page and "&amp;amp;" not in page
    whole = await demo.page("U0DAVE", INCIDENTS)
    assert whole.count("<script") == 1 and "<img" not in whole  # the page's own refresh script only
    assert '<span class="mention">@bob</span>' in page
    # The declaring person's ephemeral answer is theirs alone.
    page = await eventually(lambda: _when(demo.page("U0DAVE", INCIDENTS), "Only visible to you"))
    assert "Declared <b>INC-1</b> (P1)" in page
    assert "Only visible to you" not in await demo.page("U0ALICE", INCIDENTS)


async def _when(page: Any, text: str) -> str | None:
    shown = await page
    return shown if text in shown else None


async def test_acknowledging_with_the_button_without_javascript(demo: RunningDemo) -> None:
    await demo.post("/command", **{"as": "U0DAVE", "c": INCIDENTS, "text": "/incident p1 Search is down"})
    page = await eventually(lambda: _when(demo.page("U0ALICE", INCIDENTS), "Acknowledge</button>"))
    fields = form_of(page, "Search is down")
    assert fields["as"] == "U0ALICE" and fields["where"].startswith(f"msg:{INCIDENTS}:")
    await demo.post("/act", **fields, act=button(page, "Acknowledge"))
    rows = await eventually(lambda: demo.fetch(ACKNOWLEDGED))
    assert rows[0]["acknowledged_by"] == "U0ALICE"
    # The announcement is edited in place (chat.update), and the answer is Alice's alone.
    page = await eventually(lambda: _when(demo.page("U0ALICE", INCIDENTS), "You acknowledged INC-1."))
    assert '<span class="edited">(edited)</span>' in page
    assert "You acknowledged INC-1." not in await demo.page("U0DAVE", INCIDENTS)
    # The kickoff is in the incident's own channel.
    assert "INC-1" in await demo.page("U0ALICE", incident_channel(demo))


async def test_a_click_on_a_stale_page_is_refused_not_taken_as_another_button(demo: RunningDemo) -> None:
    await demo.post("/command", **{"as": "U0DAVE", "c": INCIDENTS, "text": "/incident p1 Search is down"})
    stale = await eventually(lambda: _when(demo.page("U0BOB", INCIDENTS), "Acknowledge</button>"))
    fields, acknowledge = form_of(stale, "Search is down"), button(stale, "Acknowledge")
    await demo.post("/act", **{**fields, "as": "U0ALICE"}, act=acknowledge)
    await eventually(lambda: demo.fetch(ACKNOWLEDGED))
    now = await eventually(lambda: _when(demo.page("U0ALICE", INCIDENTS), "You acknowledged INC-1."))
    refs = [json.loads(html.unescape(v)) for v in re.findall(r'name="act" value="([^"]+)"', messages(now))]
    ref = json.loads(acknowledge)[0]
    assert [a for r, a, *_ in refs if r == ref and a != json.loads(acknowledge)[1]]  # another button is there now
    sent = len([c for c in demo.running.standin.calls if c.method == "chat.update"])
    # Bob's page still shows Acknowledge where the message now has another button: his click sends nothing.
    await demo.post("/act", **fields, act=acknowledge)
    page = await demo.page("U0BOB", INCIDENTS)
    assert "That message has changed since the page was shown" in page
    assert not [e for e in demo.running.standin.ephemerals if e.user == "U0BOB"]
    assert (await demo.fetch("SELECT commander FROM incidents"))[0]["commander"] != "U0BOB"
    assert len([c for c in demo.running.standin.calls if c.method == "chat.update"]) == sent
    # A choice no longer offered (an option value the element does not have) is refused the same way.
    await demo.post("/act", **fields, act=json.dumps(["0.0", "nope", "gone"]))
    assert "That message has changed" in await demo.page("U0BOB", INCIDENTS)


async def test_a_modal_is_a_form_and_the_bots_errors_are_shown_on_it(demo: RunningDemo) -> None:
    await demo.post("/command", **{"as": "U0CAROL", "c": INCIDENTS, "text": "/incident"})
    page = await eventually(lambda: _when(demo.page("U0CAROL", INCIDENTS), 'role="dialog"'))
    modal = re.search(r'<section class="modal".*?</section>', page, re.DOTALL)
    assert modal and "Declare incident" in modal[0]
    assert 'role="dialog"' not in await demo.page("U0DAVE", INCIDENTS)  # only the person who asked sees it
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', modal[0]))
    title, severity = re.findall(r'<label for="(s\.\d+\.0)">(?:Title|Severity)</label>', modal[0])
    p2 = re.search(r'<option value="([^"]+)">P2 ', modal[0])
    assert p2
    # Empty: refused by the "client", as Slack's refuses a required field left empty (nothing sent).
    await demo.post("/submit", **hidden, **{severity: p2[1]})
    page = await demo.page("U0CAROL", INCIDENTS)
    assert "Please complete this required field." in page
    # Blank: the bot's own `response_action: errors`, shown on the form, which stays open with what was typed.
    await demo.post("/submit", **hidden, **{title: "   ", severity: p2[1]})
    page = await demo.page("U0CAROL", INCIDENTS)
    assert "a title is missing" in html.unescape(page) and 'role="dialog"' in page
    # Filled in: a view_submission with state.values as Slack builds them; the modal closes, INC-1 is declared.
    await demo.post("/submit", **hidden, **{title: "Checkout <slow> & failing", severity: p2[1]})
    rows = await eventually(lambda: demo.fetch("SELECT title, severity FROM incidents"))
    assert (rows[0]["title"], rows[0]["severity"]) == ("Checkout &lt;slow&gt; &amp; failing", "P2")
    page = await eventually(lambda: _when(demo.page("U0CAROL", INCIDENTS), "Checkout &lt;slow&gt; &amp; failing"))
    assert 'role="dialog"' not in page


async def test_the_sample_alert_pagerduty_acknowledgement_and_pipeline_callback(demo: RunningDemo) -> None:
    back = await demo.post("/sample/alert", **{"as": "U0ALICE", "c": INCIDENTS})
    assert back.startswith(f"/?c={ALERTS}&")
    assert "/hooks/alertmanager: HTTP 200" in await demo.page("U0ALICE", ALERTS)  # a note, shown once
    await eventually(lambda: _when(_messages(demo.page("U0ALICE", ALERTS)), "P1 · HighErrorRate</b>"))
    # A P1 is paged in (the stand-in of) PagerDuty; PagerDuty's signed acknowledgement acknowledges it in Slack.
    await demo.post("/command", **{"as": "U0DAVE", "c": INCIDENTS, "text": "/incident p1 Login fails"})
    await eventually(lambda: "INC-1" in demo.running.page.paged)
    await demo.post("/sample/pagerduty", **{"as": "U0BOB", "c": INCIDENTS})
    rows = await eventually(lambda: demo.fetch(ACKNOWLEDGED))
    assert rows[0]["acknowledged_by"] == "U0BOB"  # pagerduty.users maps PagerDuty's user to Bob
    # The pipeline, asked to deploy by the bot, calls back signed.
    await demo.post("/command", **{"as": "U0BOB", "c": "C0DEPLOYS", "text": "/deploy staging v1.4.2"})
    page = await eventually(lambda: _when(demo.page("U0BOB", "C0DEPLOYS"), "Start deploy</button>"))
    fields = form_of(page, "Pre-deployment checklist")
    ticks = re.search(r'<div class="choices checkboxes" data-apply="([\d.]+)">(.*?)</div>', page, re.DOTALL)
    assert ticks
    values = [html.unescape(v) for v in re.findall(r'type="checkbox" [^>]*value="([^"]*)"', ticks[2])]
    assert len(values) == 7
    # Ticking the checklist: checkboxes and their Apply button send Slack's whole selection at once.
    async with demo.http.post(
        demo.url + "/act",
        data=[*fields.items(), ("act", button(ticks[2], "Apply")), *((f"s.{ticks[1]}", v) for v in values)],
        allow_redirects=False,
    ) as answer:
        assert answer.status == 303
    page = await eventually(lambda: _when(demo.page("U0BOB", "C0DEPLOYS"), "(7/7)"))
    back = await demo.post("/act", **form_of(page, "Pre-deployment checklist"), act=button(page, "Start deploy"))
    if back.startswith("/confirm"):  # a confirm dialog first: its page, then its Confirm button
        token = re.search(r'name="pending" value="([^"]+)"', await (await demo.http.get(demo.url + back)).text())
        assert token
        await demo.post("/act", pending=token[1])
    await eventually(lambda: demo.running.page.deploys)
    await demo.post("/sample/deploy", **{"as": "U0BOB", "c": "C0DEPLOYS", "status": "succeeded"})
    rows = await eventually(lambda: demo.fetch("SELECT status FROM deploys WHERE status <> 'running'"))
    assert rows[0]["status"] == "succeeded"


async def test_a_button_with_a_confirm_dialog_asks_first(demo: RunningDemo) -> None:
    # A message with a confirm dialog on its button, posted through the stand-in's Web API as the bot would.
    confirm = {
        "title": {"type": "plain_text", "text": "Silence for 1 h?"},
        "text": {"type": "mrkdwn", "text": "Alertmanager will *not* notify <this> alert."},
        "confirm": {"type": "plain_text", "text": "Silence"},
        "deny": {"type": "plain_text", "text": "Keep"},
    }
    element = {"type": "button", "text": {"type": "plain_text", "text": "Silence 1 h"}, "action_id": "demo_x"}
    blocks = [{"type": "actions", "elements": [{**element, "confirm": confirm}]}]
    async with demo.http.post(
        demo.running.standin.url + "chat.postMessage", json={"channel": ALERTS, "text": "x", "blocks": blocks}
    ) as answer:
        ts = (await answer.json())["ts"]
    fields = {"as": "U0ALICE", "c": ALERTS, "where": f"msg:{ALERTS}:{ts}", "act": json.dumps(["0.0", "demo_x"])}
    asking = await demo.post("/act", **fields)
    assert asking.startswith("/confirm?")
    async with demo.http.get(demo.url + asking) as answer:
        dialog = await answer.text()
    assert "Silence for 1 h?" in dialog and 'role="alertdialog"' in dialog
    assert "<b>not</b> notify &lt;this&gt; alert." in dialog and ">Keep</button>" in dialog
    token = re.search(r'name="pending" value="([^"]+)"', dialog)
    assert token
    # Keep (deny): nothing is sent. Silence (confirm): the click goes to the bot, which answers Alice alone.
    await demo.post("/act", pending=token[1], deny="1")
    assert not [e for e in demo.running.standin.ephemerals if e.user == "U0ALICE"]
    await demo.post("/act", pending=(await _token(demo, fields)))
    said = await eventually(lambda: [e.text for e in demo.running.standin.ephemerals if e.user == "U0ALICE"])
    assert said == ["This button is not handled by this version of the bot."]
    # What the stand-in refuses as Slack would is shown on the page (a bug of the bot's, for whoever watches).
    assert "Refused as Slack would" not in await demo.page("U0ALICE", ALERTS)
    async with demo.http.post(
        demo.running.standin.url + "chat.postMessage", json={"channel": ALERTS, "blocks": [{"type": "divider"}] * 51}
    ) as answer:
        assert (await answer.json())["error"] == "invalid_blocks"
    page = await demo.page("U0ALICE", ALERTS)
    assert "Refused as Slack would" in page and "chat.postMessage: 51 blocks (at most 50)" in page


async def _token(demo: RunningDemo, fields: dict[str, str]) -> str:
    asking = await demo.post("/act", **fields)
    async with demo.http.get(demo.url + asking) as answer:
        found = re.search(r'name="pending" value="([^"]+)"', await answer.text())
    assert found
    return found[1]


async def test_the_home_tab_is_opened_as_slack_opens_it(demo: RunningDemo) -> None:
    async with demo.http.get(
        demo.url + "/", params={"c": "home", "as": "U0BOB", "open": "1"}, allow_redirects=False
    ) as answer:  # app_home_opened goes to the bot, then the tab is shown (its refreshes send nothing)
        assert (answer.status, answer.headers["Location"]) == (303, "/?c=home&as=U0BOB")
    page = messages(await eventually(lambda: _when(demo.page("U0BOB", "home"), "On call now")))
    assert '<b>Secondary:</b> <span class="mention">@bob</span>' in page
    assert "On call now" not in messages(await demo.page("U0ALICE", "home"))  # Alice has not opened hers


async def test_thread_replies_are_shown_under_their_message(demo: RunningDemo) -> None:
    async def post(**args: Any) -> dict[str, Any]:
        async with demo.http.post(demo.running.standin.url + "chat.postMessage", json=args) as answer:
            return await answer.json()

    parent = await post(channel="#zzik-dev", text="parent *one*")
    await post(channel="#zzik-dev", text="later, in the channel")
    await post(channel=parent["channel"], thread_ts=parent["ts"], text="a reply in its thread")
    page = messages(await demo.page("U0DAVE", parent["channel"]))
    assert page.index("parent <b>one</b>") < page.index('<div class="thread"') < page.index("a reply in its thread")
    assert page.index("a reply in its thread") < page.index("later, in the channel")


def test_mrkdwn_is_escaped_before_it_is_formatted() -> None:
    names = {"U0ALICE": "alice"}
    renderer = Renderer(names.get, {"C0ALERTS": "zzik-alerts"}.get)
    shown = renderer.mrkdwn(
        "*bold* _it_ ~gone~ `a<b>` <@U0ALICE> <#C0ALERTS> <!here> <https://x.example/?a=1&amp;b=2|the &lt;docs&gt;> "
        '<javascript:alert(1)|click> <script>x</script> &lt;img onerror="y"&gt;'
    )
    assert "<b>bold</b> <i>it</i> <s>gone</s> <code>a&lt;b&gt;</code>" in shown
    assert '<span class="mention">@alice</span> <span class="mention">#zzik-alerts</span>' in shown
    assert '<span class="mention broadcast">@here</span>' in shown
    assert '<a href="https://x.example/?a=1&amp;b=2" rel="noopener noreferrer">the &lt;docs&gt;</a>' in shown
    assert "&lt;javascript:alert(1)|click&gt;" in shown and 'href="javascript' not in shown
    assert "&lt;script&gt;x&lt;/script&gt;" in shown and "&lt;img onerror=&quot;y&quot;&gt;" in shown
    assert renderer.text({"type": "plain_text", "text": "*not bold* <b>"}) == "*not bold* &lt;b&gt;"


def test_labels_of_unknown_mentions_are_escaped_once() -> None:
    renderer = Renderer({}.get, {}.get)
    shown = renderer.mrkdwn("<@U0NOPE|a&amp;b> <#C0NOPE|x&lt;y>")
    assert shown == '<span class="mention">@a&amp;b</span> <span class="mention">#x&lt;y</span>'


def test_tel_links_are_links_as_mailto_is() -> None:
    renderer = Renderer({}.get, {}.get)
    assert renderer.mrkdwn("<tel:+15551234567|+1 555 123 4567> <mailto:a@x.example|a>") == (
        '<a href="tel:+15551234567" rel="noopener noreferrer">+1 555 123 4567</a> '
        '<a href="mailto:a@x.example" rel="noopener noreferrer">a</a>'
    )


async def test_the_stand_in_refuses_what_slack_refuses() -> None:
    standin = StandIn()
    standin.add_user("U0ALICE", "alice")
    await standin.start()
    try:
        async with aiohttp.ClientSession() as http:

            async def call(method: str, **args: Any) -> dict[str, Any]:
                async with http.post(standin.url + method, json=args) as answer:
                    return await answer.json()

            view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
            assert (await call("views.open", trigger_id="made.up", view=view))["error"] == "invalid_trigger_id"
            trigger = standin.new_trigger("U0ALICE")
            assert (await call("views.open", trigger_id=trigger, view=view))["ok"]
            assert (await call("views.open", trigger_id=trigger, view=view))["error"] == "exchanged_trigger_id"
            # The fake's own checks (bot/fakeslack.py), shared: too many blocks, a channel by name where an id is due.
            too_many = [{"type": "divider"}] * 51
            assert (await call("chat.postMessage", channel="zzik-alerts", blocks=too_many))["error"] == "invalid_blocks"
            posted = await call("chat.postMessage", channel="#zzik-alerts", text="one")
            assert posted["channel"] == ALERTS
            assert (await call("chat.update", channel="zzik-alerts", ts=posted["ts"], text="two"))["error"] == (
                "channel_not_found"
            )
            assert (await call("chat.update", channel=ALERTS, ts="1.2", text="two"))["error"] == "message_not_found"
            assert (await call("chat.update", channel=ALERTS, ts=posted["ts"], text="two"))["ok"]
            [message] = standin.history[ALERTS]
            assert (message.text, message.edited) == ("two", True)
    finally:
        await standin.stop()


async def test_two_demos_at_once_each_have_their_own_database(pg_dsn: str) -> None:
    one, two = run.loopback_socket(0), run.loopback_socket(0)
    ports = [one.getsockname()[1], two.getsockname()[1]]
    try:
        first = await run.fresh_database(pg_dsn, ports[0])
        conn = await asyncpg.connect(first)
        try:
            await conn.execute("CREATE TABLE kept (x int)")
            second = await run.fresh_database(pg_dsn, ports[1])  # the second demo starts while the first runs
            # (the address keeps its query: the suite's embedded server is reached as `?host=<socket dir>`)
            names = [urllib.parse.urlsplit(dsn).path for dsn in (first, second)]
            assert names == [f"/zzik_demo_{ports[0]}", f"/zzik_demo_{ports[1]}"]
            assert await conn.fetchval("SELECT count(*) FROM kept") == 0  # the first's connection and data live on
        finally:
            await conn.close()
    finally:
        one.close()
        two.close()
        admin = await asyncpg.connect(pg_dsn)
        try:
            for port in ports:
                await admin.execute(f'DROP DATABASE IF EXISTS "zzik_demo_{port}" WITH (FORCE)')
        finally:
            await admin.close()


def test_an_ack_or_a_modal_answer_slack_would_refuse_is_refused_and_shows_nothing() -> None:
    standin = StandIn()
    demo = Demo(standin, "http://127.0.0.1:1", Secrets("s", "w", "r", "p"))
    me = demo.person("U0ALICE")
    too_many = json.dumps({"text": "x", "blocks": [{"type": "divider"}] * 51})
    demo.take_ack(me, Answering(me.id, INCIDENTS), 200, too_many, "`/incident`")
    assert not standin.ephemerals and not standin.history
    assert standin.refused == [("ack", ["51 blocks (at most 50)"])]
    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
    modal = Modal("V1", me.id, view)
    standin.modals[me.id] = [modal]
    long_title = {**view, "title": {"type": "plain_text", "text": "a title longer than Slack's 24"}}
    demo.take_view_answer(me, modal, json.dumps({"response_action": "update", "view": long_title}))
    assert standin.modals[me.id] == [modal] and modal.view == view  # kept as it was
    assert standin.refused[-1][0] == "view_submission response_action update"
    # What Slack takes is still taken.
    demo.take_ack(me, Answering(me.id, INCIDENTS), 200, json.dumps({"text": "fine"}), "`/incident`")
    assert [e.text for e in standin.ephemerals] == ["fine"]


# An emoji code in the bot's text: `:name:` not glued to a word, an id or a placeholder (`{id}:ack:{deadline}`).
EMOJI_CODE = re.compile(r"(?<![\w}>?:]):([a-z][a-z0-9_+-]*):(?![\w{<])")


def test_every_emoji_code_the_bot_uses_is_shown_as_an_emoji() -> None:
    root = pathlib.Path(__file__).parent.parent / "bot"
    used = {
        name
        for path in root.rglob("*")
        if path.suffix in (".py", ".yml")
        for name in EMOJI_CODE.findall(path.read_text())
    }
    assert {"mega", "ambulance", "books", "white_check_mark"} <= used  # the grep finds them
    assert sorted(used - EMOJI.keys()) == []
    assert Renderer({}.get, {}.get).mrkdwn(":mega: :ambulance: :books:") == "📣 🚑 📚"


async def test_only_the_acting_persons_dm_with_the_bot_is_listed_and_shown(demo: RunningDemo) -> None:
    async with demo.http.post(
        demo.running.standin.url + "chat.postMessage", json={"channel": "U0BOB", "text": "Bob alone *secret*"}
    ) as answer:
        posted = await answer.json()
    assert posted["channel"] == "DU0BOB"
    assert "Bob alone <b>secret</b>" in messages(await demo.page("U0BOB", "DU0BOB"))
    page = await demo.page("U0ALICE", INCIDENTS)
    assert "c=DU0ALICE" in page and "c=DU0BOB" not in page and "DM · ZZIK Ops Bot" in page
    async with demo.http.get(demo.url + "/", params={"as": "U0ALICE", "c": "DU0BOB"}, allow_redirects=False) as got:
        assert (got.status, got.headers["Location"]) == (303, "/?c=DU0ALICE&as=U0ALICE")
    assert "secret" not in await demo.page("U0ALICE", "DU0ALICE")
    # Nor can Alice click in it (a form made up from Bob's page).
    blocks = [{"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Go"}}]}]
    async with demo.http.post(
        demo.running.standin.url + "chat.postMessage", json={"channel": "DU0BOB", "text": "x", "blocks": blocks}
    ) as answer:
        ts = (await answer.json())["ts"]
    act = button(await demo.page("U0BOB", "DU0BOB"), "Go")
    await demo.post("/act", **{"as": "U0ALICE", "c": "DU0ALICE", "where": f"msg:DU0BOB:{ts}", "act": act})
    assert "That message has changed" in await demo.page("U0ALICE", "DU0ALICE")
    assert not demo.running.standin.ephemerals


async def test_the_composer_sends_only_the_apps_commands_in_a_known_channel(demo: RunningDemo) -> None:
    await demo.post("/command", **{"as": "U0DAVE", "c": INCIDENTS, "text": "/foo bar"})
    page = await demo.page("U0DAVE", INCIDENTS)
    assert "/foo is not a valid command." in page and "/incident" in page
    assert "/foo is not a valid command." not in await demo.page("U0ALICE", INCIDENTS)  # Dave's alone
    await demo.post("/command", **{"as": "U0DAVE", "c": "C0NOPE", "text": "/incident p1 Nowhere"})
    assert "There is no such channel here" in await demo.page("U0DAVE", INCIDENTS)
    await demo.post("/command", **{"as": "U0DAVE", "c": "DU0BOB", "text": "/incident list"})
    assert "There is no such channel here" in await demo.page("U0DAVE", INCIDENTS)
    # Nothing reached the bot: it answers every command it gets (here it got none).
    await demo.post("/command", **{"as": "U0DAVE", "c": INCIDENTS, "text": "/incident list"})
    said = await eventually(lambda: [e.text for e in demo.running.standin.ephemerals if e.user == "U0DAVE"])
    assert len(said) == 1
    assert not await demo.fetch("SELECT id FROM incidents")


@pytest.mark.parametrize("port", ["99999", "-1", "eighty"])
def test_a_port_out_of_range_is_refused_in_one_line(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.__main__ import main

    with pytest.raises(SystemExit) as stopped:
        main(["demo", "--port", port])
    assert stopped.value.code == 2
    said = capsys.readouterr().err
    assert "argument --port:" in said and "is not a port number" in said and "Traceback" not in said


async def test_only_this_machines_pages_may_use_the_page(demo: RunningDemo) -> None:
    port = demo.url.rsplit(":", 1)[1]
    async with demo.http.get(demo.url + "/", headers={"Host": f"evil.example:{port}"}) as answer:
        assert answer.status == 403 and "Forbidden" in await answer.text()
    async with demo.http.get(demo.url + "/", headers={"Host": f"localhost:{port}"}) as answer:
        assert answer.status == 200
    command = {"as": "U0DAVE", "c": INCIDENTS, "text": "/incident p1 From another site"}
    for origin in ("http://evil.example", f"http://127.0.0.1:{int(port) + 1}", "null", f"https://localhost:{port}"):
        async with demo.http.post(
            demo.url + "/command", data=command, headers={"Origin": origin}, allow_redirects=False
        ) as answer:
            assert answer.status == 403, origin
    async with demo.http.post(
        demo.url + "/command", data=command, headers={"Origin": f"http://localhost:{port}"}, allow_redirects=False
    ) as answer:
        assert answer.status == 303
    rows = await eventually(lambda: demo.fetch("SELECT title FROM incidents"))
    assert [r["title"] for r in rows] == ["From another site"]  # only the page's own form's


async def test_a_choice_no_longer_offered_is_refused_and_one_offered_is_sent_by_its_value(demo: RunningDemo) -> None:
    def option(value: str) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": value.title()}, "value": value}

    overflow = {"type": "overflow", "action_id": "demo_more", "options": [option("snooze"), option("mute")]}
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "pick"}, "accessory": overflow}]
    async with demo.http.post(
        demo.running.standin.url + "chat.postMessage", json={"channel": ALERTS, "text": "x", "blocks": blocks}
    ) as answer:
        ts = (await answer.json())["ts"]
    page = await demo.page("U0ALICE", ALERTS)
    assert button(page, "Mute") == json.dumps(["0.a", "demo_more", "mute"])
    fields = {"as": "U0ALICE", "c": ALERTS, "where": f"msg:{ALERTS}:{ts}"}
    await demo.post("/act", **fields, act=json.dumps(["0.a", "demo_more", "page"]))  # an option it never had
    assert "That message has changed" in await demo.page("U0ALICE", ALERTS)
    assert not demo.running.standin.ephemerals
    await demo.post("/act", **fields, act=button(page, "Mute"))
    await eventually(lambda: [e for e in demo.running.standin.ephemerals if e.user == "U0ALICE"])
