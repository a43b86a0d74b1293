"""PagerDuty's v3 webhooks into the bot over real signed HTTP: Slack and PagerDuty agree on an incident's state,
whichever side changed it, once, whatever PagerDuty redelivers or reorders."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest
import yaml

from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from bot.jobs import MAX_ATTEMPTS
from tests.conftest import ROTA, SIGNING_SECRET, BotFactory, RunningBot, ask, config_with, eventually, rota_now
from tests.fakepagerduty import KEY, FakePagerDuty, user
from tests.processes import scratch_database, serve
from tests.slackreq import SlackRequests

SECRET = "pd-webhook-secret-new-4c1e"
OLD_SECRET = "pd-webhook-secret-old-9a7b"
ALICE_PD = user("PALICE1", "Alice Example")  # alice in PagerDuty (pagerduty.users maps her to U0ALICE)
BOB_PD = user("PBOB001", "Bob <Builder>")  # not mapped: the bot does not know who he is in Slack


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
    return [flatten(c) for c in fake.calls_to("chat.postMessage") if c["channel"] == "C00000001"]


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
        lambda: [t for t in map(flatten, fake_slack.calls_to("chat.update")) if "*Acknowledged:* in PagerDuty" in t]
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
    # A subscription test (pagey.ping) is answered, recorded and not applied.
    ping = json.dumps({"event": {"id": "P1NG", "event_type": "pagey.ping", "occurred_at": "2026-11-25T03:00:00Z"}})
    assert await post(bot, ping.encode(), pagerduty.sign(ping.encode(), [SECRET])) == (
        200,
        {"ok": True, "ignored": "pagey.ping", "event": "P1NG", "new": True},
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


# -- which PagerDuty incident is ours, and deliveries of every shape -------------------------------------------------

ESCALATIONS = "SELECT count(*) FROM job_runs WHERE job = 'incidents.escalate' AND status = 'pending'"
STORED = "SELECT count(*) FROM pagerduty_webhooks WHERE event_id = $1"


async def outcome_of(bot: RunningBot, event_id: str) -> str | None:
    return await bot.db.fetchval(
        "SELECT outcome FROM pagerduty_webhooks WHERE event_id = $1 AND processed_at IS NOT NULL", event_id
    )


def reference(pagerduty: FakePagerDuty, key: str) -> dict:
    """An `incident_reference` to the PagerDuty incident of `key`, as PagerDuty writes one."""
    incident = pagerduty.incidents[key]
    pd_id = f"Q{incident['number']:06d}"
    return {
        "id": pd_id,
        "type": "incident_reference",
        "summary": f"[#{incident['number']}] {incident['summary']}",
        "self": f"https://api.pagerduty.com/incidents/{pd_id}",
        "html_url": f"https://zzik.pagerduty.com/incidents/{pd_id}",
    }


async def test_a_look_alike_changes_nothing_only_the_bots_own_key_acknowledges(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    await declared(bot, pagerduty, fake_slack, "p1 Checkout is down")
    escalations = await bot.db.fetchval(ESCALATIONS)
    assert escalations > 0
    # Someone opens an incident in PagerDuty whose title starts with the bot's ref (PagerDuty generates its key);
    # another tool triggers one with a key that starts with it. Both are acknowledged there.
    titled = pagerduty.open_in_pagerduty("INC-1 follow-up: checkout latency report")
    keyed = pagerduty.open_in_pagerduty("Checkout smoke test", key="INC-1-replay")
    for key in (titled, keyed):
        pagerduty.incidents[key]["status"] = "acknowledged"
        body = pagerduty.event(key, "incident.acknowledged", agent=BOB_PD)
        assert await pagerduty.deliver(body) == 200
        assert await eventually(lambda: outcome_of(bot, body["event"]["id"])) == "unmatched"  # noqa: B023
    assert await bot.db.fetchval("SELECT acknowledged_at FROM incidents") is None
    assert await bot.db.fetchval(ESCALATIONS) == escalations  # the escalation goes on
    assert [e for e in await timeline(bot) if e[1] in ("pagerduty", "acknowledged")] == []
    assert await bot.db.fetchval("SELECT pd_incident_id FROM pagerduty_incidents") == "Q000001"

    # The incident the bot's own trigger opened (its dedup key is INC-1) is acknowledged: that one counts.
    await pagerduty.acknowledge_in_pagerduty("INC-1", BOB_PD)
    await eventually(lambda: bot.db.fetchval("SELECT acknowledged_at IS NOT NULL FROM incidents"))
    await eventually(lambda: bot.db.fetchval(f"SELECT ({ESCALATIONS}) = 0"))
    matches = await bot.db.fetch("SELECT pd_incident_id, incident_id, alert_id, dedup_key FROM pagerduty_matches")
    assert [tuple(r) for r in matches] == [("Q000001", 1, None, "INC-1")]


async def test_an_event_without_its_key_is_matched_by_the_recorded_pagerduty_id(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    await declared(bot, pagerduty, fake_slack, "p1 Checkout is down")  # PagerDuty's incident.triggered had the key
    # Renamed in PagerDuty, then acknowledged; this event carries no incident_key, only PagerDuty's incident id.
    pagerduty.incidents["INC-1"].update(summary="Payments DB failover", status="acknowledged")
    body = pagerduty.event("INC-1", "incident.acknowledged", agent=BOB_PD)
    body["event"]["data"]["incident_key"] = None
    assert await pagerduty.deliver(body) == 200
    assert await eventually(lambda: outcome_of(bot, body["event"]["id"])) == "acknowledged"
    assert await bot.db.fetchval("SELECT acknowledged_at IS NOT NULL FROM incidents")
    assert await bot.db.fetchval(ESCALATIONS) == 0
    # An id the bot never matched by key is nobody's, whatever it says.
    stranger = pagerduty.open_in_pagerduty("INC-1 P1: Checkout is down")
    other = pagerduty.event(stranger, "incident.escalated", agent=None, assignees=["Carol"])
    other["event"]["data"]["incident_key"] = None
    assert await pagerduty.deliver(other) == 200
    assert await eventually(lambda: outcome_of(bot, other["event"]["id"])) == "unmatched"


async def test_a_nul_anywhere_is_stored_and_applied(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    await declared(bot, pagerduty, fake_slack, "p1 Checkout is down")
    pagerduty.incidents["INC-1"]["status"] = "acknowledged"
    body = pagerduty.event("INC-1", "incident.acknowledged", agent=user("PBOB001", "Bob\u0000 Builder"))
    body["event"]["data"]["title"] = "INC-1 P1: Checkout\u0000 is down"
    body["event"]["data"]["teams"] = [{"id": "PT1", "type": "team_reference", "summary": "Ops\u0000"}]
    body["event"]["client"] = {"name": "Pager\u0000Duty", "note\u0000": None}
    assert await pagerduty.deliver(body) == 200  # jsonb refuses NUL: it is stored as U+FFFD
    assert await eventually(lambda: outcome_of(bot, body["event"]["id"])) == "acknowledged"
    assert (None, "pagerduty", "acknowledged in PagerDuty by Bob\ufffd Builder") in await timeline(bot)
    stored = json.loads(
        await bot.db.fetchval("SELECT body FROM pagerduty_webhooks WHERE event_id = $1", body["event"]["id"])
    )
    assert stored["event"]["data"]["title"] == "INC-1 P1: Checkout\ufffd is down"
    assert stored["event"]["client"] == {"name": "Pager\ufffdDuty", "note\ufffd": None}


@pytest.mark.parametrize("depth", [40, 10_000])
async def test_deep_nesting_is_refused_naming_the_field(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack, depth: int
) -> None:
    await declared(bot, pagerduty, fake_slack, "p1 Checkout is down")
    body = pagerduty.event("INC-1", "incident.acknowledged", agent=BOB_PD)
    body["event"]["data"]["custom_fields"] = "DEEP"
    raw = json.dumps(body).encode().replace(b'"DEEP"', b"[" * depth + b"]" * depth)
    status, answer = await post(bot, raw, pagerduty.sign(raw, [SECRET]))
    assert (status, answer["error"]) == (
        400,
        "event.data.custom_fields.0.0.0.0.0…: nested deeper than 32 levels",
    )
    assert await bot.db.fetchval(STORED, body["event"]["id"]) == 0
    assert await bot.db.fetchval("SELECT acknowledged_at FROM incidents") is None


@pytest.mark.parametrize(
    ("occurred_at", "error"),
    [
        ("2026-12-06T04:44:07.123", "event.occurred_at: Input should have timezone info"),
        ("9999-12-31T23:59:59-14:00", "event.occurred_at: Value error, not between the years 2000 and 2099"),
    ],
)
async def test_a_time_without_offset_or_out_of_range_is_refused_naming_the_field(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack, occurred_at: str, error: str
) -> None:
    await declared(bot, pagerduty, fake_slack, "p1 Checkout is down")
    body = pagerduty.event("INC-1", "incident.acknowledged", agent=BOB_PD)
    body["event"]["occurred_at"] = occurred_at
    raw = json.dumps(body).encode()
    assert await post(bot, raw, pagerduty.sign(raw, [SECRET])) == (400, {"error": error})
    assert await bot.db.fetchval(STORED, body["event"]["id"]) == 0


async def test_a_merge_resolves_ours_only_when_ours_was_merged(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    await declared(bot, pagerduty, fake_slack, "p2 Search is slow")  # alice declares: she commands
    # Another PagerDuty incident is merged into ours: PagerDuty resolves that one, its resolve_reason naming ours.
    other = pagerduty.open_in_pagerduty("INC-1 search latency above 2 s")
    pagerduty.incidents[other]["status"] = "resolved"
    merged_in = pagerduty.event(other, "incident.resolved", agent=ALICE_PD)
    merged_in["event"]["data"]["resolve_reason"] = {
        "type": "merge_resolve_reason",
        "incident": reference(pagerduty, "INC-1"),
    }
    assert await pagerduty.deliver(merged_in) == 200
    assert await eventually(lambda: outcome_of(bot, merged_in["event"]["id"])) == "unmatched"
    assert await bot.db.fetchval("SELECT status FROM incidents") == "open"

    # Ours is merged into another: PagerDuty resolves ours; the commander did it, so it is resolved here too.
    target = pagerduty.open_in_pagerduty("Search cluster degraded")
    pagerduty.incidents["INC-1"]["status"] = "resolved"
    merged = pagerduty.event("INC-1", "incident.resolved", agent=ALICE_PD)
    merged["event"]["data"]["resolve_reason"] = {
        "type": "merge_resolve_reason",
        "incident": reference(pagerduty, target),
    }
    assert await pagerduty.deliver(merged) == 200
    assert await eventually(lambda: outcome_of(bot, merged["event"]["id"])) == "resolved"
    row = await bot.db.fetchrow("SELECT status, resolved_by, summary FROM incidents")
    assert tuple(row) == (
        "resolved",
        "U0ALICE",
        "resolved in PagerDuty by Alice Example: merged into [#3] Search cluster degraded",
    )


async def test_extra_fields_are_kept_and_other_event_types_recorded(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    await declared(bot, pagerduty, fake_slack, "p1 Checkout is down")
    pagerduty.incidents["INC-1"]["status"] = "acknowledged"
    body = pagerduty.event("INC-1", "incident.acknowledged", agent=BOB_PD)
    data = body["event"]["data"]
    data["priority"] = {"id": "PSO75BM", "type": "priority_reference", "summary": "P1", "self": None}
    data["conference_bridge"] = {"conference_number": "+1 415-555-1212,,,,1234#", "conference_url": None}
    data["incident_type"] = {"name": "incident_default"}
    body["event"]["data"]["custom_fields"] = [{"name": "region", "value": ["eu-west-1", {"az": 2}]}]
    body["event"]["trace"] = {"id": "abc", "sampled": True}  # a field PagerDuty may add one day
    assert await pagerduty.deliver(body) == 200
    assert await eventually(lambda: outcome_of(bot, body["event"]["id"])) == "acknowledged"
    stored = await bot.db.fetchval("SELECT body FROM pagerduty_webhooks WHERE event_id = $1", body["event"]["id"])
    assert json.loads(stored) == body  # kept as PagerDuty sent it, fields the bot does not read too

    # An event type the bot does not follow (a note added in PagerDuty) is recorded as such, never applied.
    note = {
        "event": {
            "id": "01DVUHO0KPPM5J6O3LMHWDXKTG",
            "event_type": "incident.annotated",
            "resource_type": "incident",
            "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "agent": BOB_PD,
            "client": None,
            "data": {
                "incident": reference(pagerduty, "INC-1"),
                "id": "P2LA89X",
                "content": "INC-1 resolved? Not yet, still on it",
                "trimmed": False,
                "type": "incident_note",
            },
        }
    }
    assert await pagerduty.deliver(note) == 200
    row = await bot.db.fetchrow(
        "SELECT event_type, outcome, processed_at IS NOT NULL AS done FROM pagerduty_webhooks WHERE event_id = $1",
        note["event"]["id"],
    )
    assert tuple(row) == ("incident.annotated", "ignored", True)
    assert await bot.db.fetchval("SELECT status FROM incidents") == "open"


async def test_a_delivery_that_cannot_be_applied_is_recorded_not_retried_forever(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    await declared(bot, pagerduty, fake_slack, "p2 Search is slow")
    fake_slack.fail("chat.postMessage", times=100, error="is_archived", channel="C00000001")
    body = pagerduty.event("INC-1", "incident.escalated", agent=None, assignees=["Carol"])
    assert await pagerduty.deliver(body) == 200
    event_id = body["event"]["id"]
    await eventually(lambda: bot.db.fetchval("SELECT attempts FROM pagerduty_webhooks WHERE event_id = $1", event_id))
    for _ in range(MAX_ATTEMPTS + 2):
        if await outcome_of(bot, event_id):
            break
        clock.advance(timedelta(minutes=10))
        await bot.tick()
    row = await bot.db.fetchrow("SELECT outcome, attempts, error FROM pagerduty_webhooks WHERE event_id = $1", event_id)
    assert (row["outcome"], row["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert "is_archived" in row["error"]
    runs = await bot.db.fetch("SELECT status FROM job_runs WHERE job = 'pagerduty.webhook' AND run_key = $1", event_id)
    assert [r["status"] for r in runs] == ["done"]  # given up on, on the record: not retried again
