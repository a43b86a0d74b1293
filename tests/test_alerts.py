"""Alerts end to end: a real Alertmanager (and Grafana's documented payloads) in, #zzik-alerts out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from bot import opsconfig
from bot.alerts import rules, sending
from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from tests.alertmanager import alert, alertmanagers, now
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually

SECRET = "test-webhook-secret-77"  # the bot's ZZIK_WEBHOOK_SECRET in tests
AUTH = {"Authorization": f"Bearer {SECRET}"}
ALERTS = "#zzik-alerts"


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall=ROTA), zzik_alert_pace_seconds=0.02)


async def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as s,
        s.post(url, data=data, headers={"Content-Type": "application/json", **(headers or {})}) as r,
    ):
        return r.status, await r.json()


def posts(fake: FakeSlack, channel: str = ALERTS) -> list[dict]:
    return fake.posted_in(channel)


def updates(fake: FakeSlack) -> list[dict]:
    return fake.calls_to("chat.update")


def buttons(call: dict) -> list[str]:
    return [e["text"]["text"] for b in call.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


def button(call: dict, label: str) -> dict:
    return next(
        e
        for b in call.get("blocks") or []
        if b["type"] == "actions"
        for e in b["elements"]
        if e["text"]["text"] == label
    )


def grafana(status: str, starts: datetime, *, ends: datetime | None = None, name: str = "SlowResponse", **labels):
    """Grafana's unified alerting webhook body, as its documentation shows it."""
    item = {
        "status": status,
        "labels": {"alertname": name, "grafana_folder": "API", **labels},
        "annotations": {"summary": "p95 latency is 4.2s on /search", "description": "p95 > 3s for 10 min"},
        "startsAt": starts.isoformat(),
        "endsAt": (ends or datetime(1, 1, 1, tzinfo=UTC)).isoformat().replace("+00:00", "Z"),
        "generatorURL": "https://grafana.invalid/alerting/grafana/abc/view",
        "fingerprint": "c6eadffa33fcdf37",
        "silenceURL": "https://grafana.invalid/alerting/silence/new",
        "dashboardURL": "",
        "panelURL": "",
        "values": {"B": 4.2, "C": 1},
        "valueString": "[ var='B' labels={} value=4.2 ]",
    }
    return {
        "receiver": "zzik",
        "status": status,
        "orgId": 1,
        "alerts": [item],
        "groupLabels": {"alertname": name},
        "commonLabels": item["labels"],
        "commonAnnotations": item["annotations"],
        "externalURL": "https://grafana.invalid/",
        "version": "1",
        "groupKey": f'{{}}/{{}}:{{alertname="{name}"}}',
        "truncatedAlerts": 0,
        "title": f"[{status.upper()}] {name}",
        "state": "alerting",
        "message": "**Firing**",
    }


async def alert_rows(bot: RunningBot) -> list[dict]:
    return [dict(r) for r in await bot.db.fetch("SELECT * FROM alerts ORDER BY id")]


# -- receiving -------------------------------------------------------------------------------------------------


async def test_webhooks_need_the_secret_a_valid_body_and_a_sane_size(bot: RunningBot) -> None:
    body = grafana("firing", now())
    assert (await post(bot.url + "/hooks/grafana", body))[0] == 401
    assert (await post(bot.url + "/hooks/grafana", body, {"Authorization": "Bearer wrong"}))[0] == 401
    bad = json.loads(json.dumps(body))
    bad["alerts"][0]["startsAt"] = "yesterday"
    status, answer = await post(bot.url + "/hooks/grafana", bad, AUTH)
    assert status == 400 and answer["error"].startswith("alerts.0.startsAt")
    status, answer = await post(bot.url + "/hooks/alertmanager", {"version": "3", "alerts": []}, AUTH)
    assert status == 400 and "version" in answer["error"]
    status, _ = await post(bot.url + "/hooks/alertmanager", b"{" + b" " * (2 * 1024**2) + b"}", AUTH)
    assert status == 413
    assert await bot.db.fetchval("SELECT count(*) FROM alert_deliveries") == 0


