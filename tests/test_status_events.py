"""The status domain as a subscriber of the incidents' events (bot/status/hooks.py): the incidents flows publish
them; the tests also publish them again themselves (in a transaction, the runs run after the commit) and run the
subscribers' runs again. Each subscriber may run twice (a crash after its work, before its run is marked done, or
runs finishing out of order): the second run adds nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.clock import FrozenClock
from bot.events import Event, Published
from bot.fakeslack import FakeSlack
from bot.incidents.events import IncidentDeclared, IncidentReopened, IncidentResolved, SeverityChanged
from bot.status import handlers
from bot.status.ids import Job
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually
from tests.test_status import INC, publish, reminders, run_jobs, timeline

STAKEHOLDERS = "#zzik-support"


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot(
        config_with(oncall=ROTA, permissions={"deployers": [], "incident_managers": ["U0DAVE"]}),
        zzik_public_url="https://status.zzik.example",
    )


async def announce(bot: RunningBot, event: Event) -> Published:
    """Publish `event` in a transaction, then run its subscribers here (as `after_commit` does)."""
    async with bot.db.transaction() as conn:
        published = await bot.services.events.publish(conn, event)
    await bot.services.events.after_commit(published)
    return published


async def run_again(bot: RunningBot, job: str) -> None:
    """The subscriber's runs of `job` run once more (as after a crash before they were marked done)."""
    await bot.db.execute("UPDATE job_runs SET status = 'pending' WHERE job = $1", job)
    await run_jobs(bot)


async def jobs(bot: RunningBot, job: str) -> list[str]:
    return [r["run_key"] for r in await bot.db.fetch("SELECT run_key FROM job_runs WHERE job = $1 ORDER BY id", job)]


async def incident_row(bot: RunningBot) -> dict:
    return dict(await bot.db.fetchrow("SELECT id, severity, declared_at, resolved_at FROM incidents ORDER BY id"))


def stakeholder_posts(fake: FakeSlack) -> list[str]:
    return [c["text"] for c in fake.posted_in(STAKEHOLDERS)]


async def test_the_status_domain_subscribes_and_answers_incident_public(bot: RunningBot) -> None:
    events = bot.services.events
    assert Job.INCIDENT_DECLARED in events.subscribers(IncidentDeclared)
    assert Job.SEVERITY_CHANGED in events.subscribers(SeverityChanged)
    assert Job.INCIDENT_RESOLVED in events.subscribers(IncidentResolved)
    assert Job.INCIDENT_REOPENED in events.subscribers(IncidentReopened)
    assert bot.services.subcommands["/incident public"] is handlers.public


