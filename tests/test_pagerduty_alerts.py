"""A P1 alert that no incident is declared for pages through PagerDuty too (the same durable send as incidents),
and PagerDuty hears when it is acknowledged in Slack and when it resolves."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.clock import FrozenClock
from bot.events import Published
from bot.fakeslack import FakeSlack
from tests.alertmanager import now
from tests.conftest import ROTA, BotFactory, RunningBot, config_with, eventually
from tests.fakepagerduty import KEY, FakePagerDuty, user
from tests.test_alerts import AUTH, grafana, post

SECRET = "pd-webhook-secret-new-4c1e"
ESCALATIONS = "SELECT count(*) FROM job_runs WHERE job = 'alerts.escalate' AND status = 'pending'"


async def make(make_bot: BotFactory, pagerduty: FakePagerDuty, **alerting: object) -> RunningBot:
    sections: dict = {"oncall": ROTA, "pagerduty": {"users": {"PALICE1": "U0ALICE"}}}
    bot = await make_bot(
        config_with(**sections, alerting=alerting) if alerting else config_with(**sections),
        zzik_alert_pace_seconds=0.02,
        zzik_pagerduty_routing_key=KEY,
        zzik_pagerduty_events_url=pagerduty.url,
        zzik_pagerduty_webhook_secret=SECRET,
    )
    pagerduty.subscribe(f"{bot.url}/hooks/pagerduty", [SECRET])
    return bot


async def outcomes(bot: RunningBot) -> list[str]:
    rows = await bot.db.fetch(
        "SELECT outcome FROM pagerduty_webhooks WHERE event_type = 'incident.acknowledged' AND processed_at IS NOT NULL"
    )
    return [r["outcome"] for r in rows]


async def fire(bot: RunningBot, pagerduty: FakePagerDuty) -> None:
    assert (await post(bot.url + "/hooks/grafana", grafana("firing", now(), name="ServiceDown"), AUTH))[0] == 200
    await eventually(lambda: pagerduty.actions("ALERT-1") == ["trigger"])
    await eventually(lambda: bot.db.fetchval("SELECT message_ts IS NOT NULL FROM alerts"))


async def test_a_p1_alert_pages_pagerduty_once_and_follows_it(
    make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    bot = await make(make_bot, pagerduty)
    started = now()
    firing = grafana("firing", started, name="ServiceDown")
    assert (await post(bot.url + "/hooks/grafana", firing, AUTH))[0] == 200
    await eventually(lambda: pagerduty.received)
    await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0ALICE"])
    [trigger] = pagerduty.received
    assert (trigger["dedup_key"], trigger["payload"]["severity"]) == ("ALERT-1", "critical")
    assert trigger["payload"]["summary"] == "P1 alert ServiceDown: p95 latency is 4.2s on /search"
    assert trigger["links"] == [{"href": "https://grafana.invalid/alerting/grafana/abc/view", "text": "Alert source"}]
    # Grafana sends the same firing again: nothing new in PagerDuty.
    assert (await post(bot.url + "/hooks/grafana", firing, AUTH))[0] == 200
    await bot.tick()
    assert pagerduty.actions("ALERT-1") == ["trigger"]

    await bot.slack.action("alert_acknowledge", "1", user="U0BOB", channel="C0ALERTS")
    await eventually(lambda: pagerduty.incidents["ALERT-1"]["status"] == "acknowledged")
    assert await eventually(lambda: outcomes(bot)) == ["already"]  # PagerDuty's echo changes nothing
    resolved = grafana("resolved", started, ends=started + timedelta(minutes=4), name="ServiceDown")
    assert (await post(bot.url + "/hooks/grafana", resolved, AUTH))[0] == 200
    await eventually(lambda: bot.db.fetchval("SELECT count(*) = 3 FROM pagerduty_events"))
    await bot.tick()
    await eventually(lambda: pagerduty.incidents["ALERT-1"]["status"] == "resolved")
    assert pagerduty.actions("ALERT-1") == ["trigger", "acknowledge", "resolve"]


async def test_a_rate_limited_alert_page_is_retried(
    make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    bot = await make(make_bot, pagerduty)
    pagerduty.fail(429)
    pagerduty.fail(502)
    assert (await post(bot.url + "/hooks/grafana", grafana("firing", now(), name="ServiceDown"), AUTH))[0] == 200
    await eventually(lambda: pagerduty.answers[:1] == [429])
    assert pagerduty.received == []

    async def retried() -> bool:
        # Each look moves time past the next backoff and runs what is due. A fixed number of ticks is not enough:
        # a failed try still being recorded when a tick looks is not due for that tick.
        clock.advance(timedelta(minutes=1))
        await bot.tick()
        return pagerduty.actions("ALERT-1") == ["trigger"]

    await eventually(retried)
    assert pagerduty.answers[:3] == [429, 502, 202]


async def test_an_auto_declared_alert_pages_through_its_incident_only(
    make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    bot = await make(make_bot, pagerduty, auto_declare=["P1"])
    assert (await post(bot.url + "/hooks/grafana", grafana("firing", now(), name="ServiceDown"), AUTH))[0] == 200
    await eventually(lambda: pagerduty.actions("INC-1") == ["trigger"])
    await eventually(
        lambda: bot.db.fetchval("SELECT count(*) > 0 FROM job_runs WHERE job = 'alerts.page' AND status = 'done'")
    )
    await bot.tick()
    assert [e["dedup_key"] for e in pagerduty.received] == ["INC-1"]


async def test_acknowledged_in_pagerduty_by_a_known_user_acknowledges_the_alert(
    make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    bot = await make(make_bot, pagerduty)
    await fire(bot, pagerduty)
    assert await bot.db.fetchval(ESCALATIONS) > 0
    await pagerduty.acknowledge_in_pagerduty("ALERT-1", user("PALICE1", "Alice Example"))
    assert await eventually(lambda: outcomes(bot)) == ["alert:acknowledged"]
    row = await bot.db.fetchrow("SELECT acknowledged_by, acknowledged_at FROM alerts")
    assert row["acknowledged_by"] == "U0ALICE" and row["acknowledged_at"] is not None
    assert await bot.db.fetchval(ESCALATIONS) == 0
    await bot.tick()
    assert pagerduty.actions("ALERT-1") == ["trigger"]  # not echoed back


async def test_acknowledged_in_pagerduty_by_someone_unknown_is_told_in_the_thread(
    make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    bot = await make(make_bot, pagerduty)
    await fire(bot, pagerduty)
    await pagerduty.acknowledge_in_pagerduty("ALERT-1", user("PBOB001", "Bob <Builder>"))
    assert await eventually(lambda: outcomes(bot)) == ["alert:told"]
    ts = await bot.db.fetchval("SELECT message_ts FROM alerts")
    [note] = [c["text"] for c in fake_slack.calls_to("chat.postMessage") if c.get("thread_ts") == ts]
    assert note.startswith(
        ":pager: Acknowledged in <https://zzik.pagerduty.com/incidents/Q000001|PagerDuty #1> by Bob &lt;Builder&gt;."
    )
    assert await bot.db.fetchval("SELECT acknowledged_at FROM alerts") is None


async def _crash_after_commits(bot: RunningBot, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The replica dies once each event is committed, before any subscriber runs here: `after_commit` does
    nothing. Returns the subscriber jobs whose runs were in job_runs at that moment (committed with the change;
    pending, or already taken by another pass)."""
    committed: set[str] = set()

    async def crashed(published: Published) -> None:
        for job, key in published.runs:
            if await bot.db.fetchval("SELECT true FROM job_runs WHERE job = $1 AND run_key = $2", job, key):
                committed.add(job)

    monkeypatch.setattr(bot.services.events, "after_commit", crashed)
    return committed