async def test_a_delivery_that_cannot_be_stored_gets_503_so_the_sender_retries(make_bot, pg_dsn) -> None:
    from tests.pgproxy import PgProxy

    proxy = PgProxy(pg_dsn)
    await proxy.start()
    try:
        bot = await make_bot(config_with(oncall=ROTA), dsn=proxy.dsn)
        proxy.cut()
        status, answer = await post(bot.url + "/hooks/grafana", grafana("firing", now()), AUTH)
        assert status == 503 and "not stored" in answer["error"]
        proxy.restore()
        await eventually(lambda: _accepted(bot), within=10)
    finally:
        await proxy.stop()


async def _accepted(bot: RunningBot) -> bool:
    status, _ = await post(bot.url + "/hooks/grafana", grafana("firing", now()), AUTH)
    return status == 200


# -- one message per episode, from a real Alertmanager ---------------------------------------------------------


async def test_alertmanager_alert_fires_resolves_and_comes_back_in_the_thread(
    bot: RunningBot, fake_slack: FakeSlack, tmp_path: Path, clock
) -> None:
    started = clock.now() - timedelta(minutes=3)
    async with alertmanagers(tmp_path, bot.url, SECRET) as (am,):
        await am.push(
            alert("HighErrorRate", started, summary="5xx at 7% <!channel> & <b>", description="error rate > 5%")
        )
        first = (await eventually(lambda: posts(fake_slack), within=15))[0]
        seen = flatten(first)
        assert "P1 · HighErrorRate" in seen and "alert table: " not in seen
        assert "5xx at 7% &lt;!channel&gt; &amp; &lt;b&gt;" in seen and "<!channel>" not in seen
        assert "<@U0ALICE> (on-call primary)" in seen  # P1 mentions the primary …
        assert await eventually(
            lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0ALICE"]
        )
        # No Silence without ZZIK_ALERTMANAGER_URL; no prod deploy before it: the recovery runbook (config recovery).
        assert buttons(first) == ["Acknowledge", "Declare incident", "Start runbook: Application Recovery"]

        await am.push(alert("HighErrorRate", started, ends=clock.now(), summary="5xx at 7% <!channel> & <b>"))
        edit = (await eventually(lambda: updates(fake_slack), within=15))[-1]
        first_ts = await bot.db.fetchval("SELECT message_ts FROM alerts WHERE episode = 1")
        assert edit["ts"] == first_ts and "Resolved* after" in flatten(edit)
        assert buttons(edit) == []

        again = clock.now() + timedelta(minutes=1)
        await am.push(alert("HighErrorRate", again, summary="5xx back"))
        second = (await eventually(lambda: posts(fake_slack)[1:], within=15))[0]
        assert second["thread_ts"] == first_ts and second["reply_broadcast"] in (True, "true", "1")
        assert "Episode 2" in flatten(second)
    rows = await alert_rows(bot)
    assert [(r["status"], r["episode"]) for r in rows] == [("resolved", 1), ("firing", 2)]
    assert len(posts(fake_slack)) == 2


async def test_ha_pair_posts_once_and_a_stale_firing_never_reopens(
    bot: RunningBot, fake_slack: FakeSlack, tmp_path: Path, clock
) -> None:
    started = clock.now() - timedelta(minutes=3)
    async with alertmanagers(tmp_path, bot.url, SECRET, n=2, repeat_interval="300ms") as (one, two):
        firing = alert("ServiceDown", started, summary="api is down")
        await one.push(firing)
        await two.push(firing)
        # Both members of the pair delivered it; it is posted once.
        await eventually(lambda: _senders(bot, "firing", {one.url, two.url}), within=20)
        await eventually(lambda: posts(fake_slack), within=10)
        await one.push(alert("ServiceDown", started, ends=clock.now(), summary="api is down"))
        await eventually(lambda: _resolved(bot), within=15)
        resolved_at = await bot.db.fetchval("SELECT max(id) FROM alert_deliveries")
        # The other member still thinks it fires and says so again: a stale firing of the same episode.
        await eventually(lambda: _stale_after(bot, resolved_at, two.url), within=20)
        await eventually(lambda: _all_processed(bot), within=10)
    rows = await alert_rows(bot)
    assert [(r["alertname"], r["status"]) for r in rows] == [("ServiceDown", "resolved")]
    assert len(posts(fake_slack)) == 1
    assert "Resolved* after" in flatten(updates(fake_slack)[-1])


