"""The incidents' events: published in the change's transaction (a change rolled back announces nothing), run
durably (a subscriber run a crash left pending is done by the next tick), and PagerDuty hears the incidents only
through them (its subscriber runs trigger, acknowledge and resolve)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.events import Published
from bot.fakeslack import FakeSlack
from bot.incidents import events, flows, store
from bot.incidents.enums import Severity
from bot.pagerduty.ids import Job as PagerDutyJob
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually, set_up_is_over
from tests.fakepagerduty import KEY, FakePagerDuty


@pytest.fixture
async def bot(make_bot: BotFactory, pagerduty: FakePagerDuty) -> RunningBot:
    config = config_with(
        oncall=ROTA,
        permissions={"deployers": [], "incident_managers": ["U0DAVE"]},
        pagerduty={"severities": ["P1", "P2"]},
    )
    return await make_bot(config, zzik_pagerduty_routing_key=KEY, zzik_pagerduty_events_url=pagerduty.url)


async def runs(bot: RunningBot, job: str) -> list[dict[str, Any]]:
    rows = await bot.db.fetch("SELECT run_key, status FROM job_runs WHERE job = $1 ORDER BY id", job)
    return [dict(r) for r in rows]


async def _done(bot: RunningBot, job: str) -> bool:
    return [r["status"] for r in await runs(bot, job)] == ["done"]


async def declare(bot: RunningBot, key: str = "test:1", severity: str = "P1", **values: Any) -> Any:
    return await flows.declare(
        bot.services,
        key=key,
        title="Checkout is down",
        severity=Severity(severity),
        reporter="U0ALICE",
        set_up=False,
        **values,
    )


async def test_pagerduty_is_a_subscriber_of_the_incidents_events(bot: RunningBot) -> None:
    subscribers = bot.services.events.subscribers
    assert PagerDutyJob.INCIDENT_DECLARED in subscribers(events.IncidentDeclared)
    assert PagerDutyJob.SEVERITY_CHANGED in subscribers(events.SeverityChanged)
    assert PagerDutyJob.INCIDENT_ACKNOWLEDGED in subscribers(events.IncidentAcknowledged)
    assert PagerDutyJob.INCIDENT_RESOLVED in subscribers(events.IncidentResolved)


async def test_a_declaration_rolled_back_publishes_nothing(
    bot: RunningBot, pagerduty: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish = bot.services.events.publish

    async def publish_then_fail(conn: Any, event: Any, **kwargs: Any) -> Published:
        await publish(conn, event, **kwargs)  # the subscriber runs are added in the transaction...
        raise RuntimeError("the database went away")  # ...which then rolls back

    monkeypatch.setattr(bot.services.events, "publish", publish_then_fail)
    with pytest.raises(RuntimeError):
        await declare(bot)
    assert await bot.db.fetchval("SELECT count(*) FROM incidents") == 0
    assert await runs(bot, PagerDutyJob.INCIDENT_DECLARED) == []
    monkeypatch.undo()
    await bot.tick()
    assert pagerduty.received == []


async def test_a_subscriber_run_a_crash_left_pending_is_done_by_a_tick(
    bot: RunningBot, pagerduty: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The declaration commits; the process dies before it runs anything after the commit.
    declared = await declare(bot, alert_id=None)
    assert declared.created
    # One run per subscriber of IncidentDeclared (PagerDuty, the status page, the alert link), all pending.
    assert {job for job, _ in declared.published.runs} == set(bot.services.events.subscribers(events.IncidentDeclared))
    assert (PagerDutyJob.INCIDENT_DECLARED, str(declared.incident.id)) in declared.published.runs
    assert await runs(bot, PagerDutyJob.INCIDENT_DECLARED) == [{"run_key": "1", "status": "pending"}]
    assert pagerduty.received == []
    # Any replica's next tick does the run: PagerDuty is triggered.
    await bot.tick()
    await eventually(lambda: pagerduty.actions("INC-1") == ["trigger"])
    assert await runs(bot, PagerDutyJob.INCIDENT_DECLARED) == [{"run_key": "1", "status": "done"}]


async def test_the_declared_event_carries_the_alert_it_came_from(bot: RunningBot) -> None:
    declared = await declare(bot, key="test:2", alert_id=None)
    payload = await bot.db.fetchval(
        "SELECT payload FROM job_runs WHERE job = $1 AND run_key = $2",
        PagerDutyJob.INCIDENT_DECLARED,
        str(declared.incident.id),
    )
    event = events.IncidentDeclared.model_validate(json.loads(payload) if isinstance(payload, str) else payload)
    assert (event.incident_id, event.severity, event.actor, event.alert_id) == (
        declared.incident.id,
        "P1",
        "U0ALICE",
        None,
    )


async def test_pagerduty_hears_a_declaration_an_ack_and_a_resolve_through_its_subscriber_runs(
    bot: RunningBot, pagerduty: FakePagerDuty, fake_slack: FakeSlack
) -> None:
    await ask(fake_slack, bot, "/incident", "p1 Checkout is down")
    await eventually(lambda: pagerduty.actions("INC-1") == ["trigger"])
    await eventually(set_up_is_over(bot))
    await bot.slack.action("incident_acknowledge", "1", user="U0ALICE", channel="C00000001")
    await eventually(lambda: pagerduty.actions("INC-1") == ["trigger", "acknowledge"])
    await ask(fake_slack, bot, "/incident", "resolve fixed", channel="C00000001", ephemeral=False)
    await eventually(lambda: pagerduty.actions("INC-1") == ["trigger", "acknowledge", "resolve"])
    for job in (
        PagerDutyJob.INCIDENT_DECLARED,
        PagerDutyJob.INCIDENT_ACKNOWLEDGED,
        PagerDutyJob.INCIDENT_RESOLVED,
    ):
        await eventually(lambda job=job: _done(bot, job))


# -- PagerDuty hears an incident in the order it happened, whatever order its subscriber runs come in (a replica
# that dies after a commit leaves a run to a later tick) ----------------------------------------------------------


async def _lost(published: Published) -> None:
    """The replica dies right after the commit: nothing runs here, the runs stay pending."""


async def settled(bot: RunningBot) -> bool:
    """Every run due now is done (a tick took it); escalations and nudges due later wait."""
    await bot.tick()
    return not await bot.db.fetchval(
        """SELECT count(*) FROM job_runs
           WHERE status = 'running' OR (status = 'pending' AND due_at <= $1)""",
        bot.app.services.clock.now(),
    )


async def test_a_late_severity_change_does_not_page_a_resolved_incident_again(
    bot: RunningBot, pagerduty: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    declared = await declare(bot, "k1")
    await bot.services.events.after_commit(declared.published)
    await eventually(lambda: pagerduty.actions("INC-1") == ["trigger"])
    monkeypatch.setattr(bot.services.events, "after_commit", _lost)
    incident = await store.get(bot.db, declared.incident.id)
    assert incident is not None
    await flows.change_severity(bot.services, incident, "U0DAVE", Severity("P2"))
    monkeypatch.undo()
    incident = await store.get(bot.db, declared.incident.id)
    assert incident is not None
    await flows.resolve(bot.services, incident, "U0DAVE", "fixed", "req-1")
    await eventually(lambda: pagerduty.actions("INC-1") == ["trigger", "resolve"])
    await eventually(lambda: settled(bot))  # the severity change's run comes now, late
    assert pagerduty.actions("INC-1") == ["trigger", "resolve"]


async def test_an_acknowledgement_made_while_the_declarations_run_waited_follows_its_trigger(
    bot: RunningBot, pagerduty: FakePagerDuty
) -> None:
    await declare(bot, "k2")  # its replica died after the commit: the IncidentDeclared runs are pending
    await flows.acknowledge(bot.services, 1, "U0DAVE")
    await eventually(lambda: settled(bot))
    assert pagerduty.actions("INC-1") == ["trigger", "acknowledge"]


async def test_a_resolution_before_the_declarations_run_pages_nobody(
    bot: RunningBot, pagerduty: FakePagerDuty, monkeypatch: pytest.MonkeyPatch
) -> None:
    await declare(bot, "k3")
    incident = await store.get(bot.db, 1)
    assert incident is not None
    await flows.resolve(bot.services, incident, "U0DAVE", "false alarm", "req-2")
    await eventually(lambda: settled(bot))
    assert pagerduty.actions("INC-1") == []


async def test_one_incidents_declaration_run_is_not_another_ones(bot: RunningBot) -> None:
    """The runs are keyed by the incident id: incident 10's pending run is not incident 1's."""
    for n in range(1, 11):
        await declare(bot, f"x{n}", severity="P3")
    await bot.db.execute("UPDATE job_runs SET status = 'done' WHERE run_key <> '10'")
    assert await bot.services.jobs.active(PagerDutyJob.INCIDENT_DECLARED, "10", exact=True)
    assert not await bot.services.jobs.active(PagerDutyJob.INCIDENT_DECLARED, "1", exact=True)
    assert await bot.services.jobs.active(PagerDutyJob.INCIDENT_DECLARED, "1")  # a prefix: "10" starts with it
