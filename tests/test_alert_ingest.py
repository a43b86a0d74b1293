"""Alert ingest isolates the bad one: what PostgreSQL cannot store is made storable, each alert is read on its
own, and what a delivery leaves out (unreadable alerts, alerts past the limits) is said in #zzik-alerts."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.alerts import ingest
from bot.alerts.payloads import MAX_ALERTS
from bot.alerts.webhooks import READ_CAP
from bot.fakeslack import FakeSlack, flatten
from tests.alertmanager import alert, alertmanagers
from tests.conftest import ROTA, BotFactory, RunningBot, config_with, eventually
from tests.test_alerts import AUTH, SECRET, grafana, post, posts

AM = "/hooks/alertmanager"


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(config_with(oncall=ROTA), zzik_alert_pace_seconds=0.02)


def am_alert(pod: str, starts: datetime | str, *, labels: dict | None = None, **annotations: str) -> dict[str, Any]:
    """One alert as Alertmanager's webhook writes it (notify/webhook, template.Alert)."""
    return {
        "status": "firing",
        "labels": {"alertname": "IngestTest", "pod": pod, **(labels or {})},
        "annotations": {"summary": f"trouble on {pod}", **annotations},
        "startsAt": starts if isinstance(starts, str) else starts.isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": f"fp-{pod}",
    }


