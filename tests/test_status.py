"""The status domain through signed requests: /incident public and its form, the stakeholders' posts, the
manager's reminder, and the public page's routes (HTML, JSON, Atom, ETag, escaping)."""

from __future__ import annotations

import json
from datetime import timedelta
from xml.etree import ElementTree as ET

import aiohttp
import pytest
from multidict import CIMultiDict

from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually
from tests.pgproxy import PgProxy

INC = "C00000001"  # the first incident's channel in the fake Slack


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(
        config_with(oncall=ROTA, permissions={"deployers": [], "incident_managers": ["U0DAVE"]}),
        zzik_public_url="https://status.zzik.example",
    )


def posts_to(fake: FakeSlack, channel: str) -> list[dict]:
    return fake.posted_in(channel)


def reminders(fake: FakeSlack) -> list[dict]:
    return [c for c in posts_to(fake, "U0MGR") if c["text"].startswith(":bell:")]


async def run_jobs(bot: RunningBot) -> None:
    while await bot.tick():
        pass


async def timeline(bot: RunningBot) -> list[str]:
    rows = await bot.db.fetch("SELECT kind, text FROM incident_events ORDER BY at, id")
    return [f"{r['kind']}: {r['text']}" for r in rows]


async def get(bot: RunningBot, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    async with aiohttp.ClientSession() as session, session.get(bot.url + path, headers=headers or {}) as r:
        return r.status, CIMultiDict(r.headers), await r.read()


def form_values(title: str, status: str, components: list[str]) -> dict:
    return {
        "public_title": {"value": {"value": title}},
        "public_status": {"value": {"selected_option": {"value": status} if status else None}},
        "public_components": {"value": {"selected_options": [{"value": c} for c in components]}},
    }


async def declare_and_publish(
    bot: RunningBot, fake: FakeSlack, *, severity: str = "p1", title: str = "Primary DB down", text: str = "x"
) -> dict:
    await ask(fake, bot, "/incident", f"{severity} {title}", user="U0ALICE")
    reply = await bot.slack.command("/incident", f"public {text}", user="U0ALICE", channel=INC)
    assert reply.status == 200
    [opened] = await eventually(lambda: fake.calls_to("views.open"))
    return opened["view"]


async def publish(bot: RunningBot, view: dict, title: str, status: str, components: list[str]) -> None:
    """Alice submits the Publish form; returns once the update is stored."""
    before = await bot.db.fetchval("SELECT count(*) FROM status_updates")
    values = form_values(title, status, components)
    await bot.slack.view_submission("status_publish", values, user="U0ALICE", private_metadata=view["private_metadata"])
    await eventually(lambda: bot.db.fetchval("SELECT count(*) > $1 FROM status_updates", before))


async def preview_of(bot: RunningBot, fake: FakeSlack, text: str, *, user: str = "U0ALICE") -> dict:
    """`/incident public <text>` after the first update: the ephemeral preview (text and blocks) it answers."""
    before = len(fake.calls_to("response_url"))
    reply = await bot.slack.command("/incident", f"public {text}", user=user, channel=INC)
    assert reply.status == 200
    answer = reply.json if reply.text else (await eventually(lambda: fake.calls_to("response_url")[before:]))[0]
    assert answer["response_type"] == "ephemeral", answer
    return answer


def preview_button(answer: dict, action_id: str) -> dict:
    return next(
        e
        for b in answer.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == action_id
    )


async def confirm(bot: RunningBot, fake: FakeSlack, answer: dict, *, user: str = "U0ALICE") -> str:
    """Press *Publish* under a preview; returns the ephemeral answer once the request is handled."""
    before = len(fake.calls_to("response_url"))
    button = preview_button(answer, "status_publish_update")
    reply = await bot.slack.action(button["action_id"], button["value"], user=user, channel=INC)
    assert reply.status == 200
    if reply.text and reply.json.get("text"):
        return flatten(reply.json)
    return flatten((await eventually(lambda: fake.calls_to("response_url")[before:]))[0])


async def test_first_public_update_opens_a_form_then_publishes(bot: RunningBot, fake_slack: FakeSlack) -> None:
    view = await declare_and_publish(
        bot, fake_slack, title="DB & cache down", text="Logins fail & pages are slow <@U0BOB|bob> @channel"
    )
    assert view["callback_id"] == "status_publish"
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["public_title"]["element"]["initial_value"] == "DB & cache down"  # decoded once, raw in a form
    assert [o["value"] for o in blocks["public_status"]["element"]["options"]] == [
        "investigating",
        "identified",
        "monitoring",
        "resolved",
    ]
    assert [o["text"]["text"] for o in blocks["public_components"]["element"]["options"]] == [
        "Web Application",
        "API Services",
        "Database",
    ]
    preview = flatten({"blocks": view["blocks"]})
    assert "Logins fail &amp; pages are slow Bob @channel" in preview and "&amp;amp;" not in preview
    assert await bot.db.fetchval("SELECT count(*) FROM status_incidents") == 0  # nothing public yet

    bad = await bot.slack.view_submission(
        "status_publish", form_values(" ", "", []), user="U0ALICE", private_metadata=view["private_metadata"]
    )
    assert set(bad.json["errors"]) == {"public_title", "public_status", "public_components"}
    assert await bot.db.fetchval("SELECT count(*) FROM status_updates") == 0

    values = form_values("Sign-in problems", "identified", ["web", "database"])
    for _ in range(2):  # a double submission publishes once
        ok = await bot.slack.view_submission(
            "status_publish", values, user="U0ALICE", view_id="VPUB1", private_metadata=view["private_metadata"]
        )
        assert ok.status == 200
    notice = await eventually(lambda: [c for c in posts_to(fake_slack, INC) if "Published to the" in c["text"]])
    assert len(notice) == 1
    assert "*Sign-in problems* — Identified (affects Web Application, Database)" in notice[0]["text"]
    row = await bot.db.fetchrow("SELECT * FROM status_incidents")
    assert (row["public_title"], row["status"], list(row["components"])) == (
        "Sign-in problems",
        "identified",
        ["web", "database"],
    )
    assert await bot.db.fetchval("SELECT count(*) FROM status_updates") == 1
    events = await timeline(bot)
    published = "published on the status page (identified): Logins fail &amp; pages are slow Bob @channel"
    assert f"public: {published}" in events
    assert "check: ✓ Communication: Update status page" in events
    # The kickoff shows the item ticked.
    kickoff = fake_slack.calls_to("chat.update")[-1]
    comms = next(b for b in kickoff["blocks"] if b.get("block_id") == "stage:2")["elements"][0]
    assert [o["text"]["text"] for o in comms["initial_options"]] == ["Update status page"]

    # Later updates are previewed first (an optional new status), and published once Publish is pressed.
    shown = await preview_of(bot, fake_slack, "monitoring Fix deployed, watching")
    assert "*Sign-in problems* — Monitoring" in flatten(shown) and "Fix deployed, watching" in flatten(shown)
    assert await bot.db.fetchval("SELECT count(*) FROM status_updates") == 1  # nothing published yet
    assert await confirm(bot, fake_slack, shown) == "Published."
    said = (await eventually(lambda: [c for c in posts_to(fake_slack, INC) if "Fix deployed" in c["text"]]))[0]
    assert "— Monitoring" in said["text"]
    assert await confirm(bot, fake_slack, shown) == "That update is published already."  # a second press
    assert len(fake_slack.calls_to("views.open")) == 1
    shown = await preview_of(bot, fake_slack, "Still watching", user="U0DAVE")  # an incident manager
    assert "— Monitoring" in flatten(shown)
    assert await confirm(bot, fake_slack, shown, user="U0DAVE") == "Published."
    assert [r["status"] for r in await bot.db.fetch("SELECT status FROM status_updates ORDER BY id")] == [
        "identified",
        "monitoring",
        "monitoring",
    ]


async def test_who_may_publish_and_bad_input(bot: RunningBot, fake_slack: FakeSlack) -> None:
    await ask(fake_slack, bot, "/incident", "p2 Search is slow", user="U0ALICE")
    said = await ask(fake_slack, bot, "/incident", "public hello", user="U0MALLORY", channel=INC)
    assert said == (
        "Only the commander (<@U0ALICE>) or whoever is on call (<@U0ALICE>, <@U0BOB>, <@U0MGR>) or a manager "
        "(<@U0DAVE>, <@U0MGR>) may publish about this incident on the status page."
    )
    said = await ask(fake_slack, bot, "/incident", "public   ", user="U0ALICE", channel=INC)
    assert "the public update text is missing" in said
    said = await ask(fake_slack, bot, "/incident", "public " + "x" * 1001, user="U0ALICE", channel=INC)
    assert "keep it to 1000" in said
    said = await ask(fake_slack, bot, "/incident", "public hello", user="U0ALICE", channel="C0GENERAL")
    assert "Run this in an incident's channel" in said
    assert fake_slack.calls_to("views.open") == []
    assert await bot.db.fetchval("SELECT count(*) FROM status_incidents") == 0
    # The audit rows are written in the background, after the answers.
    await eventually(lambda: bot.db.fetchval("SELECT count(*) = 1 FROM audit_log WHERE outcome = 'refused'"))


async def test_stakeholders_hear_declaration_updates_and_resolution(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    view = await declare_and_publish(
        bot, fake_slack, text="Some users cannot sign in. See <https://zzik.example/help|help>"
    )
    clock.advance(timedelta(minutes=5))
    await publish(bot, view, "Sign-in problems", "investigating", ["web"])
    clock.advance(timedelta(minutes=25))
    await ask(fake_slack, bot, "/incident", "resolve Failover done", user="U0ALICE", channel=INC, ephemeral=False)
    await run_jobs(bot)
    posts = [c["text"] for c in posts_to(fake_slack, "#zzik-support")]
    assert len(posts) == 3
    declared, update, resolved = posts
    assert declared.startswith(":rotating_light: *We are handling a service down or critical feature broken* (P1)")
    assert "Primary DB down" not in declared and "<#" not in declared and "<@" not in declared  # nothing internal
    assert "https://status.zzik.example/status" in declared
    assert "*Sign-in problems* — Investigating (affects Web Application)" in update
    assert "<https://zzik.example/help|help>" in update
    assert resolved.startswith(":white_check_mark: *Sign-in problems* is resolved, after 30 min.")
    # The page says resolved too, without anyone typing it.
    assert await bot.db.fetchval("SELECT status FROM status_incidents") == "resolved"
    # Jobs that run again post nothing twice.
    await bot.db.execute("UPDATE job_runs SET status = 'pending' WHERE job = 'status.stakeholders'")
    await run_jobs(bot)
    assert len(posts_to(fake_slack, "#zzik-support")) == 3

    # A P3 is not the stakeholders' business (config: P1 and P2).
    await ask(fake_slack, bot, "/incident", "p3 Typo on the pricing page", user="U0ALICE")
    await run_jobs(bot)
    assert len(posts_to(fake_slack, "#zzik-support")) == 3


async def test_a_reopened_incident_is_open_again_on_the_page_and_for_the_stakeholders(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    view = await declare_and_publish(bot, fake_slack, text="Some users cannot sign in.")
    await publish(bot, view, "Sign-in problems", "investigating", ["web"])
    clock.advance(timedelta(minutes=20))
    await ask(fake_slack, bot, "/incident", "resolve", user="U0ALICE", channel=INC, ephemeral=False)
    await run_jobs(bot)
    assert await bot.db.fetchval("SELECT status FROM status_incidents") == "resolved"

    clock.advance(timedelta(minutes=10))
    said = await ask(fake_slack, bot, "/incident", "reopen", user="U0ALICE", channel=INC, ephemeral=False)
    assert said.startswith("INC-1 is reopened")
    await run_jobs(bot)
    page = await bot.db.fetchrow("SELECT status, resolved_at FROM status_incidents")
    assert page["status"] == "investigating" and page["resolved_at"] is None
    latest = await bot.db.fetchrow("SELECT status, body FROM status_updates ORDER BY id DESC LIMIT 1")
    assert latest["status"] == "investigating" and "reopened" in latest["body"]
    status, _, body = await get(bot, "/status.json")
    assert status == 200 and json.loads(body)["incidents"][0]["status"] == "investigating"
    posts = [c["text"] for c in posts_to(fake_slack, "#zzik-support")]
    assert len(posts) == 4 and posts[-1].startswith(":rotating_light: *Sign-in problems* is not over after all")
    # The reminders start again: 30 min without a stakeholder update after the reopening.
    fake_slack.clear()
    clock.advance(timedelta(minutes=30))
    await run_jobs(bot)
    assert len(reminders(fake_slack)) == 1

    # Resolved a second time: the page and the stakeholders hear that too, once.
    await ask(fake_slack, bot, "/incident", "resolve", user="U0ALICE", channel=INC, ephemeral=False)
    await run_jobs(bot)
    await bot.db.execute("UPDATE job_runs SET status = 'pending' WHERE job = 'status.stakeholders'")
    await run_jobs(bot)
    assert await bot.db.fetchval("SELECT status FROM status_incidents") == "resolved"
    again = [c["text"] for c in posts_to(fake_slack, "#zzik-support")]
    assert len(again) == 1 and again[0].startswith(":white_check_mark: *Sign-in problems* is resolved")
    public = [t for t in await timeline(bot) if t.startswith("public: published on the status page (")]
    assert public[-3:] == [
        "public: published on the status page (resolved)",
        "public: published on the status page (investigating)",
        "public: published on the status page (resolved)",
    ]


async def test_stakeholder_post_failure_is_retried(bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock) -> None:
    await ask(fake_slack, bot, "/incident", "p2 Search is slow", user="U0ALICE")
    fake_slack.fail("chat.postMessage", error="channel_not_found")
    await run_jobs(bot)
    run = await bot.db.fetchrow("SELECT status, attempts, last_error FROM job_runs WHERE job = 'status.stakeholders'")
    assert run["status"] == "pending" and "channel_not_found" in run["last_error"]  # recorded, not done
    clock.advance(timedelta(minutes=1))
    await run_jobs(bot)
    assert (await bot.db.fetchval("SELECT status FROM job_runs WHERE job = 'status.stakeholders'")) == "done"
    assert len(posts_to(fake_slack, "#zzik-support")) == 2  # refused once, then posted
    assert await bot.db.fetchval("SELECT count(*) FROM stakeholder_posts") == 1


async def test_p1_without_stakeholder_update_reminds_the_manager(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    await ask(fake_slack, bot, "/incident", "p1 Primary DB down", user="U0ALICE")
    await run_jobs(bot)
    fake_slack.clear()
    clock.advance(timedelta(minutes=29))
    await run_jobs(bot)
    assert reminders(fake_slack) == []
    clock.advance(timedelta(minutes=1))  # 30 min without a stakeholder update
    await run_jobs(bot)
    [reminder] = reminders(fake_slack)
    assert reminder["text"].startswith(":bell: *INC-1 (P1)* has had no stakeholder update for 30 min")
    assert "`/incident public" in reminder["text"]
    assert any(t.startswith("reminder: reminded @U0MGR") for t in await timeline(bot))

    # An update resets the clock: the next reminder is 30 minutes after it, not after the last reminder.
    clock.advance(timedelta(minutes=10))
    view_said = await bot.slack.command("/incident", "public We are looking into it", user="U0ALICE", channel=INC)
    assert view_said.status == 200
    view = (await eventually(lambda: fake_slack.calls_to("views.open")))[0]["view"]
    await publish(bot, view, "Slow sign-in", "investigating", ["web"])
    clock.advance(timedelta(minutes=20))  # 60 min after declaring, 20 after the update
    await run_jobs(bot)
    assert len(reminders(fake_slack)) == 1
    clock.advance(timedelta(minutes=10))  # 30 after the update
    await run_jobs(bot)
    assert len(reminders(fake_slack)) == 2

    await ask(fake_slack, bot, "/incident", "resolve", user="U0ALICE", channel=INC, ephemeral=False)
    clock.advance(timedelta(hours=2))
    await run_jobs(bot)
    assert len(reminders(fake_slack)) == 2  # resolved: no more reminders


async def test_status_routes_json_feed_etag_and_escaping(bot: RunningBot, fake_slack: FakeSlack) -> None:
    status, headers, body = await get(bot, "/status")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "All systems operational" in body.decode()
    etag = headers["ETag"]
    status, again, body304 = await get(bot, "/status", {"If-None-Match": etag})
    assert (status, body304, again["ETag"]) == (304, b"", etag)

    view = await declare_and_publish(
        bot, fake_slack, title="x", text="Fixing <script>alert(1)</script> &amp; more 결제 장애"
    )
    await publish(bot, view, "<script>alert('t')</script> 로그인 장애", "identified", ["api"])
    status, headers, body = await get(bot, "/status", {"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag
    page = body.decode()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;t&#x27;)&lt;/script&gt; 로그인 장애" in page
    assert "Fixing &lt;script&gt;alert(1)&lt;/script&gt; &amp;amp; more 결제 장애" in page  # decoded once, escaped once
    assert "&amp;amp;amp;" not in page

    status, _, body = await get(bot, "/status.json")
    data = json.loads(body)
    assert data["status"]["indicator"] == "major"
    assert {c["id"]: c["status"] for c in data["components"]} == {
        "web": "operational",
        "api": "major",
        "database": "operational",
    }
    assert len(data["components"][0]["days"]) == 90
    [incident] = data["incidents"]
    assert incident["title"] == "<script>alert('t')</script> 로그인 장애"
    assert incident["updates"][0]["text"] == "Fixing <script>alert(1)</script> &amp; more 결제 장애"

    status, headers, body = await get(bot, "/status/feed.atom")
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    feed = ET.fromstring(body)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    [entry] = feed.findall("a:entry", ns)
    assert entry.find("a:title", ns).text == "<script>alert('t')</script> 로그인 장애: Identified"
    assert entry.find("a:content", ns).text == "Fixing <script>alert(1)</script> &amp; more 결제 장애"
    assert feed.find("a:link[@rel='self']", ns).get("href") == "https://status.zzik.example/status/feed.atom"
    status, _, _ = await get(bot, "/status/feed.atom", {"If-None-Match": headers["ETag"]})
    assert status == 304


async def test_nothing_is_public_until_published(bot: RunningBot, fake_slack: FakeSlack) -> None:
    await ask(fake_slack, bot, "/incident", "p1 Customer DB credentials leaked in logs", user="U0ALICE")
    await run_jobs(bot)
    for path in ("/status", "/status.json", "/status/feed.atom"):
        status, _, body = await get(bot, path)
        assert status == 200 and b"credentials" not in body and b"INC-1" not in body, path
    data = json.loads((await get(bot, "/status.json"))[2])
    assert data["incidents"] == [] and {c["status"] for c in data["components"]} == {"operational"}
    # The stakeholders were told in plain words, without the internal title.
    [declared] = [c["text"] for c in posts_to(fake_slack, "#zzik-support")]
    assert "credentials" not in declared


async def test_page_says_so_when_the_database_is_down(make_bot: BotFactory, proxy: PgProxy) -> None:
    bot = await make_bot(dsn=proxy.dsn)
    assert (await get(bot, "/status"))[0] == 200
    proxy.cut()
    for path in ("/status", "/status.json", "/status/feed.atom"):
        status, headers, body = await get(bot, path)
        assert status == 503 and headers["Retry-After"] == "30" and b"unavailable" in body, path
    proxy.restore()
    await eventually(lambda: _ok(bot), within=10)


async def _ok(bot: RunningBot) -> bool:
    return (await get(bot, "/status"))[0] == 200


async def test_escalated_to_p1_the_reminder_starts(bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock) -> None:
    await ask(fake_slack, bot, "/incident", "p2 Search is slow", user="U0ALICE")
    clock.advance(timedelta(minutes=40))
    await run_jobs(bot)
    assert reminders(fake_slack) == []  # P2: no stakeholder reminder
    await ask(fake_slack, bot, "/incident", "severity p1", user="U0ALICE", channel=INC, ephemeral=False)
    clock.advance(timedelta(minutes=19))  # 59 min since declaring, no stakeholder update ever
    await run_jobs(bot)
    assert reminders(fake_slack) == []
    clock.advance(timedelta(minutes=1))  # the next 30-minute mark since the declaration
    await run_jobs(bot)
    assert len(reminders(fake_slack)) == 1


async def test_a_resolution_reopened_before_its_post_is_told_as_it_was(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    await ask(fake_slack, bot, "/incident", "p1 Primary DB down", user="U0ALICE")
    await run_jobs(bot)
    clock.advance(timedelta(minutes=40))
    await ask(fake_slack, bot, "/incident", "resolve", user="U0ALICE", channel=INC, ephemeral=False)
    clock.advance(timedelta(minutes=1))
    await ask(fake_slack, bot, "/incident", "reopen", user="U0ALICE", channel=INC, ephemeral=False)
    await run_jobs(bot)  # the resolution's post runs after the reopening
    _, resolved, reopened = [c["text"] for c in posts_to(fake_slack, "#zzik-support")]
    assert resolved.startswith(":white_check_mark: The service down or critical feature broken is resolved, after 40")
    assert reopened.startswith(":rotating_light: The service down or critical feature broken is not over after all")
