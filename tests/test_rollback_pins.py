"""Rollbacks stay visible until fixed forward: a rollback pins its environment to the older version (shown in
`/deploy status`, the App Home, the weekly handoff and a new incident's kickoff) until a deploy of another version
clears it; vY's deployer gets "Fix forward or revert vY" on the incident, or a note in vY's deploy thread."""

from __future__ import annotations

from bot.clock import FrozenClock
from bot.deploys.events import DeployFinished
from bot.fakeslack import FakeSlack, flatten
from bot.incidents import deploy_notes
from tests import test_deploys
from tests.conftest import RunningBot, ask, eventually
from tests.fakepipeline import FakePipeline
from tests.test_deploys import click, deploys, ship
from tests.test_home import open_home, sections

# The deploy tests' fixtures: the fake pipeline, and a bot deploying through it (U0DAVE and @S0DEPLOY may deploy).
pipeline = test_deploys.pipeline
bot = test_deploys.bot


async def roll_back(
    bot: RunningBot, fake: FakeSlack, channel: str, user: str = "U0ALICE", environment: str = "prod"
) -> int:
    """`/rollback prod` typed in `channel`, its reason picked and *Roll back* confirmed there, as Slack sends them."""
    offer = await ask(fake, bot, "/rollback", f"{environment} error rate spiking", user=user, channel=channel)
    assert f"Roll back {environment}?" in offer or "last good version" in offer, offer
    confirm = fake.calls_to("response_url")[-1]["blocks"][2]["elements"][0]
    state = {"values": {"rollback_reason": {"rollback_reason": {"type": "radio_buttons"}}}}
    state["values"]["rollback_reason"]["rollback_reason"]["selected_option"] = {"value": "error_rate"}
    said = await click(bot, fake, "rollback_confirm", confirm["value"], user=user, channel=channel, state=state)
    assert "started: the pipeline was triggered" in said, said
    return (await deploys(bot))[-1]["id"]


async def status(bot: RunningBot, fake: FakeSlack) -> str:
    return await ask(fake, bot, "/deploy", "status")


async def handoff(bot: RunningBot, clock: FrozenClock) -> str:
    lines: list[str] = []
    for section in bot.services.handoff_summary:
        lines += await section(bot.services, clock.now(), clock.now())
    return "\n".join(lines)


async def channel_of(bot: RunningBot, number: int) -> str:
    async def made() -> str | None:
        return await bot.db.fetchval("SELECT channel_id FROM incidents WHERE number = $1", number)

    return await eventually(made)


