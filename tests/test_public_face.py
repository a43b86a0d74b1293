"""The public face (issue 28): what the status page, status.json, the Atom feed and the stakeholders' posts show
is cleaned on the way in (no control characters, no Slack ids, no internal incident number), every update is
previewed as the public will read it, and forged alert-button values get a sentence, not an apology."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from xml.dom import minidom
from xml.etree import ElementTree as ET

import aiohttp
import asyncpg
import pytest

from bot import migrate
from bot.db import Database
from bot.errors import UNAVAILABLE
from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually
from tests.test_alerts import AUTH, grafana

SLACK_ID = re.compile(r"\b[UCWGS][0-9A-Z]{6,}\b")
ATOM = {"a": "http://www.w3.org/2005/Atom"}
PUBLIC_ID = re.compile(r"[0-9a-z]{10}")
NOT_AN_ALERT = "That button does not belong to an alert."


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(
        config_with(oncall=ROTA, permissions={"deployers": [], "incident_managers": ["U0DAVE"]}),
        zzik_public_url="https://status.zzik.example",
        zzik_alert_pace_seconds=0.02,
    )


async def get(bot: RunningBot, path: str) -> bytes:
    async with aiohttp.ClientSession() as session, session.get(bot.url + path) as r:
        assert r.status == 200, path
        return await r.read()


async def answer_to(bot: RunningBot, fake: FakeSlack, before: int, reply) -> dict:
    """What the person saw: the ack's body, else the first response_url message after `before`."""
    assert reply.status == 200
    if reply.text and reply.json.get("text"):
        return reply.json
    return (await eventually(lambda: fake.calls_to("response_url")[before:]))[0]


async def run_jobs(bot: RunningBot) -> None:
    while await bot.tick():
        pass


# -- the status page ---------------------------------------------------------------------------------------------

FIRST = (
    "Logins fail\x0b for some\x01 users. <@U0BOB> is on it, <@U0NOPE> too; see <#C1005|general> and "
    "<https://zzik.example/help|the help page> <!here>"
)
LATER = (
    "monitoring Fix\x01 deployed by <@U0CAROL|carol>; ask in <#C1006> or <!subteam^S0DEPLOY|@deployers>, "
    "<!channel> <!everyone> \x0b<https://zzik.example/status>"
)