async def _is_done(bot: RunningBot, job: str) -> bool:
    return await bot.db.fetchval("SELECT status FROM job_runs WHERE job = $1", job) == "done"


async def test_an_alert_page_reaches_pagerduty_after_a_crash_between_its_commit_and_the_trigger(
    make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await make(make_bot, pagerduty)
    committed = await _crash_after_commits(bot, monkeypatch)
    assert (await post(bot.url + "/hooks/grafana", grafana("firing", now(), name="ServiceDown"), AUTH))[0] == 200
    await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0ALICE"])
    # The page was committed with its subscriber's run; nothing ran it here.
    await eventually(lambda: "pagerduty.alert_paged" in committed)

    async def sent() -> bool:
        await bot.tick()  # any replica's pass
        return pagerduty.actions("ALERT-1") == ["trigger"]

    await eventually(sent)
    await eventually(lambda: _is_done(bot, "pagerduty.alert_paged"))  # the run that sent it (a pass may still end it)


async def test_an_acknowledgement_from_pagerduty_is_not_echoed_back_when_a_tick_runs_it(
    make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await make(make_bot, pagerduty)
    await fire(bot, pagerduty)
    committed = await _crash_after_commits(bot, monkeypatch)
    await pagerduty.acknowledge_in_pagerduty("ALERT-1", user("PALICE1", "Alice Example"))
    assert await eventually(lambda: outcomes(bot)) == ["alert:acknowledged"]
    await eventually(lambda: "pagerduty.alert_acknowledged" in committed)

    async def done() -> bool:
        await bot.tick()  # any replica's pass, outside the webhook's context
        return await _is_done(bot, "pagerduty.alert_acknowledged")

    await eventually(done)
    await bot.tick()
    assert pagerduty.actions("ALERT-1") == ["trigger"]  # the acknowledgement came from PagerDuty: not sent back


async def test_a_resolve_reaches_pagerduty_after_a_crash_between_its_commit_and_the_send(
    make_bot: BotFactory, pagerduty: FakePagerDuty, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await make(make_bot, pagerduty)
    started = now()
    await fire(bot, pagerduty)
    committed = await _crash_after_commits(bot, monkeypatch)
    resolved = grafana("resolved", started, ends=started + timedelta(minutes=4), name="ServiceDown")
    assert (await post(bot.url + "/hooks/grafana", resolved, AUTH))[0] == 200
    await eventually(lambda: "pagerduty.alert_resolved" in committed)

    async def sent() -> bool:
        await bot.tick()
        return pagerduty.actions("ALERT-1") == ["trigger", "resolve"]

    await eventually(sent)