async def test_a_rollback_pins_prod_until_another_version_is_deployed(
    bot: RunningBot, fake_slack: FakeSlack, pipeline: FakePipeline, clock: FrozenClock
) -> None:
    await ship(bot, fake_slack, pipeline, "prod", "v1.0.0", extra='--force "baseline"')
    bad = await ship(bot, fake_slack, pipeline, "prod", "v1.0.1", user="U0CAROL", extra='--force "hotfix"')
    bad_ts = (await deploys(bot))[-1]["message_ts"]

    # No incident is open: the rollback's fix-forward item is a note in v1.0.1's thread, naming its deployer.
    rollback = await roll_back(bot, fake_slack, "C0OPS")
    notes = await eventually(
        lambda: [c for c in fake_slack.posted_in("C0DEPLOYS") if c.get("text", "").startswith(":memo:")]
    )
    assert len(notes) == 1 and notes[0]["thread_ts"] == bad_ts
    assert notes[0]["text"].startswith(":memo: <@U0CAROL>: fix forward or revert `v1.0.1`. prod is rolled back to")
    pin = await bot.db.fetchrow("SELECT * FROM deploy_pins WHERE rollback_id = $1", rollback)
    assert (pin["from_id"], pin["owner"], pin["incident_ref"], pin["pinned_at"]) == (bad, "U0CAROL", None, None)
    assert pin["note_ts"]
    assert "pinned" not in await status(bot, fake_slack)  # prod still runs v1.0.1 until the rollback succeeds

    await pipeline.report(bot.url, rollback, "succeeded")
    pinned = (
        ":pushpin: *prod* pinned to `v1.0.0` (rolled back from `v1.0.1` on Wed 25 Nov 04:00 CET, no incident) · "
        "fix forward or revert: <@U0CAROL> (noted in the deploy thread) · a deploy of another version clears it"
    )
    said = await status(bot, fake_slack)
    assert "*prod*: `v1.0.0`" in said and f"↳ {pinned}" in said
    home = sections(await open_home(bot, fake_slack, "U0BOB"))
    assert home["Pinned environments"] == f"*Pinned environments*\n{pinned}"
    assert await handoff(bot, clock) == f"*Pinned environments (1)*\n{pinned}"

    # A new incident's kickoff says so (it is one of the recent changes to check).
    await ask(fake_slack, bot, "/incident", "p3 Slow search", user="U0BOB")
    channel = await channel_of(bot, 1)
    kickoff = await eventually(lambda: fake_slack.posted_in(channel))
    assert pinned in flatten(kickoff[0])

    # The same version again keeps the pin; another version clears it, and its thread says so.
    await ship(bot, fake_slack, pipeline, "prod", "v1.0.0", extra='--force "again"')
    assert pinned in await status(bot, fake_slack)
    fixed = await ship(bot, fake_slack, pipeline, "prod", "v1.0.2", user="U0CAROL", extra='--force "the fix"')
    fixed_ts = (await deploys(bot))[-1]["message_ts"]
    cleared = await eventually(
        lambda: [c for c in fake_slack.posted_in("C0DEPLOYS") if c.get("text", "").startswith(":pushpin:")]
    )
    assert [(c["thread_ts"], c["text"]) for c in cleared] == [
        (
            fixed_ts,
            ":pushpin: prod is no longer pinned to `v1.0.0`: `v1.0.2` is deployed (fix forward of `v1.0.1`, rolled "
            f"back by Rollback #{rollback}). The fix-forward note for <@U0CAROL> is closed.",
        )
    ]
    row = await bot.db.fetchrow("SELECT cleared_by, cleared_at FROM deploy_pins WHERE rollback_id = $1", rollback)
    assert row["cleared_by"] == fixed and row["cleared_at"] is not None
    said = await status(bot, fake_slack)
    assert "pinned" not in said and "*prod*: `v1.0.2`" in said
    assert "Pinned environments" not in sections(await open_home(bot, fake_slack, "U0BOB"))
    assert "Pinned" not in await handoff(bot, clock)


async def test_the_rollback_gives_its_incident_the_fix_forward_item(
    bot: RunningBot, fake_slack: FakeSlack, pipeline: FakePipeline
) -> None:
    await ship(bot, fake_slack, pipeline, "prod", "v2.0.0", extra='--force "baseline"')
    await ship(bot, fake_slack, pipeline, "prod", "v2.0.1", user="U0CAROL", extra='--force "release"')
    await ask(fake_slack, bot, "/incident", "p2 Search is slow", user="U0ALICE")
    await ask(fake_slack, bot, "/incident", "p1 Checkout errors", user="U0ALICE")
    search, checkout = await channel_of(bot, 1), await channel_of(bot, 2)

    # Confirmed in INC-1's channel: the rollback is INC-1's, though INC-2 is the more severe. The item comes once
    # it succeeded (prod is pinned): not while it runs.
    rollback = await roll_back(bot, fake_slack, search)
    assert await bot.db.fetchval("SELECT incident_ref FROM deploy_pins") == "INC-1"
    assert not [c for c in fake_slack.posted_in(search) if c["text"].startswith(":memo:")]
    assert await bot.db.fetchval("SELECT count(*) FROM incident_actions") == 0
    await pipeline.report(bot.url, rollback, "succeeded")
    said = await eventually(lambda: [c for c in fake_slack.posted_in(search) if c["text"].startswith(":memo:")])
    item = await bot.db.fetchrow("SELECT * FROM incident_actions")
    assert said[0]["text"] == (
        f":memo: Action item #{item['id']} of INC-1 for <@U0CAROL>: Fix forward or revert `v2.0.1` (prod was rolled "
        "back to `v2.0.0` and stays pinned there until another version is deployed)"
    )
    assert (item["owner"], item["source_key"], item["done_at"]) == ("U0CAROL", f"rollback:{rollback}", None)
    assert not [c for c in fake_slack.posted_in(checkout) if c["text"].startswith(":memo:")]
    assert not [c for c in fake_slack.posted_in("C0DEPLOYS") if c.get("text", "").startswith(":memo:")]

    # Made once: the subscriber run again (a crash after its commit) adds nothing.
    event = DeployFinished(deploy_id=rollback, status="succeeded", kind="rollback")
    await deploy_notes.fix_forward_item(bot.services, event)
    assert await bot.db.fetchval("SELECT count(*) FROM incident_actions") == 1
    actions = await ask(fake_slack, bot, "/incident", "actions", channel=search)
    assert "Fix forward or revert `v2.0.1`" in actions and "owner <@U0CAROL>" in actions
    assert "on Wed 25 Nov 04:00 CET, INC-1) · fix forward or revert: <@U0CAROL> (INC-1 action item)" in await status(
        bot, fake_slack
    )


