"""Heartbeats (dead man's switches) for the backups, end to end: signed webhooks in, the real job runner with a moved
clock, #zzik-alerts through the fake Slack, the daily checklist's backup item, /backups, and a real Prometheus."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from bot import opsconfig
from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from bot.heartbeats import flows as heartbeat_flows
from bot.opsconfig.sections import interval_of
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually
from tests.prom import MetricsEndpoint, PrometheusServer, start_prometheus

SECRET = "test-webhook-secret-77"  # the bot's ZZIK_WEBHOOK_SECRET in tests
AUTH = {"Authorization": f"Bearer {SECRET}"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ALERTS = "#zzik-alerts"
DAILY_THU = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # Thursday 09:00 CET: the daily checklist is due
GIB = 1024**3


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall=ROTA), zzik_alert_pace_seconds=0.02)


async def beat(
    bot: RunningBot, name: str, body: bytes | dict[str, Any] = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict]:
    """POST /hooks/heartbeat/<name> as a backup script's curl would (form fields), or a JSON object."""
    if isinstance(body, dict):
        data, kind = json.dumps(body).encode(), {"Content-Type": "application/json"}
    else:
        data, kind = body, FORM
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{bot.url}/hooks/heartbeat/{name}", data=data, headers={**kind, **(AUTH if headers is None else headers)}
        ) as r,
    ):
        return r.status, await r.json()


async def pass_minutes(bot: RunningBot, clock: FrozenClock, delta: timedelta) -> None:
    """Move the clock on and let the job runner pass (the check runs on each minute boundary it crosses once)."""
    clock.advance(delta)
    await bot.tick()


def alert_posts(fake: FakeSlack) -> list[dict]:
    return [c for c in fake.posted_in(ALERTS) if "Backup" in flatten(c)]


async def alerts_of(bot: RunningBot) -> list[dict]:
    rows = await bot.db.fetch(
        "SELECT alertname, status, priority, fingerprint, starts_at FROM alerts WHERE source = 'heartbeat' ORDER BY id"
    )
    return [dict(r) for r in rows]


# -- late, failed, resolved ----------------------------------------------------------------------------------------


