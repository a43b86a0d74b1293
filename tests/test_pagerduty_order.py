"""PagerDuty hears an incident in the order it happened, whatever order its subscriber runs come in (a replica
that dies after a commit leaves the run to a later tick): a late severity change does not page a resolved
incident again, and an acknowledgement made while the declaration's run waited is sent after its trigger."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.events import Published
from bot.incidents import flows, store
from bot.incidents.enums import Severity
from bot.pagerduty.ids import Job
from tests.conftest import ROTA, BotFactory, RunningBot, config_with, eventually
from tests.fakepagerduty import KEY, FakePagerDuty, running


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    async with running(KEY) as fake:
        yield fake


@pytest.fixture
async def bot(make_bot: BotFactory, pagerduty: FakePagerDuty) -> RunningBot:
    config = config_with(
        oncall=ROTA,
        permissions={"deployers": [], "incident_managers": ["U0DAVE"]},
        pagerduty={"severities": ["P1", "P2"]},
    )
    return await make_bot(config, zzik_pagerduty_routing_key=KEY, zzik_pagerduty_events_url=pagerduty.url)


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


async def declare(bot: RunningBot, key: str, severity: str = "P1"):
    return await flows.declare(
        bot.services, key=key, title="Checkout down", severity=Severity(severity), reporter="U0ALICE", set_up=False
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
    assert await bot.services.jobs.active(Job.INCIDENT_DECLARED, "10", exact=True)
    assert not await bot.services.jobs.active(Job.INCIDENT_DECLARED, "1", exact=True)
    assert await bot.services.jobs.active(Job.INCIDENT_DECLARED, "1")  # a prefix: "10" starts with it
