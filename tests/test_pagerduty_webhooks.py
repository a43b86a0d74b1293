"""PagerDuty's v3 webhooks into the bot over real signed HTTP: Slack and PagerDuty agree on an incident's state,
whichever side changed it, once, whatever PagerDuty redelivers or reorders."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest
import yaml

from bot.clock import FrozenClock
from tests.conftest import ROTA, SIGNING_SECRET, BotFactory, RunningBot, ask, config_with, eventually, rota_now
from tests.fakepagerduty import KEY, FakePagerDuty, running, user
from tests.fakeslack import FakeSlack, _flatten
from tests.processes import scratch_database, serve
from tests.slackreq import SlackRequests

SECRET = "pd-webhook-secret-new-4c1e"
OLD_SECRET = "pd-webhook-secret-old-9a7b"
ALICE_PD = user("PALICE1", "Alice Example")  # alice in PagerDuty (pagerduty.users maps her to U0ALICE)
BOB_PD = user("PBOB001", "Bob <Builder>")  # not mapped: the bot does not know who he is in Slack


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    async with running(KEY) as fake:
        yield fake


def config():
    return config_with(
        oncall=ROTA,
        permissions={"deployers": [], "incident_managers": ["U0DAVE"]},
        pagerduty={"severities": ["P1", "P2"], "users": {"PALICE1": "U0ALICE"}},
    )


@pytest.fixture
async def bot(make_bot: BotFactory, pagerduty: FakePagerDuty) -> RunningBot:
    bot = await make_bot(
        config(),
        zzik_pagerduty_routing_key=KEY,
        zzik_pagerduty_events_url=pagerduty.url,
        zzik_pagerduty_webhook_secret=SECRET,
    )
    pagerduty.subscribe(f"{bot.url}/hooks/pagerduty", [SECRET])
    return bot


async def declared(bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack, text: str) -> None:
    await ask(fake_slack, bot, "/incident", text)
    await eventually(lambda: pagerduty.incidents.get("INC-1"))
    await eventually(lambda: outcomes(bot, "incident.triggered"))  # PagerDuty's own echo of the trigger


async def outcomes(bot: RunningBot, event_type: str | None = None) -> list[str]:
    rows = await bot.db.fetch(
        "SELECT event_type, outcome FROM pagerduty_webhooks WHERE processed_at IS NOT NULL ORDER BY received_at"
    )
    return [r["outcome"] for r in rows if event_type in (None, r["event_type"])]


async def timeline(bot: RunningBot) -> list[tuple[str | None, str, str]]:
    rows = await bot.db.fetch("SELECT actor, kind, text FROM incident_events ORDER BY id")
    return [(r["actor"], r["kind"], r["text"]) for r in rows]


def channel_posts(fake: FakeSlack) -> list[str]:
    return [_flatten(c) for c in fake.calls_to("chat.postMessage") if c["channel"] == "C00000001"]


async def test_acknowledged_in_pagerduty_acknowledges_in_slack_once(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    await declared(bot, pagerduty, fake_slack, "p1 Checkout is down")
    escalations = "SELECT count(*) FROM job_runs WHERE job = 'incidents.escalate' AND status = 'pending'"
    assert await bot.db.fetchval(escalations) > 0
    body = await pagerduty.acknowledge_in_pagerduty("INC-1", BOB_PD)
    assert pagerduty.deliveries[-1][1] == 200
    await eventually(lambda: bot.db.fetchval("SELECT acknowledged_at IS NOT NULL FROM incidents"))
    await eventually(lambda: outcomes(bot, "incident.acknowledged"))
    assert await outcomes(bot, "incident.acknowledged") == ["acknowledged"]
    assert await bot.db.fetchval(escalations) == 0  # escalation stops: somebody answered
    audited = await bot.db.fetchrow("SELECT actor, outcome FROM audit_log WHERE action = 'incident.acknowledged'")
    assert (audited["actor"], audited["outcome"]) == ("pagerduty:PBOB001", "acknowledged")
    events = await timeline(bot)
    assert (None, "pagerduty", "acknowledged in PagerDuty by Bob &lt;Builder&gt;") in events
    assert next(e for e in events if e[1] == "acknowledged")[0] is None  # not a Slack user the bot knows
    updated = await eventually(
        lambda: [t for t in map(_flatten, fake_slack.calls_to("chat.update")) if "*Acknowledged:* in PagerDuty" in t]
    )
    assert "Acknowledge" not in updated[-1].split("*Acknowledged:*")[1].split("\n")[0]
    # Not sent back to PagerDuty, which has it already.
    assert pagerduty.actions("INC-1") == ["trigger"]

    # PagerDuty redelivers the same event (its answer got lost): nothing changes twice.
    await bot.tick()  # what else was due (the stakeholders' note) goes first
    before = (
        await timeline(bot),
        len(fake_slack.calls_to("chat.update")),
        len(fake_slack.calls_to("chat.postMessage")),
    )
    assert await pagerduty.deliver(body) == 200
    await bot.tick()
    after = (await timeline(bot), len(fake_slack.calls_to("chat.update")), len(fake_slack.calls_to("chat.postMessage")))
    assert after == before
    assert (
        await bot.db.fetchval("SELECT count(*) FROM pagerduty_webhooks WHERE event_type = 'incident.acknowledged'") == 1
    )
    # Clicking Acknowledge in Slack afterwards changes nothing either.
    await bot.slack.action("incident_acknowledge", "1", user="U0ALICE", channel="C00000001")
    await bot.tick()
    assert pagerduty.actions("INC-1") == ["trigger"]


async def test_acknowledged_in_slack_reaches_pagerduty_and_its_echo_is_ignored(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    await declared(bot, pagerduty, fake_slack, "p1 Checkout is down")
    await bot.slack.action("incident_acknowledge", "1", user="U0BOB", channel="C00000001")
    await eventually(lambda: pagerduty.incidents["INC-1"]["status"] == "acknowledged")
    # PagerDuty tells its subscribers, the bot included; the bot already knows.
    await eventually(lambda: outcomes(bot, "incident.acknowledged"))
    assert await outcomes(bot, "incident.acknowledged") == ["already"]
    assert await bot.db.fetchval("SELECT acknowledged_by FROM incidents") == "U0BOB"
    assert not [e for e in await timeline(bot) if e[1] == "pagerduty"]
    assert pagerduty.actions("INC-1") == ["trigger", "acknowledge"]


async def test_resolved_in_pagerduty_by_the_commander_resolves_in_slack(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    await declared(bot, pagerduty, fake_slack, "p2 Search is slow")  # alice declares: she commands
    await pagerduty.resolve_in_pagerduty("INC-1", ALICE_PD)
    await eventually(lambda: bot.db.fetchval("SELECT status = 'resolved' FROM incidents"))
    row = await bot.db.fetchrow("SELECT resolved_by, summary FROM incidents")
    assert (row["resolved_by"], row["summary"]) == ("U0ALICE", "resolved in PagerDuty by Alice Example")
    await eventually(lambda: outcomes(bot, "incident.resolved"))
    assert await outcomes(bot, "incident.resolved") == ["resolved"]
    await eventually(lambda: [t for t in channel_posts(fake_slack) if "INC-1 resolved" in t or "Resolution" in t])
    assert pagerduty.actions("INC-1") == ["trigger"]  # PagerDuty resolved it: nothing to send back


async def test_resolved_in_pagerduty_by_someone_else_asks_the_commander(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    await declared(bot, pagerduty, fake_slack, "p1 Checkout is down")
    await pagerduty.resolve_in_pagerduty("INC-1", BOB_PD)
    await eventually(lambda: outcomes(bot, "incident.resolved"))
    assert await outcomes(bot, "incident.resolved") == ["asked"]
    assert await bot.db.fetchval("SELECT status FROM incidents") == "open"
    [told] = [t for t in channel_posts(fake_slack) if ":pager:" in t]
    assert told.startswith(
        ":pager: Bob &lt;Builder&gt; resolved INC-1 in <https://zzik.pagerduty.com/incidents/Q000001|PagerDuty #1>; "
        "the incident stays open here: only the commander (<@U0ALICE>) or a manager ("
    )
    assert "<@U0ALICE>, once the fix is deployed, verified and watched for recurrence" in told
    assert (
        None,
        "pagerduty",
        "resolved in PagerDuty by Bob &lt;Builder&gt;; the commander was asked to resolve it here",
    ) in await timeline(bot)
    # The commander resolves in Slack: PagerDuty hears it (already resolved there: no change), no echo loop.
    await ask(fake_slack, bot, "/incident", "resolve Rolled back", channel="C00000001", ephemeral=False)
    await eventually(lambda: bot.db.fetchval("SELECT status = 'resolved' FROM incidents"))
    await eventually(lambda: pagerduty.actions("INC-1") == ["trigger", "resolve"])


async def test_out_of_order_and_escalations(bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack) -> None:
    await declared(bot, pagerduty, fake_slack, "p1 Checkout is down")
    now = datetime.now(UTC)
    escalated = pagerduty.event(
        "INC-1", "incident.escalated", agent=None, occurred_at=now, assignees=["Bob <Builder>", "Carol"]
    )
    assert await pagerduty.deliver(escalated) == 200
    told = await eventually(lambda: [t for t in channel_posts(fake_slack) if ":arrow_up:" in t])
    assert told == [
        ":arrow_up: <https://zzik.pagerduty.com/incidents/Q000001|PagerDuty #1> escalated INC-1 to "
        "Bob &lt;Builder&gt;, Carol."
    ]
    reassigned = pagerduty.event("INC-1", "incident.reassigned", agent=ALICE_PD, occurred_at=now, assignees=["Dave"])
    assert await pagerduty.deliver(reassigned) == 200
    await eventually(lambda: [t for t in channel_posts(fake_slack) if ":busts_in_silhouette:" in t])

    # A resolve (later) arrives before an acknowledgement (earlier): the acknowledgement is stale.
    pagerduty.incidents["INC-1"]["status"] = "resolved"
    resolved = pagerduty.event("INC-1", "incident.resolved", agent=BOB_PD, occurred_at=now + timedelta(seconds=5))
    acknowledged = pagerduty.event(
        "INC-1", "incident.acknowledged", agent=BOB_PD, occurred_at=now + timedelta(seconds=2)
    )
    assert await pagerduty.deliver(resolved) == 200
    await eventually(lambda: outcomes(bot, "incident.resolved"))
    assert await pagerduty.deliver(acknowledged) == 200
    await eventually(lambda: outcomes(bot, "incident.acknowledged"))
    assert await outcomes(bot, "incident.acknowledged") == ["stale"]
    assert await bot.db.fetchval("SELECT acknowledged_at FROM incidents") is None
    assert await bot.db.fetchval("SELECT status FROM pagerduty_incidents") == "resolved"


async def post(bot: RunningBot, body: bytes, signature: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-PagerDuty-Signature"] = signature
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{bot.url}/hooks/pagerduty", data=body, headers=headers) as r,
    ):
        return r.status, await r.json()


async def test_forged_unsigned_rotated_and_malformed_webhooks(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    await declared(bot, pagerduty, fake_slack, "p1 Checkout is down")
    raw = json.dumps(pagerduty.event("INC-1", "incident.acknowledged", agent=BOB_PD)).encode()
    stored = "SELECT count(*) FROM pagerduty_webhooks WHERE event_type = 'incident.acknowledged'"
    # Forged: signed with a secret that is not the subscription's; unsigned; a signature of another body.
    assert (await post(bot, raw, pagerduty.sign(raw, ["guessed-secret"])))[0] == 401
    assert (await post(bot, raw, None))[0] == 401
    assert (await post(bot, raw, pagerduty.sign(b"{}", [SECRET])))[0] == 401
    assert (await post(bot, raw, "v0=" + pagerduty.sign(raw, [SECRET])[3:]))[0] == 401
    assert await bot.db.fetchval(stored) == 0
    # During a rotation PagerDuty signs with both secrets: the one the bot has matches.
    status, answer = await post(bot, raw, pagerduty.sign(raw, [OLD_SECRET, SECRET]))
    assert (status, answer["new"]) == (200, True)
    await eventually(lambda: bot.db.fetchval("SELECT acknowledged_at IS NOT NULL FROM incidents"))
    # Signed but malformed: 400 naming the field, nothing stored.
    bad = json.loads(raw)
    del bad["event"]["occurred_at"]
    bad["event"]["id"] = "OTHER-EVENT"
    raw_bad = json.dumps(bad).encode()
    status, answer = await post(bot, raw_bad, pagerduty.sign(raw_bad, [SECRET]))
    assert (status, answer["error"]) == (400, "event.occurred_at: Field required")
    assert (await post(bot, b"not json", pagerduty.sign(b"not json", [SECRET])))[0] == 400
    assert await bot.db.fetchval(stored) == 1
    # A subscription test (pagey.ping) is answered and ignored.
    ping = json.dumps({"event": {"id": "P1NG", "event_type": "pagey.ping", "occurred_at": "2026-11-25T03:00:00Z"}})
    assert await post(bot, ping.encode(), pagerduty.sign(ping.encode(), [SECRET])) == (
        200,
        {"ok": True, "ignored": "pagey.ping"},
    )


async def test_without_the_secret_the_route_refuses(
    make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    bot = await make_bot(config(), zzik_pagerduty_routing_key=KEY, zzik_pagerduty_events_url=pagerduty.url)
    raw = b'{"event": {}}'
    status, answer = await post(bot, raw, pagerduty.sign(raw, [SECRET]))
    assert status == 401 and "ZZIK_PAGERDUTY_WEBHOOK_SECRET" in answer["error"]


async def test_two_replicas_and_a_flaky_pagerduty_agree_once(
    bot: RunningBot, make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    other = await make_bot(
        config(),
        zzik_pagerduty_routing_key=KEY,
        zzik_pagerduty_events_url=pagerduty.url,
        zzik_pagerduty_webhook_secret=SECRET,
        replica_id="r2",
    )
    # Slack retries the command and the retry reaches the other replica.
    await asyncio.gather(
        bot.slack.command("/incident", "p1 Checkout is down", trigger_id="trig.1"),
        other.slack.command(
            "/incident", "p1 Checkout is down", trigger_id="trig.1", headers={"X-Slack-Retry-Num": "1"}
        ),
    )
    await eventually(lambda: outcomes(bot, "incident.triggered"))
    assert pagerduty.actions("INC-1") == ["trigger"]

    # Acknowledged in Slack on the other replica while PagerDuty rate-limits, then fails: retried until taken.
    pagerduty.fail(429)
    pagerduty.fail(500)
    await other.slack.action("incident_acknowledge", "1", user="U0BOB", channel="C00000001")
    await eventually(lambda: pagerduty.answers[-1] == 429)
    for _ in range(3):
        clock.advance(timedelta(minutes=5))
        await asyncio.gather(bot.tick(), other.tick())
    await eventually(lambda: pagerduty.incidents["INC-1"]["status"] == "acknowledged")
    assert pagerduty.actions("INC-1") == ["trigger", "acknowledge"]
    await eventually(lambda: outcomes(bot, "incident.acknowledged"))
    assert await outcomes(bot, "incident.acknowledged") == ["already"]  # the echo

    # PagerDuty delivers the commander's resolve to both replicas at once (a retry behind a load balancer).
    pagerduty.incidents["INC-1"]["status"] = "resolved"
    body = pagerduty.event("INC-1", "incident.resolved", agent=ALICE_PD)
    statuses = await asyncio.gather(
        pagerduty.deliver(body), pagerduty.deliver(body, url=f"{other.url}/hooks/pagerduty")
    )
    assert statuses == [200, 200]
    await eventually(lambda: outcomes(bot, "incident.resolved"))
    await asyncio.gather(bot.tick(), other.tick())
    assert await outcomes(bot, "incident.resolved") == ["resolved"]
    assert await bot.db.fetchval("SELECT count(*) FROM incident_events WHERE kind = 'resolved'") == 1
    assert len([t for t in channel_posts(fake_slack) if "INC-1 resolved" in t]) <= 1
    assert pagerduty.actions("INC-1") == ["trigger", "acknowledge"]
    assert len(pagerduty.incidents) == 1


async def test_kill_9_during_a_pagerduty_send_sends_it_once_after_restart(
    pg_dsn: str, fake_slack: FakeSlack, pagerduty: FakePagerDuty, tmp_path
) -> None:
    config_file = tmp_path / "ops.yml"
    config_file.write_text(yaml.safe_dump({"oncall": rota_now()}))
    env = {
        "ZZIK_JOB_TICK_SECONDS": "0.5",
        "ZZIK_CONFIG": str(config_file),
        "ZZIK_PAGERDUTY_ROUTING_KEY": KEY,
        "ZZIK_PAGERDUTY_EVENTS_URL": pagerduty.url,
        "ZZIK_PAGERDUTY_WEBHOOK_SECRET": SECRET,
    }
    pagerduty.delay = 5  # PagerDuty is slow: the bot dies while its trigger is in flight
    async with scratch_database(pg_dsn) as dsn:
        db = await asyncpg.connect(dsn)
        try:
            async with serve(dsn, fake_slack, tmp_path / "first.log", **env) as first:
                slack = SlackRequests(f"http://127.0.0.1:{first.port}", SIGNING_SECRET, fake_slack.response_url())
                assert (await slack.command("/incident", "p1 Database outage", user="U0CAROL")).status == 200
                await eventually(lambda: pagerduty.arrived >= 1)
                first.proc.kill()
                await first.proc.wait()
            assert await db.fetchval("SELECT sent_at FROM pagerduty_events") is None
            pagerduty.delay = 0
            async with serve(dsn, fake_slack, tmp_path / "second.log", **env) as second:
                await eventually(lambda: db.fetchval("SELECT sent_at IS NOT NULL FROM pagerduty_events"), within=45)
                pagerduty.subscribe(f"http://127.0.0.1:{second.port}/hooks/pagerduty", [SECRET])
                # Acknowledged in PagerDuty afterwards: the restarted bot agrees.
                await pagerduty.acknowledge_in_pagerduty("INC-1", BOB_PD)
                await eventually(lambda: db.fetchval("SELECT acknowledged_at IS NOT NULL FROM incidents"), within=20)
                pending = "SELECT count(*) FROM job_runs WHERE job LIKE 'pagerduty.%' AND status <> 'done'"
                await eventually(lambda: db.fetchval(f"SELECT ({pending}) = 0"), within=20)
            assert pagerduty.actions("INC-1") == ["trigger"]  # once, though a first one was in flight
            assert len(pagerduty.incidents) == 1
            assert await db.fetchval("SELECT count(*) FROM pagerduty_events") == 1
        finally:
            await db.close()


async def test_two_serve_processes_page_once_and_agree(
    pg_dsn: str, fake_slack: FakeSlack, pagerduty: FakePagerDuty, tmp_path
) -> None:
    config_file = tmp_path / "ops.yml"
    config_file.write_text(yaml.safe_dump({"oncall": rota_now(), "pagerduty": {"users": {"PALICE1": "U0ALICE"}}}))
    env = {
        "ZZIK_JOB_TICK_SECONDS": "0.2",
        "ZZIK_CONFIG": str(config_file),
        "ZZIK_PAGERDUTY_ROUTING_KEY": KEY,
        "ZZIK_PAGERDUTY_EVENTS_URL": pagerduty.url,
        "ZZIK_PAGERDUTY_WEBHOOK_SECRET": SECRET,
    }
    async with scratch_database(pg_dsn) as dsn, contextlib.AsyncExitStack() as stack:
        first, second = [
            await stack.enter_async_context(serve(dsn, fake_slack, tmp_path / f"serve{n}.log", **env)) for n in range(2)
        ]
        db = await asyncpg.connect(dsn)
        stack.push_async_callback(db.close)
        slack = [
            SlackRequests(f"http://127.0.0.1:{r.port}", SIGNING_SECRET, fake_slack.response_url())
            for r in (first, second)
        ]
        pagerduty.subscribe(f"http://127.0.0.1:{second.port}/hooks/pagerduty", [SECRET])
        # The command reaches one process, Slack's retry the other, at once.
        replies = await asyncio.gather(
            slack[0].command("/incident", "p1 Checkout is down", trigger_id="trig.9"),
            slack[1].command(
                "/incident", "p1 Checkout is down", trigger_id="trig.9", headers={"X-Slack-Retry-Num": "1"}
            ),
        )
        assert [r.status for r in replies] == [200, 200]
        await eventually(lambda: db.fetchval("SELECT sent_at IS NOT NULL FROM pagerduty_events"), within=30)
        await eventually(
            lambda: db.fetchval("SELECT count(*) = 1 FROM pagerduty_webhooks WHERE processed_at IS NOT NULL")
        )
        # The commander resolves from her phone; the webhook reaches the second process.
        await pagerduty.resolve_in_pagerduty("INC-1", ALICE_PD)
        await eventually(lambda: db.fetchval("SELECT status = 'resolved' FROM incidents"), within=30)
        pending = "SELECT count(*) FROM job_runs WHERE job LIKE 'pagerduty.%' AND status <> 'done'"
        await eventually(lambda: db.fetchval(f"SELECT ({pending}) = 0"), within=30)
        assert await db.fetchval("SELECT count(*) FROM incidents") == 1
        assert pagerduty.actions("INC-1") == ["trigger"]  # once across both, and the resolve not echoed back
        assert await db.fetchval("SELECT resolved_by FROM incidents") == "U0ALICE"


async def test_old_processed_deliveries_are_pruned_daily(bot: RunningBot, clock: FrozenClock) -> None:
    rows = [("OLD-DONE", 40, True), ("NEW-DONE", 2, True), ("OLD-PENDING", 40, False)]
    for event_id, days, done in rows:
        at = clock.now() - timedelta(days=days)
        await bot.db.execute(
            """INSERT INTO pagerduty_webhooks (event_id, event_type, occurred_at, body, received_at, processed_at)
               VALUES ($1, 'incident.acknowledged', $2, '{}', $2, $3)""",
            event_id,
            at,
            at if done else None,
        )
    await bot.tick()  # schedules the daily run
    clock.advance(timedelta(days=1))
    await bot.tick()
    left = await bot.db.fetch("SELECT event_id FROM pagerduty_webhooks ORDER BY event_id")
    assert [r["event_id"] for r in left] == ["NEW-DONE", "OLD-PENDING"]


async def test_an_oversized_webhook_is_refused_unread(bot: RunningBot, pagerduty: FakePagerDuty) -> None:
    raw = b'{"event": {"id": "' + b"x" * (1024**2 + 10) + b'"}}'
    status, answer = await post(bot, raw, pagerduty.sign(raw, [SECRET]))
    assert (status, answer["error"]) == (413, "body: larger than 1 MiB")
    assert await bot.db.fetchval("SELECT count(*) FROM pagerduty_webhooks") == 0