async def test_public_text_is_cleaned_previewed_and_the_feed_stays_valid(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    # Two incidents that are never published: the public one is the third, INC-3.
    for title in ("p3 Typo on pricing", "p4 Internal dashboard slow", "p1 Sign-in broken"):
        await ask(fake_slack, bot, "/incident", title, user="U0ALICE")
    incident = await bot.db.fetchrow("SELECT id, number, channel_id FROM incidents WHERE number = 3")
    channel = incident["channel_id"]
    assert incident["id"] == 3

    # The first update: its form's preview shows the text as the public will read it.
    reply = await bot.slack.command("/incident", f"public {FIRST}", user="U0ALICE", channel=channel)
    assert reply.status == 200
    view = (await eventually(lambda: fake_slack.calls_to("views.open")))[0]["view"]
    preview = flatten({"blocks": view["blocks"]})
    cleaned = (
        "Logins fail for some users. Bob is on it, too; see #general and "
        "<https://zzik.example/help|the help page> @here"
    )
    assert cleaned in preview
    assert not SLACK_ID.search(preview) and "\x0b" not in preview and "\x01" not in preview
    values = {
        "public_title": {"value": {"value": "Sign-in\x01 problems"}},
        "public_status": {"value": {"selected_option": {"value": "investigating"}}},
        "public_components": {"value": {"selected_options": [{"value": "web"}]}},
    }
    await bot.slack.view_submission("status_publish", values, user="U0ALICE", private_metadata=view["private_metadata"])
    await eventually(lambda: bot.db.fetchval("SELECT count(*) = 1 FROM status_updates"))

    # A later update: an ephemeral preview with Publish / Edit, nothing published until Publish is pressed.
    before = len(fake_slack.calls_to("response_url"))
    reply = await bot.slack.command("/incident", f"public {LATER}", user="U0ALICE", channel=channel)
    shown = await answer_to(bot, fake_slack, before, reply)
    assert shown["response_type"] == "ephemeral"
    seen = flatten(shown)
    later = "Fix deployed by Carol; ask in #channel or @deployers, @channel @everyone <https://zzik.example/status>"
    assert "*Sign-in problems* — Monitoring" in seen and later.removesuffix(">") in seen, seen
    assert not SLACK_ID.search(seen) and "\x01" not in seen and "\x0b" not in seen
    buttons = {e["action_id"]: e for b in shown["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert [e["text"]["text"] for e in buttons.values()] == ["Publish", "Edit"]
    assert await bot.db.fetchval("SELECT count(*) FROM status_updates") == 1

    before = len(fake_slack.calls_to("response_url"))
    edit = buttons["status_edit_update"]
    reply = await bot.slack.action(edit["action_id"], edit["value"], user="U0ALICE", channel=channel)
    assert flatten(await answer_to(bot, fake_slack, before, reply)).startswith("Not published.")
    assert await bot.db.fetchval("SELECT count(*) FROM status_updates") == 1

    publish = buttons["status_publish_update"]
    before = len(fake_slack.calls_to("response_url"))
    reply = await bot.slack.action(publish["action_id"], publish["value"], user="U0ALICE", channel=channel)
    assert flatten(await answer_to(bot, fake_slack, before, reply)) == "Published."
    bodies = [r["body"] for r in await bot.db.fetch("SELECT body FROM status_updates ORDER BY id")]
    assert bodies == [cleaned, later]  # stored as previewed
    await run_jobs(bot)

    # The Atom feed is well-formed XML 1.0, for two real parsers.
    feed = await get(bot, "/status/feed.atom")
    minidom.parseString(feed)
    root = ET.fromstring(feed)
    entries = root.findall("a:entry", ATOM)
    assert [e.find("a:content", ATOM).text for e in entries] == [
        "Fix deployed by Carol; ask in #channel or @deployers, @channel @everyone https://zzik.example/status",
        "Logins fail for some users. Bob is on it, too; see #general and the help page (https://zzik.example/help) "
        "@here",
    ]
    assert entries[0].find("a:title", ATOM).text == "Sign-in problems: Monitoring"

    # The incident is known to the public by a slug of its own: never its internal id or number.
    data = json.loads(await get(bot, "/status.json"))
    [public] = data["incidents"]
    slug = public["id"]
    assert isinstance(slug, str) and PUBLIC_ID.fullmatch(slug)
    assert slug == await bot.db.fetchval("SELECT public_id FROM status_incidents")
    assert public["title"] == "Sign-in problems"
    page = (await get(bot, "/status")).decode()
    assert f'id="incident-{slug}"' in page
    assert {e.find("a:link", ATOM).get("href") for e in entries} == {
        f"https://status.zzik.example/status#incident-{slug}"
    }
    assert all(slug in e.find("a:id", ATOM).text for e in entries)

    stakeholders = [c["text"] for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "#zzik-support"]
    assert len(stakeholders) == 3  # declared, then the two updates
    outputs = {"/status": page, "/status.json": json.dumps(data), "/status/feed.atom": feed.decode()}
    outputs["stakeholders"] = "\n".join(stakeholders)
    for where, text in outputs.items():
        assert not SLACK_ID.search(text), (where, SLACK_ID.findall(text))
        assert "U0NOPE" not in text and "INC-3" not in text and "INC-" not in text, where
        assert not re.search(r"incident-3\b|\"id\": 3\b", text), where
        assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", text), where


async def test_an_update_of_only_unknown_mentions_is_refused(bot: RunningBot, fake_slack: FakeSlack) -> None:
    await ask(fake_slack, bot, "/incident", "p2 Search is slow", user="U0ALICE")
    said = await ask(fake_slack, bot, "/incident", "public <@U0NOPE> \x01", user="U0ALICE", channel="C00000001")
    assert said.startswith("Nothing is left of that update")
    assert fake_slack.calls_to("views.open") == []


async def test_a_forged_publish_button_publishes_nothing(bot: RunningBot, fake_slack: FakeSlack) -> None:
    await ask(fake_slack, bot, "/incident", "p2 Search is slow", user="U0ALICE")
    forged = [
        "",
        "²",
        "{not json",
        json.dumps({"incident": 1, "status": "resolved", "body": "x", "key": "command:1"}),  # nothing published yet
        json.dumps({"incident": "1", "status": "resolved", "body": "x", "key": "command:2"}),
        json.dumps({"incident": 2**63, "status": "resolved", "body": "x", "key": "command:3"}),
        json.dumps({"incident": 1, "status": "gone", "body": "x", "key": "command:4"}),
    ]
    for value in forged:
        said = UNAVAILABLE
        while said == UNAVAILABLE:  # a busy machine may keep the delivery claim past its 1 s budget: press again
            before = len(fake_slack.calls_to("response_url"))
            reply = await bot.slack.action("status_publish_update", value, user="U0ALICE", channel="C00000001")
            said = flatten(await answer_to(bot, fake_slack, before, reply))
        assert said == "That button does not belong to an update's preview.", (value, said)
    assert await bot.db.fetchval("SELECT count(*) FROM status_incidents") == 0
    assert await bot.db.fetchval("SELECT count(*) FROM audit_log WHERE outcome = 'error'") == 0


async def test_published_incidents_get_a_public_id_and_clean_text_in_the_migration(pg_dsn: str, tmp_path: Path) -> None:
    """Rows published before 0025: each gets a slug of its own, and their text loses what XML cannot carry."""
    name = f"t_public_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(pg_dsn)
    await conn.execute(f'CREATE SCHEMA "{name}"')
    await conn.close()
    db = Database(pg_dsn, schema=name, min_size=1, max_size=1)
    try:
        older = tmp_path / "migrations"
        older.mkdir()
        for m in migrate.discover():
            if m.version < "0025":
                (older / f"{m.version}_{m.name}.sql").write_text(m.sql, encoding="utf-8")
        await migrate.migrate(db, older)
        await db.open()
        for n in (1, 2):
            await db.execute(
                """INSERT INTO incidents (number, declare_key, title, severity, stage, commander, reporter,
                                          declared_at, last_update_at)
                   VALUES ($1, $2, 'x', 'P1', 'Detection', 'U0ALICE', 'U0ALICE', now(), now())""",
                n,
                f"k{n}",
            )
            await db.execute(
                """INSERT INTO status_incidents (incident_id, public_title, status, components, published_at,
                                                 updated_at)
                   SELECT id, $2, 'investigating', '{}', now(), now() FROM incidents WHERE number = $1""",
                n,
                f"Title\x01 {n}",
            )
        await db.execute(
            """INSERT INTO status_updates (incident_id, publish_key, at, status, body, author)
               SELECT id, 'k', now(), 'investigating', E'a\\x0bb\\x1fc\\td', 'U0ALICE'
               FROM incidents WHERE number = 1"""
        )
        assert await migrate.migrate(db) == [m.version for m in migrate.discover() if m.version >= "0025"]
        rows = await db.fetch("SELECT public_id, public_title FROM status_incidents ORDER BY incident_id")
        assert [r["public_title"] for r in rows] == ["Title 1", "Title 2"]
        ids = [r["public_id"] for r in rows]
        assert all(PUBLIC_ID.fullmatch(i) for i in ids) and len(set(ids)) == 2
        assert await db.fetchval("SELECT body FROM status_updates") == "abc\td"
    finally:
        await db.close()
        conn = await asyncpg.connect(pg_dsn)
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        await conn.close()


# -- forged alert buttons ----------------------------------------------------------------------------------------

FORGED = ["²", "d²", "1:²", str(2**63), "-1", ""]
ALERT_ACTIONS = {
    "alert_acknowledge": None,
    "alert_declare": None,
    "alert_runbook:slow-api": "slow-api",
    "alert_roll_back": None,
    "alert_silence:1h": "1",
    "alert_unsilence": None,
}


async def test_forged_alert_button_values_get_a_sentence_and_change_nothing(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    async with aiohttp.ClientSession() as s:
        body = json.dumps(grafana("firing", clock.now())).encode()
        async with s.post(
            bot.url + "/hooks/grafana", data=body, headers={"Content-Type": "application/json", **AUTH}
        ) as r:
            assert r.status == 200
    await eventually(lambda: bot.db.fetchval("SELECT count(*) = 1 FROM alerts WHERE message_ts IS NOT NULL"))
    alert = dict(await bot.db.fetchrow("SELECT * FROM alerts"))
    assert alert["id"] == 1  # so "1:²" names a real alert: it must still not be taken for one
    incidents = await bot.db.fetchval("SELECT count(*) FROM incidents")

    for action_id, extra in ALERT_ACTIONS.items():
        values = FORGED + ([f"{2**63}:{extra}", f"1:{extra}:x", f"²:{extra}"] if extra else [])
        for value in values:
            before = len(fake_slack.calls_to("response_url"))
            reply = await bot.slack.action(action_id, value, user="U0BOB", channel="C0ALERTS")
            said = flatten(await answer_to(bot, fake_slack, before, reply))
            assert said == NOT_AN_ALERT, (action_id, value, said)

    errors = await bot.db.fetch("SELECT action, detail FROM audit_log WHERE outcome = 'error'")
    assert errors == []
    assert dict(await bot.db.fetchrow("SELECT * FROM alerts")) == alert  # nothing changed
    assert await bot.db.fetchval("SELECT count(*) FROM incidents") == incidents
    assert fake_slack.calls_to("views.open") == []
    assert not [t for t in fake_slack.texts("response_url") if "went wrong" in t]