async def test_a_rollback_from_elsewhere_belongs_to_the_most_severe_open_incident(
    bot: RunningBot, fake_slack: FakeSlack, pipeline: FakePipeline
) -> None:
    await ship(bot, fake_slack, pipeline, "prod", "v3.0.0", extra='--force "baseline"')
    bad = await ship(bot, fake_slack, pipeline, "prod", "v3.0.1", extra='--force "release"')
    await ask(fake_slack, bot, "/incident", "p2 Search is slow", user="U0ALICE")
    await ask(fake_slack, bot, "/incident", "p1 Checkout errors", user="U0ALICE")
    await ask(fake_slack, bot, "/incident", "p3 Typo", user="U0ALICE")
    checkout = await channel_of(bot, 2)

    # The watch reminder's Roll back, in the deployments channel: the open P1 it is (owner: who deployed v3.0.1).
    await click(bot, fake_slack, "deploy_watch_rollback", str(bad), user="U0ALICE", channel="C0DEPLOYS")
    await pipeline.report(bot.url, (await deploys(bot))[-1]["id"], "succeeded")
    said = await eventually(lambda: [c for c in fake_slack.posted_in(checkout) if c["text"].startswith(":memo:")])
    assert said[0]["text"].startswith(":memo: Action item #1 of INC-2 for <@U0DAVE>: Fix forward or revert `v3.0.1`")
    assert await bot.db.fetchval("SELECT incident_ref FROM deploy_pins") == "INC-2"


async def test_a_failed_rollback_pins_nothing(bot: RunningBot, fake_slack: FakeSlack, pipeline: FakePipeline) -> None:
    await ship(bot, fake_slack, pipeline, "prod", "v4.0.0", extra='--force "baseline"')
    await ship(bot, fake_slack, pipeline, "prod", "v4.0.1", extra='--force "release"')
    await ask(fake_slack, bot, "/incident", "p1 Checkout errors", user="U0ALICE")
    checkout = await channel_of(bot, 1)
    rollback = await roll_back(bot, fake_slack, "C0OPS")
    await pipeline.report(bot.url, rollback, "failed")
    assert "pinned" not in await status(bot, fake_slack)
    assert await bot.db.fetchval("SELECT pinned_at FROM deploy_pins WHERE rollback_id = $1", rollback) is None
    # v4.0.1 still runs: nothing to fix forward, so no action item on the incident.
    await eventually(lambda: [c for c in fake_slack.posted_in(checkout) if "failed" in c.get("text", "").lower()])
    await bot.tick()
    assert await bot.db.fetchval("SELECT count(*) FROM incident_actions") == 0
    assert not [c for c in fake_slack.posted_in(checkout) if c["text"].startswith(":memo:")]


async def test_a_staging_rollback_from_elsewhere_gets_the_deploy_threads_note(
    bot: RunningBot, fake_slack: FakeSlack, pipeline: FakePipeline
) -> None:
    """The most-severe-incident rule is for prod: a staging rollback outside an incident channel is no incident's."""
    await ship(bot, fake_slack, pipeline, "staging", "v5.0.0")
    await ship(bot, fake_slack, pipeline, "staging", "v5.0.1", user="U0CAROL")
    bad_ts = (await deploys(bot))[-1]["message_ts"]
    await ask(fake_slack, bot, "/incident", "p1 Checkout errors", user="U0ALICE")
    checkout = await channel_of(bot, 1)
    rollback = await roll_back(bot, fake_slack, "C0OPS", environment="staging")
    notes = await eventually(
        lambda: [c for c in fake_slack.posted_in("C0DEPLOYS") if c.get("text", "").startswith(":memo:")]
    )
    assert len(notes) == 1 and notes[0]["thread_ts"] == bad_ts
    await pipeline.report(bot.url, rollback, "succeeded")
    await eventually(lambda: bot.db.fetchval("SELECT pinned_at FROM deploy_pins WHERE rollback_id = $1", rollback))
    await bot.tick()
    assert await bot.db.fetchval("SELECT incident_ref FROM deploy_pins") is None
    assert await bot.db.fetchval("SELECT count(*) FROM incident_actions") == 0
    assert not [c for c in fake_slack.posted_in(checkout) if c["text"].startswith(":memo:")]