async def test_declared_tells_the_stakeholders_and_sets_the_reminder_once(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    await ask(fake_slack, bot, "/incident", "p1 Primary DB down", user="U0ALICE")
    await run_jobs(bot)
    incident = await incident_row(bot)
    # The declaration published IncidentDeclared: the status domain's run told the stakeholders, once.
    assert await jobs(bot, Job.INCIDENT_DECLARED) == [str(incident["id"])]
    [post] = stakeholder_posts(fake_slack)
    assert post.startswith(":rotating_light: *We are handling a service down or critical feature broken* (P1)")
    due = incident["declared_at"] + timedelta(minutes=30)
    assert await jobs(bot, Job.REMIND) == [f"{incident['id']}:{due.isoformat()}"]

    # The same occurrence again adds nothing; its subscriber run again adds nothing either.
    assert (await announce(bot, IncidentDeclared(incident_id=incident["id"], severity="P1"))).runs == ()
    await run_again(bot, Job.INCIDENT_DECLARED)
    await run_again(bot, Job.STAKEHOLDERS)
    assert len(stakeholder_posts(fake_slack)) == 1
    assert len(await jobs(bot, Job.REMIND)) == 1

    fake_slack.clear()
    clock.advance(timedelta(minutes=30))
    await run_jobs(bot)
    assert len(reminders(fake_slack)) == 1


async def test_a_p3_declared_is_not_the_stakeholders_business(bot: RunningBot, fake_slack: FakeSlack) -> None:
    await ask(fake_slack, bot, "/incident", "p3 Typo on the pricing page", user="U0ALICE")
    incident = await incident_row(bot)
    await announce(bot, IncidentDeclared(incident_id=incident["id"], severity="P3"))
    await run_jobs(bot)
    assert stakeholder_posts(fake_slack) == []
    assert await jobs(bot, Job.STAKEHOLDERS) == [] and await jobs(bot, Job.REMIND) == []


async def test_severity_changed_sets_the_reminder(bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock) -> None:
    await ask(fake_slack, bot, "/incident", "p3 Search is slow", user="U0ALICE")
    incident = await incident_row(bot)
    clock.advance(timedelta(minutes=40))
    said = await ask(fake_slack, bot, "/incident", "severity p1", channel=INC, ephemeral=False)
    assert "P1" in said
    at = clock.now()
    await announce(bot, SeverityChanged(incident_id=incident["id"], old="P3", new="P1", actor="U0ALICE", at=at))
    await run_again(bot, Job.SEVERITY_CHANGED)
    # The chain counts from the declaration: 60 min after it is the first due time later than now.
    due = incident["declared_at"] + timedelta(minutes=60)
    assert await jobs(bot, Job.REMIND) == [f"{incident['id']}:{due.isoformat()}"]


async def resolve(bot: RunningBot, fake: FakeSlack, clock: FrozenClock) -> datetime:
    await ask(fake, bot, "/incident", "resolve", user="U0ALICE", channel=INC, ephemeral=False)
    return clock.now()


async def reopen(bot: RunningBot, fake: FakeSlack, clock: FrozenClock) -> datetime:
    said = await ask(fake, bot, "/incident", "reopen", user="U0ALICE", channel=INC, ephemeral=False)
    assert said.startswith("INC-1 is reopened")
    return clock.now()


async def page_status(bot: RunningBot) -> str:
    return await bot.db.fetchval("SELECT status FROM status_incidents")


async def test_resolved_and_reopened_reach_the_page_the_stakeholders_and_the_reminders(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    await ask(fake_slack, bot, "/incident", "p1 Primary DB down", user="U0ALICE")
    incident = await incident_row(bot)
    await announce(bot, IncidentDeclared(incident_id=incident["id"], severity="P1"))
    await bot.slack.command("/incident", "public Some users cannot sign in.", user="U0ALICE", channel=INC)
    [opened] = await eventually(lambda: fake_slack.calls_to("views.open"))
    await publish(bot, opened["view"], "Sign-in problems", "investigating", ["web"])
    clock.advance(timedelta(minutes=20))

    at = await resolve(bot, fake_slack, clock)
    # The resolution published IncidentResolved; the same resolution announced again adds nothing.
    await announce(bot, IncidentResolved(incident_id=incident["id"], actor="U0ALICE", at=at))
    await run_again(bot, Job.INCIDENT_RESOLVED)
    await run_jobs(bot)
    assert await page_status(bot) == "resolved"
    pending = "SELECT count(*) FROM job_runs WHERE job = 'status.remind' AND status = 'pending'"
    assert await jobs(bot, Job.REMIND) and await bot.db.fetchval(pending) == 0  # the reminders stopped
    assert stakeholder_posts(fake_slack)[-1].startswith(":white_check_mark: *Sign-in problems* is resolved")

    clock.advance(timedelta(minutes=10))
    at = await reopen(bot, fake_slack, clock)
    await announce(bot, IncidentReopened(incident_id=incident["id"], actor="U0ALICE", at=at))
    await run_again(bot, Job.INCIDENT_REOPENED)
    await run_jobs(bot)
    assert await page_status(bot) == "investigating"
    posts = stakeholder_posts(fake_slack)
    assert len(posts) == 4 and posts[-1].startswith(":rotating_light: *Sign-in problems* is not over after all")
    public = [t for t in await timeline(bot) if t.startswith("public: published on the status page (")]
    assert public[-2:] == [
        "public: published on the status page (resolved)",
        "public: published on the status page (investigating)",
    ]
    fake_slack.clear()
    clock.advance(timedelta(minutes=30))
    await run_jobs(bot)
    assert len(reminders(fake_slack)) == 1


async def test_a_resolution_run_after_the_reopening_leaves_the_page_open(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    """Runs that finish out of order: the page and the reminders end as the incident is (open)."""
    await ask(fake_slack, bot, "/incident", "p1 Primary DB down", user="U0ALICE")
    incident = await incident_row(bot)
    await bot.slack.command("/incident", "public Some users cannot sign in.", user="U0ALICE", channel=INC)
    [opened] = await eventually(lambda: fake_slack.calls_to("views.open"))
    await publish(bot, opened["view"], "Sign-in problems", "investigating", ["web"])
    resolved_at = await resolve(bot, fake_slack, clock)
    clock.advance(timedelta(minutes=1))
    reopened_at = await reopen(bot, fake_slack, clock)

    await announce(bot, IncidentReopened(incident_id=incident["id"], actor="U0ALICE", at=reopened_at))
    await announce(bot, IncidentResolved(incident_id=incident["id"], actor="U0ALICE", at=resolved_at))
    await run_jobs(bot)
    assert await page_status(bot) == "investigating"
    pending = "SELECT count(*) FROM job_runs WHERE job = 'status.remind' AND status = 'pending'"
    assert await bot.db.fetchval(pending) == 1  # the reopening's reminder stands
    # The late resolution's run tells the stakeholders nothing: their last word is the reopening.
    assert stakeholder_posts(fake_slack)[-1].startswith(":rotating_light: *Sign-in problems* is not over after all")