async def test_a_late_backup_alerts_once_and_its_next_heartbeat_resolves_it(
    make_bot: BotFactory, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    config = config_with(oncall=ROTA)
    one = await make_bot(config, replica_id="one", zzik_alert_pace_seconds=0.02)
    two = await make_bot(config, replica_id="two", zzik_alert_pace_seconds=0.02)
    await one.tick()  # the check's schedule is laid down
    status, answer = await beat(one, "database", b"size=1288490189")
    assert status == 200, answer
    assert answer["ok"] is True and answer["status"] == "ok" and answer["alerted"] is False
    reported = clock.now()

    # Six hours and the grace (a quarter of it, at most 1h) later, less a minute: still fresh.
    await pass_minutes(one, clock, timedelta(hours=6, minutes=59))
    assert await alerts_of(one) == [] and alert_posts(fake_slack) == []

    # Late: both replicas pass at once; one alert, through the alerts pipeline, at the database row's priority.
    clock.advance(timedelta(minutes=2))
    await asyncio.gather(one.tick(), two.tick(), one.tick(), two.tick())
    [alert] = await alerts_of(one)
    assert alert["alertname"] == "BackupLate" and alert["status"] == "firing" and alert["priority"] == "P2"
    assert alert["fingerprint"] == "heartbeat:database"
    assert alert["starts_at"] == reported + timedelta(hours=7)  # late since its last success + 6h + 1h grace
    [posted] = await eventually(lambda: alert_posts(fake_slack))
    text = flatten(posted)
    assert "P2 · BackupLate" in text
    assert "Database backup is late: last success Wed 25 Nov 04:00 CET (expected every 6h)" in text
    assert "<@U0ALICE> (on-call primary)" in text  # a P2 names the on-call primary, as any P2 alert does
    escalations = await one.db.fetchval(
        "SELECT count(*) FROM job_runs WHERE job = 'alerts.escalate' AND status = 'pending'"
    )
    assert escalations == 3  # primary, secondary, manager, one response time (30 min) apart

    # Still late a few minutes on: the same alert, not another.
    await pass_minutes(one, clock, timedelta(minutes=5))
    assert len(await alerts_of(one)) == 1 and len(alert_posts(fake_slack)) == 1
    assert await one.db.fetchval("SELECT count(*) FROM alert_deliveries WHERE source = 'heartbeat'") == 1

    # The backup runs: the alert resolves, its message is edited, the escalations are cancelled.
    status, answer = await beat(one, "database", b"size=1300000000&message=ok+after+retry")
    assert status == 200 and answer["resolved"] is True
    await one.tick()
    [alert] = await alerts_of(one)
    assert alert["status"] == "resolved"
    edited = await eventually(lambda: [c for c in fake_slack.calls_to("chat.update") if "BackupLate" in flatten(c)])
    assert "Resolved" in flatten(edited[-1])
    assert (
        await one.db.fetchval("SELECT count(*) FROM job_runs WHERE job = 'alerts.escalate' AND status = 'pending'") == 0
    )

    # Fresh again: no new alert until it is late again.
    await pass_minutes(one, clock, timedelta(hours=6))
    assert len(await alerts_of(one)) == 1


async def test_a_failed_run_alerts_at_once_and_the_next_success_resolves_it(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    status, answer = await beat(bot, "logs", {"status": "fail", "message": "aws s3 cp: AccessDenied", "size": 0})
    assert status == 200 and answer["alerted"] is True
    await bot.tick()
    [alert] = await alerts_of(bot)
    assert alert["alertname"] == "BackupFailed" and alert["status"] == "firing"
    assert alert["priority"] == "P3"  # the logs row's priority: the default
    assert alert["starts_at"] == clock.now()
    [posted] = await eventually(lambda: alert_posts(fake_slack))
    assert "Logs backup failed: aws s3 cp: AccessDenied" in flatten(posted)

    # Another failure while it fires: the same alert.
    clock.advance(timedelta(minutes=10))
    status, answer = await beat(bot, "logs", b"status=fail")
    assert status == 200 and answer["alerted"] is False
    await bot.tick()
    assert len(await alerts_of(bot)) == 1

    # A failed run of a job the bot does not watch for lateness (On deployment) alerts too.
    assert (await beat(bot, "application", b"status=fail&message=tarball+upload+failed"))[0] == 200
    await bot.tick()
    assert [a["fingerprint"] for a in await alerts_of(bot)] == ["heartbeat:logs", "heartbeat:application"]

    clock.advance(timedelta(minutes=10))
    status, answer = await beat(bot, "logs", {"size": 5 * GIB})
    assert status == 200 and answer["resolved"] is True
    await bot.tick()
    assert [a["status"] for a in await alerts_of(bot)] == ["resolved", "firing"]


async def test_bad_requests_change_nothing(bot: RunningBot) -> None:
    assert await beat(bot, "database", headers={"Authorization": "Bearer wrong"}) == (
        401,
        {"error": "unauthorized: send Authorization: Bearer <secret>"},
    )
    assert (await beat(bot, "database", headers={}))[0] == 401
    status, answer = await beat(bot, "dtabase")
    assert status == 404
    assert answer["error"] == "name: no heartbeat 'dtabase' (configured: database, application, logs, media)"
    for body, field in (
        (b"size=1.2GB", "size"),
        (b"size=-1", "size"),
        (b"status=maybe", "status"),
        (b"bogus=1", "bogus"),
        (b"size=1&size=2", "size"),
        ({"status": "fail", "message": "x" * 501}, "message"),
        (b"[1, 2]", "body"),
        # A NUL (PostgreSQL cannot store it) or another control character; tab and newline are fine.
        (b"status=fail&message=disk%00full", "message"),
        ({"status": "fail", "message": "disk\u0000full"}, "message"),
        ({"message": "bell\u0007"}, "message"),
        ({"message": "lone \ud800"}, "message"),
        # JSON nested deeper than Python's parser goes.
        (b'{"message": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001, "body"),
    ):
        status, answer = await beat(bot, "database", body)
        assert status == 400, (body, answer)
        assert answer["error"].startswith(f"{field}:"), (body, answer)
    status, answer = await beat(bot, "database", b"message=disk%00full")
    assert answer["error"] == "message: no control characters but tab and newline (U+0000 at 4)"
    # A bad field on an unknown name: the field is named first (nothing is looked up for a bad body).
    assert (await beat(bot, "nope", b"size=x"))[0] == 400
    assert await bot.db.fetchval("SELECT count(*) FROM heartbeat_runs") == 0
    assert await bot.db.fetchval("SELECT count(*) FROM heartbeats") == 0
    assert await bot.db.fetchval("SELECT count(*) FROM alert_deliveries") == 0


# -- the daily checklist's "Verify backup completion" -------------------------------------------------------------


BACKUP_ITEM = """SELECT done_by, note FROM maintenance_items i JOIN maintenance_posts p ON p.id = i.post_id
                 WHERE p.kind = 'daily' AND p.due_at = $1 AND i.item = 2"""


async def daily(bot: RunningBot, due_at: datetime = DAILY_THU) -> str:
    """The message (its ts) of the daily checklist due then."""
    ts = await bot.db.fetchval("SELECT ts FROM maintenance_posts WHERE kind = 'daily' AND due_at = $1", due_at)
    assert ts is not None
    return ts


def backup_option(call: dict) -> dict | None:
    """The "Verify backup completion" option as ticked in the message (None: not ticked)."""
    for block in call.get("blocks") or []:
        for element in block.get("elements") or [block.get("accessory") or {}]:
            for option in element.get("initial_options") or []:
                if option["text"]["text"] == "Verify backup completion":
                    return option
    return None


async def test_the_daily_item_ticks_itself_when_every_backup_is_fresh(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    clock.set(DAILY_THU - timedelta(hours=3))  # 06:00 CET
    await bot.tick()
    assert (await beat(bot, "logs", b"size=367001600"))[0] == 200
    clock.set(DAILY_THU - timedelta(hours=1))  # 08:00 CET
    assert (await beat(bot, "database", b"size=1288490189"))[0] == 200
    clock.set(DAILY_THU + timedelta(seconds=1))
    await bot.tick()
    ts = await daily(bot)
    updates = await eventually(
        lambda: [c for c in fake_slack.calls_to("chat.update") if c["ts"] == ts and backup_option(c)]
    )
    option = backup_option(updates[-1])
    assert option is not None
    assert option["description"]["text"] == ("Database 08:00, 1.2 GiB · Logs 06:00, 350.0 MiB · Thu 26 Nov 09:00 CET")
    row = await bot.db.fetchrow(BACKUP_ITEM, DAILY_THU)
    assert row["done_by"] == "bot" and row["note"] == "Database 08:00, 1.2 GiB · Logs 06:00, 350.0 MiB"
    assert [c for c in fake_slack.posted_in("#zzik-dev") if c.get("thread_ts")] == []  # nothing late to say
    assert await bot.db.fetchval("SELECT count(*) FROM maintenance_items WHERE done_by IS NOT NULL") == 1


async def test_the_daily_item_names_the_late_backup_then_ticks_when_it_reports(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    clock.set(DAILY_THU - timedelta(days=1, hours=2))  # Wednesday 07:00 CET: logs last ran then
    await bot.tick()
    assert (await beat(bot, "logs", b"size=1000"))[0] == 200
    clock.set(DAILY_THU - timedelta(days=1) + timedelta(seconds=1))
    await bot.tick()  # Wednesday's checklist (the database had never reported: said in its thread)
    clock.set(DAILY_THU - timedelta(hours=1))
    assert (await beat(bot, "database", b"size=2000"))[0] == 200
    clock.set(DAILY_THU + timedelta(seconds=1))
    await bot.tick()
    ts = await daily(bot)

    def thread() -> list[dict]:
        return [c for c in fake_slack.posted_in("#zzik-dev") if c.get("thread_ts") == ts]

    [said] = await eventually(thread)
    assert said["text"] == (
        ":warning: *Verify backup completion*: not ticked, *Logs backup* is late: last success "
        "Wed 25 Nov 07:00 CET, 1d 2h ago. I tick it once every backup is fresh today."
    )
    assert await bot.db.fetchval("SELECT count(*) FROM maintenance_items WHERE done_by IS NOT NULL") == 0

    # The logs backup runs late that morning: the item ticks itself, and the thread hears it.
    clock.set(DAILY_THU + timedelta(hours=2))
    assert (await beat(bot, "logs", b"size=1500"))[0] == 200
    await bot.tick()
    await eventually(lambda: len(thread()) == 2)
    assert thread()[1]["text"].startswith(
        ":white_check_mark: *Verify backup completion*: every backup is fresh now (Database 08:00, 2.0 KiB"
    )
    row = await bot.db.fetchrow(BACKUP_ITEM, DAILY_THU)
    assert row["done_by"] == "bot" and row["note"] == "Database 08:00, 2.0 KiB · Logs 11:00, 1.5 KiB"

    # Another report that day changes nothing more.
    clock.advance(timedelta(hours=1))
    assert (await beat(bot, "logs"))[0] == 200
    await bot.tick()
    assert len(thread()) == 2


async def test_the_late_backups_done_note_is_posted_by_the_retry_after_a_failed_post(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    clock.set(DAILY_THU - timedelta(days=1, hours=2))
    await bot.tick()
    assert (await beat(bot, "logs", b"size=1000"))[0] == 200
    clock.set(DAILY_THU - timedelta(days=1) + timedelta(seconds=1))
    await bot.tick()
    clock.set(DAILY_THU - timedelta(hours=1))
    assert (await beat(bot, "database", b"size=2000"))[0] == 200
    clock.set(DAILY_THU + timedelta(seconds=1))
    await bot.tick()
    ts = await daily(bot)

    def thread() -> list[dict]:
        return [c for c in fake_slack.posted_in("#zzik-dev") if c.get("thread_ts") == ts]

    await eventually(thread)  # said late

    # The logs backup reports late; the item is ticked, and the thread's "fresh now" post fails once.
    fake_slack.fail("chat.postMessage", channel="C0DEV", error="internal_error")
    clock.set(DAILY_THU + timedelta(hours=2))
    assert (await beat(bot, "logs", b"size=1500"))[0] == 200
    await bot.tick()

    def fresh() -> list[dict]:
        return [c for c in thread() if "every backup is fresh now" in c["text"]]

    await eventually(fresh)  # the failed attempt
    row = await bot.db.fetchrow(BACKUP_ITEM, DAILY_THU)
    assert row["done_by"] == "bot"  # the tick committed before the post failed

    # Two replicas (or the job's retry and another report) check it again at once: it is posted once more only.
    post_id = await bot.db.fetchval("SELECT id FROM maintenance_posts WHERE kind = 'daily' AND due_at = $1", DAILY_THU)
    await asyncio.gather(*(heartbeat_flows.recheck(bot.services, post_id) for _ in range(2)))

    async def retried() -> bool:
        await pass_minutes(bot, clock, timedelta(minutes=1))
        return len(fresh()) == 2

    await eventually(retried)  # posted: the tick alone does not count the check done
    ticked = """SELECT c.ticked_at FROM heartbeat_checklists c JOIN maintenance_posts p ON p.id = c.post_id
                WHERE p.kind = 'daily' AND p.due_at = $1"""
    assert await bot.db.fetchval(ticked, DAILY_THU) is not None
    for _ in range(3):  # and it is posted once more only: the next runs find it recorded
        await pass_minutes(bot, clock, timedelta(minutes=2))
    assert len(fresh()) == 2


# -- /backups --------------------------------------------------------------------------------------------------


async def test_backups_shows_each_row_in_the_viewers_zone(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    assert (await beat(bot, "database", b"size=1288490189"))[0] == 200  # Wed 25 Nov 03:00 UTC
    clock.advance(timedelta(hours=2))
    assert (await beat(bot, "logs", b"status=fail&message=disk+full"))[0] == 200
    clock.advance(timedelta(hours=6))
    await bot.tick()
    text = await ask(fake_slack, bot, "/backups", user="U0ALICE")  # alice is in Asia/Seoul
    lines = text.splitlines()
    assert lines[0] == "*Backups and heartbeats*"
    assert lines[1] == (
        ":red_circle: *Database backup* (`database`) · every 6h (+1h grace) · last run Wed 25 Nov 12:00 KST, "
        "8h ago · 1.2 GiB · *late* (late since Wed 25 Nov 19:00 KST)"
    )
    assert lines[2] == (
        ":heavy_minus_sign: *Application backup* (`application`) · On deployment: not watched · no run recorded "
        "· *not watched*"
    )
    assert lines[3] == (
        ":red_circle: *Logs backup* (`logs`) · every 1d (+2h grace) · last run Wed 25 Nov 14:00 KST, 6h ago "
        "· *failed*: disk full"
    )
    assert lines[4].startswith(":heavy_minus_sign: *Media backup* (`media`) · Real-time: not watched")
    assert "Times in Asia/Seoul" in lines[5]

    clock.advance(timedelta(minutes=30))
    assert (await beat(bot, "database", b"size=2048"))[0] == 200
    text = await ask(fake_slack, bot, "/backups", user="U0DAVE")  # dave is in UTC
    assert "last run Wed 25 Nov 11:30 UTC, 0s ago · 2.0 KiB · *fresh*" in text
    assert "/hooks/heartbeat/" in await ask(fake_slack, bot, "/backups", "help")
    assert "`nope` is not a /backups command" in await ask(fake_slack, bot, "/backups", "nope")


async def test_a_job_is_watched_from_its_first_success(
    make_bot: BotFactory, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    """A job that never reported (a backup script not wired yet) is shown as "never" and pages nobody; from its
    first success on, it is late by its interval plus grace."""
    config = config_with(
        oncall=ROTA,
        backups=[],
        heartbeats=[{"name": "cert-renewal", "type": "Certificate renewal", "interval": "1d", "grace": "2h"}],
    )
    bot = await make_bot(config, zzik_alert_pace_seconds=0.02)
    await bot.tick()
    await pass_minutes(bot, clock, timedelta(days=3))
    assert await alerts_of(bot) == []
    text = await ask(fake_slack, bot, "/backups", user="U0DAVE")
    assert (
        "*Certificate renewal* (`cert-renewal`) · every 1d (+2h grace) · no run recorded · *never* "
        "(watched from its first run)" in text
    )

    assert (await beat(bot, "cert-renewal"))[0] == 200
    await pass_minutes(bot, clock, timedelta(hours=25, minutes=59))
    assert await alerts_of(bot) == []
    await pass_minutes(bot, clock, timedelta(minutes=2))
    [alert] = await alerts_of(bot)
    assert alert["alertname"] == "HeartbeatLate" and alert["priority"] == "P3"
    [posted] = await eventually(lambda: fake_slack.posted_in(ALERTS))
    assert "Certificate renewal is late: last success Sat 28 Nov 04:00 CET (expected every 1d)" in flatten(posted)


async def test_a_daily_backup_is_not_late_on_the_night_the_clocks_go_back(bot: RunningBot, clock: FrozenClock) -> None:
    """Logs runs at 03:05 Berlin time every night; from Saturday 24 October (CEST) to Sunday (CET) that is 25 hours,
    and the run takes a quarter of an hour: within its grace. The database (6h + 1h) is late, so the check ran."""
    clock.set(datetime(2026, 10, 24, 1, 5, tzinfo=UTC))  # 03:05 CEST
    await bot.tick()
    assert (await beat(bot, "logs"))[0] == 200 and (await beat(bot, "database"))[0] == 200
    clock.set(datetime(2026, 10, 25, 2, 20, tzinfo=UTC))  # 03:20 CET: the next night's run is not in yet
    await bot.tick()
    await pass_minutes(bot, clock, timedelta(minutes=1))
    assert [a["fingerprint"] for a in await alerts_of(bot)] == ["heartbeat:database"]


def test_frequency_words_give_the_interval() -> None:
    config = opsconfig.load()
    by_name = {b.name: b for b in config.backups}
    assert by_name["database"].every == timedelta(hours=6) and by_name["database"].priority == "P2"
    assert by_name["logs"].allowance == timedelta(hours=26)  # a daily job's grace is 2h (the clock change)
    assert by_name["database"].allowance == timedelta(hours=7)  # a quarter of 6h, at most 1h
    weekly = config_with(heartbeats=[{"name": "report", "interval": "7d"}, {"name": "sync", "interval": "20m"}])
    assert [h.allowance for h in weekly.heartbeats] == [timedelta(days=7, hours=2), timedelta(minutes=25)]
    assert by_name["application"].every is None and by_name["media"].every is None
    assert interval_of("Every 15 minutes") == timedelta(minutes=15) and interval_of("every hour") == timedelta(hours=1)
    assert interval_of("Hourly") == timedelta(hours=1) and interval_of("Weekly") == timedelta(weeks=1)
    assert interval_of("On deployment") is None and interval_of("Real-time") is None
    with pytest.raises(ValueError, match="a query needs an interval"):
        config_with(
            backups=[{"type": "Media", "frequency": "Real-time", "retention": "x", "location": "S3", "query": "m"}]
        )
    with pytest.raises(ValueError, match="used twice"):
        config_with(heartbeats=[{"name": "database", "interval": "1h"}])


# -- Prometheus ----------------------------------------------------------------------------------------------------


class BackupExporter(MetricsEndpoint):
    """/metrics with the backup job's last success time, as a backup script's textfile collector would export."""

    def __init__(self) -> None:
        self.last_success = 0.0

    def metrics(self) -> list[str]:
        return [
            "# TYPE backup_last_success_timestamp_seconds gauge",
            f'backup_last_success_timestamp_seconds{{type="database"}} {self.last_success}',
        ]


@pytest.fixture
async def backup_exporter() -> AsyncIterator[BackupExporter]:
    exporter = BackupExporter()
    exporter.last_success = time.time() - 8 * 3600  # the last database backup, 8 hours ago
    await exporter.start()
    yield exporter
    await exporter.stop()


@pytest.fixture
async def prometheus(backup_exporter: BackupExporter) -> AsyncIterator[PrometheusServer]:
    server = await start_prometheus({"backups": backup_exporter.url})
    yield server
    server.stop()


async def shows(prom: PrometheusServer, last_success: float) -> None:
    async def scraped() -> bool:
        found = await prom.query('backup_last_success_timestamp_seconds{type="database"}')
        return bool(found) and abs(float(found[0]["value"][1]) - last_success) < 1

    await eventually(scraped, within=30)


async def test_a_heartbeat_read_from_prometheus(
    make_bot: BotFactory,
    fake_slack: FakeSlack,
    clock: FrozenClock,
    backup_exporter: BackupExporter,
    prometheus: PrometheusServer,
) -> None:
    await shows(prometheus, backup_exporter.last_success)
    backups = [b.model_dump(mode="json", by_alias=True) for b in opsconfig.load().backups]
    backups[0]["query"] = 'backup_last_success_timestamp_seconds{type="database"}'
    config = config_with(oncall=ROTA, backups=backups, prometheus={"url": prometheus.url})
    clock.set(datetime.now(UTC))
    bot = await make_bot(config, zzik_alert_pace_seconds=0.02)
    await bot.tick()
    await pass_minutes(bot, clock, timedelta(minutes=1))

    # Prometheus says the last success was 8 hours ago: recorded as a run, and late (6h + 1h).
    run = await bot.db.fetchrow("SELECT name, at, ok, source FROM heartbeat_runs")
    assert run["name"] == "database" and run["ok"] and run["source"] == "prometheus"
    assert abs(run["at"].timestamp() - backup_exporter.last_success) < 0.01
    [alert] = await alerts_of(bot)
    assert alert["alertname"] == "BackupLate" and alert["status"] == "firing"
    [posted] = await eventually(lambda: alert_posts(fake_slack))
    assert "Database backup is late: last success" in flatten(posted)

    # The same reading a minute later is the same run, and the same alert.
    await pass_minutes(bot, clock, timedelta(minutes=1))
    assert await bot.db.fetchval("SELECT count(*) FROM heartbeat_runs") == 1

    # A newer success that is itself late (7.5 h ago) is recorded, and the same episode stays open (not resolved
    # and raised again).
    backup_exporter.last_success = time.time() - 7.5 * 3600
    await shows(prometheus, backup_exporter.last_success)
    await pass_minutes(bot, clock, timedelta(minutes=1))
    assert await bot.db.fetchval("SELECT count(*) FROM heartbeat_runs") == 2
    assert [(a["status"], a["starts_at"]) for a in await alerts_of(bot)] == [("firing", alert["starts_at"])]

    # The backup runs: Prometheus scrapes its new time, the next check records it and the alert resolves.
    backup_exporter.last_success = time.time() - 60
    await shows(prometheus, backup_exporter.last_success)
    await pass_minutes(bot, clock, timedelta(minutes=2))  # the clock stays within Prometheus's 5-minute lookback
    assert await bot.db.fetchval("SELECT count(*) FROM heartbeat_runs WHERE source = 'prometheus'") == 3
    [alert] = await alerts_of(bot)
    assert alert["status"] == "resolved"
    text = await ask(fake_slack, bot, "/backups", user="U0DAVE")
    assert "*Database backup* (`database`) · every 6h (+1h grace) · last run" in text and "*fresh*" in text