async def _senders(bot: RunningBot, status: str, wanted: set[str]) -> bool:
    rows = await bot.db.fetch("SELECT body FROM alert_deliveries")
    seen = {json.loads(r["body"])["externalURL"] for r in rows if json.loads(r["body"])["status"] == status}
    return wanted <= seen


async def _resolved(bot: RunningBot) -> bool:
    return await bot.db.fetchval("SELECT count(*) FROM alerts WHERE status = 'resolved'") == 1


async def _stale_after(bot: RunningBot, after: int, sender: str) -> bool:
    rows = await bot.db.fetch("SELECT body FROM alert_deliveries WHERE id > $1", after)
    return any(
        json.loads(r["body"])["externalURL"] == sender and json.loads(r["body"])["status"] == "firing" for r in rows
    )


async def _all_processed(bot: RunningBot) -> bool:
    return await bot.db.fetchval("SELECT count(*) FROM alert_deliveries WHERE processed_at IS NULL") == 0


# -- the manual's table ------------------------------------------------------------------------------------------


def test_priority_comes_from_the_table_then_the_severity_label_then_p3() -> None:
    config = opsconfig.load()
    high = rules.meaning(config, {"alertname": "HighErrorRate"})
    assert (high.priority, high.response_time) == ("P1", timedelta(minutes=5))
    disk = rules.meaning(config, {"alertname": "DiskSpace", "severity": "critical"})
    assert (disk.priority, disk.response_time) == ("P2", timedelta(hours=1))  # the table wins over the label
    slow = rules.meaning(config, {"alertname": "SlowResponse"})
    assert [r.slug for r in slow.runbooks] == ["high-cpu", "slow-api"]
    assert rules.meaning(config, {"alertname": "Other", "severity": "warning"}).priority == "P3"
    assert rules.meaning(config, {"alertname": "Other", "severity": "critical"}).priority == "P1"
    assert rules.meaning(config, {"alertname": "Other"}).priority == "P3"
    assert rules.rollback_criterion(config, {"alertname": "HighErrorRate"}) == "error_rate"
    assert rules.rollback_criterion(config, {"alertname": "SlowResponse"}) == "performance"


def test_check_config_validates_the_alert_rules(tmp_path: Path) -> None:
    bad = tmp_path / "ops.yml"
    bad.write_text("alerts:\n  - {name: Disk, condition: x, priority: P2, response_time: 1h, runbook: nope}\n")
    with pytest.raises(opsconfig.ConfigError, match="runbook 'nope' is not a runbook slug"):
        opsconfig.load(bad)
    bad.write_text("alerting:\n  auto_declare: [P7]\n")
    with pytest.raises(opsconfig.ConfigError, match=r"alerting\.auto_declare\.0"):
        opsconfig.load(bad)


# -- owning it: acknowledge, escalation, runbooks, /alerts -------------------------------------------------------


async def click(bot: RunningBot, fake: FakeSlack, action_id: str, value: str, user: str = "U0BOB") -> str:
    before = len(fake.calls_to("response_url"))
    assert (await bot.slack.action(action_id, value, user=user, channel="C0ALERTS")).status == 200
    calls = await eventually(lambda: fake.calls_to("response_url")[before:])
    return flatten(calls[0])