def am_delivery(*alerts: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    """Alertmanager's webhook message, version 4 (notify/webhook/webhook.go Message)."""
    return {
        "receiver": "zzik",
        "status": "firing",
        "alerts": list(alerts),
        "groupLabels": {"alertname": "IngestTest"},
        "commonLabels": {"alertname": "IngestTest"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid",
        "version": "4",
        "groupKey": '{}:{alertname="IngestTest"}',
        "truncatedAlerts": 0,
        **envelope,
    }


def notes(fake: FakeSlack) -> list[str]:
    return [flatten(c) for c in posts(fake) if "are not shown here" in c["text"]]


def alert_posts(fake: FakeSlack) -> list[str]:
    return [flatten(c) for c in posts(fake) if "are not shown here" not in c["text"]]


async def rows(bot: RunningBot, query: str, *args: Any) -> list[dict]:
    return [dict(r) for r in await bot.db.fetch(query, *args)]


# -- what jsonb refuses ------------------------------------------------------------------------------------------


async def test_a_nul_in_one_label_of_three_alerts_is_replaced_and_all_three_are_posted(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    started = clock.now() - timedelta(minutes=2)
    body = am_delivery(
        am_alert("api-1", started), am_alert("api-2", started, labels={"path": "/a\u0000b"}), am_alert("api-3", started)
    )
    status, answer = await post(bot.url + AM, body, AUTH)
    assert status == 200 and answer["alerts"] == 3 and answer["unreadable"] == 0
    await eventually(lambda: len(posts(fake_slack)) == 3)
    shown = " ".join(alert_posts(fake_slack))
    assert "trouble on api-1" in shown and "trouble on api-3" in shown
    assert "`path=/a\ufffdb`" in shown
    labels = [r["labels"] for r in await rows(bot, "SELECT labels FROM alerts ORDER BY id")]
    assert [json.loads(v)["pod"] for v in labels] == ["api-1", "api-2", "api-3"]
    assert json.loads(labels[1])["path"] == "/a\ufffdb"
    assert notes(fake_slack) == []  # nothing was left out


async def test_grafana_nan_and_infinity_values_are_kept_as_text(bot: RunningBot, fake_slack: FakeSlack, clock) -> None:
    body = grafana("firing", clock.now())
    body["alerts"][0]["values"] = {"A": float("nan"), "B": float("inf"), "C": float("-inf"), "D": 4.2}
    raw = json.dumps(body).encode()  # Python writes them as Grafana does: NaN, Infinity, -Infinity
    assert b'"A": NaN' in raw and b'"C": -Infinity' in raw
    status, _ = await post(bot.url + "/hooks/grafana", raw, AUTH)
    assert status == 200
    message = (await eventually(lambda: posts(fake_slack)))[0]
    assert "Values: `A=NaN, B=Infinity, C=-Infinity, D=4.2`" in flatten(message)
    stored = await bot.db.fetchval("SELECT body->'alerts'->0->'values' FROM alert_deliveries")
    assert json.loads(stored) == {"A": "NaN", "B": "Infinity", "C": "-Infinity", "D": 4.2}


async def test_a_body_nested_too_deep_to_store_is_refused_naming_the_field(bot: RunningBot) -> None:
    body = am_delivery(am_alert("api-1", datetime(2026, 12, 1)))
    deep: Any = "x"
    for _ in range(ingest.MAX_DEPTH + 5):
        deep = {"k": deep}
    body["extra"] = deep
    status, answer = await post(bot.url + AM, body, AUTH)
    assert status == 400 and answer["error"].startswith("extra.k.k") and "nested deeper than" in answer["error"]
    assert await bot.db.fetchval("SELECT count(*) FROM alert_deliveries") == 0


# -- each alert on its own ---------------------------------------------------------------------------------------


async def test_a_year_one_start_among_good_alerts_is_recorded_and_said_once_while_they_go_through(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    started = clock.now() - timedelta(minutes=2)
    body = am_delivery(
        am_alert("api-1", started),
        am_alert("api-2", "0001-01-01T00:00:00Z"),  # overflows once a flap window is taken from it
        am_alert("api-3", started),
        am_alert("api-4", "9999-12-31T23:59:59Z"),  # overflows once a duration is added
        {"status": "firing", "annotations": {}, "startsAt": "2026-12-01T00:00:00Z", "fingerprint": "no-labels"},
    )
    status, answer = await post(bot.url + AM, body, AUTH)
    assert status == 200 and (answer["alerts"], answer["unreadable"]) == (2, 3)
    note = (await eventually(lambda: notes(fake_slack)))[0]
    await eventually(lambda: len(alert_posts(fake_slack)) == 2)
    assert "*3 of 5 alerts* of a delivery from Alertmanager (receiver `zzik`" in note
    assert "*3 unreadable*" in note and "The other 2 go through as usual." in note
    assert "alerts.1: startsAt 0001-01-01T00:00:00+00:00 is out of range" in note
    assert "alerts.3: startsAt 9999-12-31T23:59:59+00:00 is out of range" in note
    assert "alerts.4.labels: Field required" in note
    shown = " ".join(alert_posts(fake_slack))
    assert "trouble on api-1" in shown and "trouble on api-3" in shown
    assert [r["fingerprint"] for r in await rows(bot, "SELECT fingerprint FROM alerts ORDER BY id")] == [
        "fp-api-1",
        "fp-api-3",
    ]
    rejects = await rows(bot, "SELECT position, reason, raw FROM alert_rejects ORDER BY position")
    assert [r["position"] for r in rejects] == [1, 3, 4]
    assert json.loads(rejects[0]["raw"])["startsAt"] == "0001-01-01T00:00:00Z"
    assert await bot.db.fetchval("SELECT count(*) FROM alert_deliveries WHERE processed_at IS NULL") == 0

    # Alertmanager sends the group again (group_interval, repeat_interval): recorded, not said again.
    status, _ = await post(bot.url + AM, body, AUTH)
    assert status == 200
    await eventually(lambda: _count(bot, "SELECT count(*) FROM alert_ingest_notes", 2))
    await eventually(lambda: _count(bot, "SELECT count(*) FROM alert_deliveries WHERE processed_at IS NULL", 0))
    await bot.tick()
    assert len(notes(fake_slack)) == 1 and len(alert_posts(fake_slack)) == 2


async def _count(bot: RunningBot, query: str, want: int) -> bool:
    return await bot.db.fetchval(query) == want


async def test_a_delivery_with_no_readable_alert_is_refused_and_still_said(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    body = am_delivery(am_alert("api-1", "0001-01-01T00:00:00Z"))
    status, answer = await post(bot.url + AM, body, AUTH)
    assert status == 400 and answer["error"].startswith("alerts.0: startsAt 0001-01-01")
    note = (await eventually(lambda: notes(fake_slack)))[0]
    assert "*1 of 1 alerts*" in note and "*1 unreadable*" in note
    assert await bot.db.fetchval("SELECT count(*) FROM alert_deliveries") == 0


async def test_null_common_fields_from_a_relay_are_accepted(bot: RunningBot, fake_slack: FakeSlack, clock) -> None:
    body = am_delivery(
        am_alert("api-1", clock.now(), labels={"severity": "warning"}),
        groupLabels=None,
        commonLabels=None,
        commonAnnotations=None,
    )
    body["alerts"][0]["annotations"] = None
    status, answer = await post(bot.url + AM, body, AUTH)
    assert status == 200 and answer["alerts"] == 1
    message = (await eventually(lambda: posts(fake_slack)))[0]
    assert "IngestTest" in flatten(message)
    grafana_body = grafana("firing", clock.now()) | {"groupLabels": None, "commonLabels": None}
    assert (await post(bot.url + "/hooks/grafana", grafana_body, AUTH))[0] == 200
    await eventually(lambda: len(posts(fake_slack)) == 2)


# -- too much at once ----------------------------------------------------------------------------------------------


async def test_an_oversized_delivery_stores_its_first_alerts_and_says_how_many_were_not_accepted(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    started = clock.now() - timedelta(minutes=1)
    big = "x" * (120 * 1024)  # 12 alerts of 120 KiB: about 1.4 MiB, past the 1 MiB the bot stores
    body = am_delivery(*(am_alert(f"api-{i}", started, description=big) for i in range(12)), truncatedAlerts=7)
    raw = json.dumps(body).encode()
    assert len(raw) > ingest.MAX_STORED
    status, answer = await post(bot.url + AM, raw, AUTH)
    assert status == 200 and (answer["alerts"], answer["not_accepted"]) == (8, 4)
    note = (await eventually(lambda: notes(fake_slack)))[0]
    assert "*11 of 19 alerts* of a delivery from Alertmanager" in note
    assert "*4 not accepted*: the delivery was over 1 MiB" in note and "`max_alerts`" in note
    assert "*7 left out by Alertmanager itself*" in note
    await eventually(lambda: _count(bot, "SELECT count(*) FROM alerts", 8))
    stored = await bot.db.fetchval("SELECT octet_length(body::text) FROM alert_deliveries")
    assert stored <= ingest.MAX_STORED
    await eventually(lambda: any("Alert storm: 8 firing" in c["text"] for c in posts(fake_slack)))


async def test_a_delivery_whose_first_alert_alone_is_too_large_is_refused_and_still_said(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    huge = am_delivery(am_alert("api-1", clock.now(), description="x" * (ingest.MAX_STORED + 1)))
    status, answer = await post(bot.url + AM, huge, AUTH)
    assert status == 413 and answer["error"].startswith("alerts: past the bot's limit (over 1 MiB)")
    note = (await eventually(lambda: notes(fake_slack)))[0]
    assert "*1 of 1 alerts*" in note and "*1 not accepted*" in note
    # Past what the bot reads at all: refused unread, as before.
    status, _ = await post(bot.url + AM, b"[" + b" " * (READ_CAP + 1) + b"]", AUTH)
    assert status == 413
    assert await bot.db.fetchval("SELECT count(*) FROM alert_deliveries") == 0


def test_past_the_alert_count_limit_the_first_alerts_are_admitted() -> None:
    """The count limit, without posting 5,000 alerts through Slack's pace (the size limit is the same path)."""
    alerts = [  # small enough that 5,000 of them fit in 1 MiB
        {"status": "firing", "labels": {"p": str(i)}, "startsAt": "2026-12-01T00:00:00Z", "fingerprint": f"fp-p{i}"}
        for i in range(MAX_ALERTS + 3)
    ]
    alerts[1]["startsAt"] = "0001-01-01T00:00:00Z"
    admitted = ingest.admit("alertmanager", ingest.decode(json.dumps(am_delivery(*alerts)).encode()))
    assert (admitted.accepted, len(admitted.unreadable), admitted.over_limit) == (MAX_ALERTS, 1, 2)
    assert admitted.limit_reason == "over 5,000 alerts"
    assert admitted.body is not None and admitted.body["alerts"][-1]["fingerprint"] == f"fp-p{MAX_ALERTS}"


# -- the real Alertmanager -----------------------------------------------------------------------------------------


async def test_a_real_alertmanagers_nul_label_and_year_one_start_spare_their_neighbours(
    bot: RunningBot, fake_slack: FakeSlack, tmp_path: Path, clock
) -> None:
    started = clock.now() - timedelta(minutes=3)
    async with alertmanagers(tmp_path, bot.url, SECRET) as (am,):
        year_one = alert("IngestTest", started, labels={"pod": "api-3"}, summary="year one")
        year_one["startsAt"] = "0001-01-01T00:00:01Z"  # not Go's zero time, which Alertmanager would replace
        await am.push(
            alert("IngestTest", started, labels={"pod": "api-1"}, summary="good one"),
            alert("IngestTest", started, labels={"pod": "api-\u00002"}, summary="nul one"),
            year_one,
        )
        note = (await eventually(lambda: notes(fake_slack), within=20))[0]
        await eventually(lambda: len(alert_posts(fake_slack)) == 2, within=20)
    assert "*1 unreadable*" in note and "startsAt 0001-01-01T00:00:01+00:00 is out of range" in note
    shown = " ".join(alert_posts(fake_slack))
    assert "good one" in shown and "nul one" in shown and "`pod=api-\ufffd2`" in shown
    raw = json.loads(await bot.db.fetchval("SELECT raw FROM alert_rejects"))
    assert raw["annotations"]["summary"] == "year one"


# -- the note itself -----------------------------------------------------------------------------------------------


async def test_a_slack_outage_delays_the_note_but_never_drops_it(bot: RunningBot, fake_slack: FakeSlack, clock) -> None:
    fake_slack.fail("chat.postMessage", times=3, status=500)  # the client retries twice, then gives up
    status, _ = await post(bot.url + AM, am_delivery(am_alert("api-1", "0001-01-01T00:00:00Z")), AUTH)
    assert status == 400
    await eventually(lambda: len(fake_slack.calls_to("chat.postMessage")) == 3)
    await eventually(
        lambda: _count(bot, "SELECT count(*) FROM job_runs WHERE job = 'alerts.ingest_note' AND status = 'pending'", 1)
    )
    assert await bot.db.fetchval("SELECT message_ts FROM alert_ingest_notes") is None
    clock.advance(timedelta(seconds=15))
    await bot.tick()
    await eventually(lambda: _count(bot, "SELECT count(*) FROM alert_ingest_notes WHERE message_ts IS NOT NULL", 1))
    assert len(notes(fake_slack)) == 4  # three refused, then the one Slack took


async def test_an_ha_pair_delivering_the_same_bad_group_at_once_is_said_once(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    started = clock.now() - timedelta(minutes=1)
    body = am_delivery(am_alert("api-1", started), am_alert("api-2", "0001-01-01T00:00:00Z"))
    answers = await asyncio.gather(*(post(bot.url + AM, body, AUTH) for _ in range(4)))
    assert [status for status, _ in answers] == [200] * 4
    await eventually(lambda: _count(bot, "SELECT count(*) FROM alert_ingest_notes", 4))
    await eventually(lambda: notes(fake_slack))
    await eventually(lambda: alert_posts(fake_slack))
    await eventually(lambda: _count(bot, "SELECT count(*) FROM alert_deliveries WHERE processed_at IS NULL", 0))
    await eventually(lambda: _count(bot, "SELECT count(*) FROM alert_ingest_notes WHERE message_ts IS NOT NULL", 1))
    assert await bot.db.fetchval("SELECT count(*) FROM alert_ingest_notes WHERE said") == 1
    assert len(notes(fake_slack)) == 1 and len(alert_posts(fake_slack)) == 1