async def test_grafana_alert_is_owned_escalated_until_acknowledged_and_suggests_runbooks(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    started = clock.now()
    status, _ = await post(bot.url + "/hooks/grafana", grafana("firing", started), AUTH)
    assert status == 200
    message = (await eventually(lambda: posts(fake_slack)))[0]
    seen = flatten(message)
    assert "P2 · SlowResponse" in seen and "respond within 15m" in seen and "Values: `B=4.2, C=1`" in seen
    assert "<@U0ALICE> (on-call primary)" in seen
    assert not [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0ALICE"]  # P2: no DM
    assert buttons(message) == [
        "Acknowledge",
        "Declare incident",
        "Start runbook: High CPU Usage",
        "Start runbook: Slow API Responses",
    ]
    alert_id = (await alert_rows(bot))[0]["id"]

    clock.advance(timedelta(minutes=16))  # past the response time: the chain starts with the primary
    await bot.tick()
    page = await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0ALICE"])
    assert "Not acknowledged after 16m" in page[0]["text"]
    await eventually(
        lambda: any("escalated to the primary <@U0ALICE>" in c["text"] for c in posts(fake_slack) if c.get("thread_ts"))
    )

    said = await click(bot, fake_slack, "alert_acknowledge", str(alert_id))
    assert said.startswith("You acknowledged SlowResponse (P2)")
    edit = (await eventually(lambda: updates(fake_slack)))[-1]
    assert "Acknowledged by <@U0BOB>" in flatten(edit) and "Acknowledge" not in buttons(edit)
    assert "Already acknowledged by <@U0BOB>" in await click(bot, fake_slack, "alert_acknowledge", str(alert_id))
    clock.advance(timedelta(minutes=30))
    await bot.tick()
    assert not [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0BOB"]  # no escalation

    runbook = button(message, "Start runbook: Slow API Responses")
    assert runbook["action_id"] == "alert_runbook:slow-api"
    assert await click(bot, fake_slack, runbook["action_id"], runbook["value"]) == "Slow API Responses started."
    assert any("Check database query performance" in flatten(c) for c in posts(fake_slack))

    listing = await ask(fake_slack, bot, "/alerts")
    assert "*P2* SlowResponse — p95 latency is 4.2s on /search · for 46m · acknowledged by <@U0BOB>" in listing
    await post(bot.url + "/hooks/grafana", grafana("resolved", started, ends=started + timedelta(minutes=40)), AUTH)
    await eventually(lambda: "Resolved* after 40m" in flatten(updates(fake_slack)[-1]))
    assert await ask(fake_slack, bot, "/alerts") == "Nothing is firing."
    history = await ask(fake_slack, bot, "/alerts", "history 5")
    assert "P2 SlowResponse — p95 latency is 4.2s on /search · resolved after 40m" in history
    assert "takes a number from 1 to 100" in await ask(fake_slack, bot, "/alerts", "history 500")
    audit = await bot.db.fetch("SELECT actor FROM audit_log WHERE kind = 'alert' AND action = 'acknowledge'")
    assert [r["actor"] for r in audit] == ["U0BOB"]


async def test_declare_incident_from_an_alert_links_both_ways(bot: RunningBot, fake_slack: FakeSlack, clock) -> None:
    started = clock.now()
    await post(bot.url + "/hooks/grafana", grafana("firing", started, name="HighErrorRate"), AUTH)
    alert_id = (await eventually(lambda: alert_rows(bot)))[0]["id"]
    await eventually(lambda: posts(fake_slack))
    assert (await bot.slack.action("alert_declare", str(alert_id), user="U0BOB", channel="C0ALERTS")).status == 200
    view = (await eventually(lambda: fake_slack.calls_to("views.open")))[0]["view"]
    blocks = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert blocks["title"]["initial_value"] == "p95 latency is 4.2s on /search"
    assert blocks["severity"]["initial_option"]["value"] == "P1"
    assert "From the P1 alert HighErrorRate" in blocks["description"]["initial_value"]

    values = {
        "title": {"value": {"value": blocks["title"]["initial_value"]}},
        "severity": {"value": {"selected_option": {"value": "P1"}}},
        "description": {"value": {"value": blocks["description"]["initial_value"]}},
        "commander": {"value": {"selected_user": "U0BOB"}},
    }
    reply = await bot.slack.view_submission(
        "incident_declare", values, user="U0BOB", view_id="V9", private_metadata=view["private_metadata"]
    )
    assert reply.status == 200
    incident = await eventually(lambda: bot.db.fetchrow("SELECT * FROM incidents"))
    await eventually(lambda: _linked(bot, incident["id"]))
    events = [
        r["text"] for r in await bot.db.fetch("SELECT text FROM incident_events WHERE incident_id = $1", incident["id"])
    ]
    assert any(t.startswith("alert P1 HighErrorRate: p95 latency is 4.2s on /search") for t in events)
    await eventually(lambda: "Incident INC-1" in flatten(updates(fake_slack)[-1]) if updates(fake_slack) else False)

    await post(
        bot.url + "/hooks/grafana",
        grafana("resolved", started, ends=started + timedelta(minutes=9), name="HighErrorRate"),
        AUTH,
    )
    channel = await eventually(lambda: bot.db.fetchval("SELECT channel_id FROM incidents"))  # once set up
    note = await eventually(
        lambda: [
            c
            for c in fake_slack.calls_to("chat.postMessage")
            if c["channel"] == channel and "resolved after" in c["text"]
        ]
    )
    assert "Alert *HighErrorRate*" in note[0]["text"]


async def _linked(bot: RunningBot, incident_id: int) -> bool:
    return await bot.db.fetchval("SELECT incident_id FROM alerts") == incident_id


async def test_config_auto_declares_an_incident_for_a_p1_alert(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    bot = await make_bot(config_with(oncall=ROTA, alerting={"auto_declare": ["P1"]}), zzik_alert_pace_seconds=0.02)
    await post(bot.url + "/hooks/grafana", grafana("firing", now(), name="ServiceDown"), AUTH)
    incident = await eventually(lambda: bot.db.fetchrow("SELECT * FROM incidents"))
    assert (incident["severity"], incident["commander"]) == ("P1", "U0ALICE")
    await eventually(lambda: _linked(bot, incident["id"]))
    await post(bot.url + "/hooks/grafana", grafana("firing", now(), name="SlowResponse"), AUTH)  # P2: offered only
    await eventually(lambda: _count(bot, "SELECT count(*) FROM alerts WHERE alertname = 'SlowResponse'"))
    assert await bot.db.fetchval("SELECT count(*) FROM incidents") == 1


async def _count(bot: RunningBot, query: str) -> int:
    return await bot.db.fetchval(query)


async def _is(bot: RunningBot, query: str, value: Any) -> bool:
    return await bot.db.fetchval(query) == value


# -- deploys ----------------------------------------------------------------------------------------------------


async def _prod_deploys(bot: RunningBot, finished: datetime) -> None:
    for version, done in (("v1.0", finished - timedelta(days=2)), ("v1.1", finished)):
        await bot.db.execute(
            """INSERT INTO deploys (environment, version, status, request_key, requested_by, started_by, started_at,
                                    finished_at, watch_until, channel, message_ts, created_at)
               VALUES ('prod', $1, 'succeeded', $1, 'U0DAVE', 'U0DAVE', $2, $2, $3, 'C0DEPLOYS', $4, $2)""",
            version,
            done,
            done + timedelta(minutes=30),
            f"1600000000.{version[-1]}",
        )


async def test_an_alert_in_a_deploys_watch_window_blames_it_and_offers_the_rollback(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    deployed = clock.now() - timedelta(minutes=10)
    await _prod_deploys(bot, deployed)
    await post(
        bot.url + "/hooks/grafana", grafana("firing", deployed + timedelta(minutes=6), name="HighErrorRate"), AUTH
    )
    # Firing since before the deploy finished: not its fault.
    await post(bot.url + "/hooks/grafana", grafana("firing", deployed - timedelta(minutes=20), name="DiskSpace"), AUTH)
    await eventually(lambda: len(posts(fake_slack)) == 2)
    blamed, earlier = sorted(posts(fake_slack), key=lambda c: "DiskSpace" in flatten(c))
    assert "Started 6 min after Deploy #2 of v1.1 to prod (`v1.1`, by <@U0DAVE>)" in flatten(blamed)
    assert "Roll back" in buttons(blamed)
    assert "after Deploy" not in flatten(earlier) and "Roll back" not in buttons(earlier)
    thread = await eventually(
        lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "C0DEPLOYS"]
    )
    assert len(thread) == 1 and thread[0]["thread_ts"] == "1600000000.1"
    assert "HighErrorRate* started 6 min after this deploy (`v1.1` by <@U0DAVE>)" in thread[0]["text"]

    before = len(fake_slack.calls_to("response_url"))
    await bot.slack.action("alert_roll_back", button(blamed, "Roll back")["value"], user="U0DAVE", channel="C0ALERTS")
    offer = (await eventually(lambda: fake_slack.calls_to("response_url")[before:]))[0]
    radio = next(
        e for b in offer["blocks"] if b["type"] == "actions" for e in b["elements"] if e["type"] == "radio_buttons"
    )
    assert radio["initial_option"]["value"] == "error_rate"
    assert "Alert HighErrorRate: p95 latency is 4.2s on /search · values B=4.2, C=1" in flatten(offer)
    assert "back to `v1.0`" in flatten(offer) and offer["text"] == "Roll back prod?"


# -- silences against a real Alertmanager ----------------------------------------------------------------------


async def test_silence_and_unsilence_through_alertmanagers_api(
    make_bot: BotFactory, fake_slack: FakeSlack, tmp_path: Path, clock
) -> None:
    from tests.processes import free_port

    port = free_port()
    bot = await make_bot(
        config_with(oncall=ROTA), zzik_alert_pace_seconds=0.02, zzik_alertmanager_url=f"http://127.0.0.1:{port}"
    )
    async with alertmanagers(tmp_path, bot.url, SECRET, ports=[port]) as (am,):
        await am.push(alert("DiskSpace", clock.now(), labels={"instance": "db-1"}, summary="12% free on /data"))
        message = (await eventually(lambda: posts(fake_slack), within=15))[0]
        assert buttons(message)[-2:] == ["Silence 1h", "Silence 4h"]
        said = await click(bot, fake_slack, "alert_silence:1h", button(message, "Silence 1h")["value"])
        assert said.startswith("Silenced DiskSpace for 1 h")
        row = (await alert_rows(bot))[0]
        silence = await am.silence(row["silence_id"])
        assert silence["status"]["state"] == "active" and silence["createdBy"] == "U0BOB"
        assert {(m["name"], m["value"]) for m in silence["matchers"]} == {
            ("alertname", "DiskSpace"),
            ("instance", "db-1"),
        }

        edit = (await eventually(ticking(bot, lambda: updates(fake_slack))))[-1]
        assert "Silenced until" in flatten(edit) and "by <@U0BOB>" in flatten(edit)
        assert "Unsilence" in buttons(edit) and "Silence 1h" not in buttons(edit)

        said = await click(bot, fake_slack, "alert_unsilence", str(row["id"]))
        assert said.startswith(f"Silence `{row['silence_id']}` expired")
        assert (await am.silence(row["silence_id"]))["status"]["state"] == "expired"
        await eventually(ticking(bot, lambda: "Silence 1h" in buttons(updates(fake_slack)[-1])))
    actions = [r["action"] for r in await bot.db.fetch("SELECT action FROM audit_log WHERE kind = 'alert' ORDER BY id")]
    assert actions == ["silence", "unsilence"]


def ticking(bot: RunningBot, check: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    """`check` after a pass of the job runner. An edit due within the channel's pace is left to a job run, and
    the tests drive the runner by hand (in production it polls on its own)."""

    async def ticked() -> Any:
        await bot.tick()
        result = check()
        return await result if asyncio.iscoroutine(result) else result

    return ticked


def swept(bot: RunningBot, clock: FrozenClock, check: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    """`check` after a run of the sweep. A later send that falls in the same second as a finished one is
    collapsed into it, and the sweep (every SWEEP_EVERY) posts what is still due; the tests' clock is frozen, so
    it is moved on a sweep at a time, a minute at most (far from any escalation)."""
    ticked = ticking(bot, check)
    sweeps = iter(range(6))

    async def after_sweep() -> Any:
        if next(sweeps, None) is not None:
            clock.advance(sending.SWEEP_EVERY)
        return await ticked()

    return after_sweep


# -- storms and Slack's limits ---------------------------------------------------------------------------------


def _pods(prefix: str, n: int, start: datetime) -> list[dict]:
    return [alert("PodCrashLooping", start, labels={"pod": f"{prefix}-{i}"}, summary=f"{prefix}-{i}") for i in range(n)]


async def test_a_storm_is_one_digest_edited_as_it_grows_and_a_429_loses_nothing(
    make_bot: BotFactory, fake_slack: FakeSlack, tmp_path: Path, clock
) -> None:
    bot = await make_bot(config_with(oncall=ROTA), zzik_alert_pace_seconds=0.1)
    async with alertmanagers(tmp_path, bot.url, SECRET, group_wait="1s") as (am,):
        start = clock.now()
        await am.push(*_pods("api", 60, start))
        await eventually(lambda: [c for c in posts(fake_slack) if "Alert storm: " in c["text"]], within=15)
        fake_slack.fail("chat.update", times=4, status=429, retry_after=0)  # past the client's own retries
        await am.push(*_pods("web", 40, start))
        await eventually(lambda: _is(bot, "SELECT count(*) FROM alerts", 100), within=15)
        in_digest = await bot.db.fetchval("SELECT count(*) FROM alerts WHERE digest_id IS NOT NULL")
        said = f"Alert storm: {in_digest} firing"
        await eventually(
            swept(bot, clock, lambda: updates(fake_slack) and said in updates(fake_slack)[-1]["text"]), within=20
        )
    own = await bot.db.fetchval("SELECT count(*) FROM alerts WHERE message_ts IS NOT NULL")
    # Alertmanager may flush the first few on their own before the burst is seen; the rest is one digest.
    assert own <= 5 and own + in_digest == 100
    assert len(posts(fake_slack)) == own + 1  # one message for the storm, none posted twice
    assert len([c for c in posts(fake_slack) if "Alert storm" in c["text"]]) == 1
    unsent = "SELECT count(*) FROM alert_digests WHERE version > sent_version"
    await eventually(swept(bot, clock, lambda: _is(bot, unsent, 0)))
    assert await bot.db.fetchval("SELECT count(*) FROM alerts WHERE version > sent_version AND digest_id IS NULL") == 0


async def test_a_slack_outage_delays_an_alert_but_never_drops_it(bot: RunningBot, fake_slack: FakeSlack, clock) -> None:
    fake_slack.fail("chat.postMessage", times=3, status=500)  # the client retries twice, then gives up
    assert (await post(bot.url + "/hooks/grafana", grafana("firing", clock.now()), AUTH))[0] == 200
    await eventually(lambda: len(fake_slack.calls_to("chat.postMessage")) == 3)
    await eventually(
        lambda: _count(bot, "SELECT count(*) FROM job_runs WHERE job = 'alerts.send' AND status = 'pending'")
    )
    assert await bot.db.fetchval("SELECT message_ts FROM alerts") is None
    clock.advance(timedelta(seconds=15))
    await bot.tick()
    await eventually(lambda: _count(bot, "SELECT count(*) FROM alerts WHERE message_ts IS NOT NULL"))
    assert len(posts(fake_slack)) == 4


async def test_a_crash_after_the_2xx_loses_nothing(pg_dsn: str, fake_slack: FakeSlack, tmp_path: Path) -> None:
    """kill -9 of a real `serve` while it posts an alert: another replica posts it."""
    from tests.processes import scratch_database, serve

    env = {"ZZIK_WEBHOOK_SECRET": SECRET, "ZZIK_JOB_TICK_SECONDS": "0.2"}
    fake_slack.fail("chat.postMessage", delay=4)  # the first replica is killed while Slack has not answered
    async with scratch_database(pg_dsn) as dsn:
        async with serve(dsn, fake_slack, tmp_path / "one.log", **env) as one:
            url = f"http://127.0.0.1:{one.port}"
            status, answer = await post(url + "/hooks/grafana", grafana("firing", datetime.now(UTC)), AUTH)
            assert status == 200 and answer["alerts"] == 1
            await eventually(lambda: posts(fake_slack), within=15)
            one.proc.kill()
            await one.proc.wait()
        async with serve(dsn, fake_slack, tmp_path / "two.log", **env):
            await eventually(lambda: len(posts(fake_slack)) == 2, within=30)
            db = await asyncpg.connect(dsn)
            try:
                await eventually(lambda: db.fetchval("SELECT message_ts IS NOT NULL FROM alerts"), within=10)
            finally:
                await db.close()


async def test_flapping_is_labelled_and_threaded_not_broadcast(bot: RunningBot, fake_slack: FakeSlack, clock) -> None:
    t0 = clock.now()
    for n in range(3):
        starts = t0 + timedelta(minutes=10 * n)
        await post(bot.url + "/hooks/grafana", grafana("firing", starts), AUTH)
        await eventually(lambda n=n: len(posts(fake_slack)) == n + 1)
        if n < 2:
            await post(
                bot.url + "/hooks/grafana", grafana("resolved", starts, ends=starts + timedelta(minutes=2)), AUTH
            )
            await eventually(lambda n=n: _is(bot, "SELECT count(*) FROM alerts WHERE status = 'resolved'", n + 1))
    first, second, third = posts(fake_slack)
    assert "thread_ts" not in first and second["reply_broadcast"] in (True, "true", "1")
    assert third["thread_ts"] == second["thread_ts"] and "reply_broadcast" not in third
    assert "*Flapping*: 3 episodes within 1h" in flatten(third)
    root_ts = await bot.db.fetchval("SELECT message_ts FROM alerts WHERE episode = 1")
    await eventually(lambda: any(c["ts"] == root_ts and "*Flapping*" in flatten(c) for c in updates(fake_slack)))
