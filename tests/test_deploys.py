"""Deploys and rollbacks end to end: signed Slack requests in, a real pipeline webhook out and back."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack, flatten
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually, handled
from tests.fakepipeline import FakePipeline, post

SECRET = "test-webhook-secret-77"  # the bot's ZZIK_WEBHOOK_SECRET in tests
PRE = ["tests", "security_scan", "benchmarks", "migrations", "rollback_plan", "changelog", "team_notified"]
STAGING = ["smoke_tests", "user_flows", "monitoring", "load_test"]


@pytest.fixture
async def pipeline() -> FakePipeline:
    p = FakePipeline(SECRET)
    await p.start()
    yield p
    await p.stop()


def deploy_config(pipeline_url: str | None, deployers: list[str] | None = None):
    base = config_with(oncall=ROTA).deploy.model_dump(mode="json")
    base["webhook_url"] = pipeline_url
    return config_with(
        oncall=ROTA,
        deploy=base,
        permissions={
            "deployers": deployers if deployers is not None else ["U0DAVE", "S0DEPLOY"],
            "incident_managers": [],
        },
    )


@pytest.fixture
async def bot(make_bot: BotFactory, pipeline: FakePipeline, fake_slack: FakeSlack) -> RunningBot:
    fake_slack.usergroups["S0DEPLOY"] = ["U0CAROL"]
    return await make_bot(deploy_config(pipeline.url))


async def deploys(bot: RunningBot) -> list[dict]:
    return [dict(r) for r in await bot.db.fetch("SELECT * FROM deploys ORDER BY id")]


async def check(bot: RunningBot, deploy_id: int, list_name: str, values: list[str], user: str = "U0BOB") -> None:
    action = f"deploy_check:{list_name}"
    click = bot.slack.checkboxes(
        action, f"deploy:{deploy_id}:{list_name}", values, user=user, channel="#zzik-deployments"
    )
    assert (await handled(bot, action, click)).status == 200


async def click(bot: RunningBot, fake: FakeSlack, action_id: str, value: str, user: str = "U0BOB", **kw) -> str:
    before = len(fake.calls_to("response_url"))
    assert (await bot.slack.action(action_id, value, user=user, **kw)).status == 200
    calls = await eventually(lambda: fake.calls_to("response_url")[before:])
    return flatten(calls[0])


async def ship(
    bot: RunningBot,
    fake: FakeSlack,
    pipeline: FakePipeline,
    env: str,
    version: str,
    user: str = "U0DAVE",
    extra: str = "",
) -> int:
    """Request, tick, start and report success: one deploy all the way."""
    said = await ask(fake, bot, "/deploy", f"{env} {version} {extra}".strip(), user=user)
    assert "is announced in #zzik-deployments" in said, said
    deploy_id = (await deploys(bot))[-1]["id"]
    await check(bot, deploy_id, "pre", PRE, user=user)
    started = await click(bot, fake, "deploy_start", str(deploy_id), user=user)
    assert "the pipeline was triggered" in started, started
    status, body = await pipeline.report(bot.url, deploy_id, "succeeded", url="https://ci.example/run/1")
    assert status == 200 and body["status"] == "succeeded", body
    return deploy_id


async def test_staging_to_prod_to_watch_to_rollback(
    bot: RunningBot, fake_slack: FakeSlack, pipeline: FakePipeline, clock: FrozenClock
) -> None:
    # An earlier good prod version, forced through (and shown as such).
    first = await ship(bot, fake_slack, pipeline, "prod", "v1.4.1", extra='--force "first deploy through the bot"')
    announced = flatten(fake_slack.calls_to("chat.update")[-1])
    assert "Staging validation overridden* by <@U0DAVE>: first deploy through the bot" in announced
    await click(bot, fake_slack, "deploy_watch_healthy", str(first), user="U0DAVE")

    # Staging: anyone may; the announcement ticks "team notified" itself.
    said = await ask(fake_slack, bot, "/deploy", "staging v1.4.2", user="U0BOB")
    assert said.startswith("Deploy #2 of v1.4.2 to staging is announced in #zzik-deployments")
    post_ = [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "#zzik-deployments"][-1]
    text = flatten(post_)
    assert "Deploy #2: `v1.4.2` → staging" in text and "Pre-deployment checklist* (1/7)" in text
    assert "All tests passing (unit, integration, E2E)" in text and "the announcement ·" in text
    await check(bot, 2, "pre", PRE)
    answered = len(fake_slack.calls_to("response_url"))
    a, b = await asyncio.gather(
        bot.slack.action("deploy_start", "2", user="U0BOB"), bot.slack.action("deploy_start", "2", user="U0BOB")
    )
    assert a.status == b.status == 200
    await eventually(lambda: len(fake_slack.calls_to("response_url")) >= answered + 2)
    assert len([r for r in pipeline.received if r["deploy_id"] == 2]) == 1  # one webhook call
    trigger = pipeline.received[-1]
    assert trigger == {
        "deploy_id": 2,
        "action": "deploy",
        "environment": "staging",
        "version": "v1.4.2",
        "requested_by": "U0BOB",
        "callback_url": "http://bot.invalid/hooks/deploy",
        "_idempotency_key": "zzik-deploy-2",
    }
    assert pipeline.unsigned == 0

    status, body = await pipeline.report(bot.url, 2, "succeeded")
    assert (status, body["replayed"]) == (200, False)
    status, body = await pipeline.report(bot.url, 2, "succeeded")  # a replay changes nothing
    assert (status, body["replayed"]) == (200, True)
    assert "Staging validation* (0/4)" in flatten(fake_slack.calls_to("chat.update")[-1])

    # Prod before validation: refused with the reason.
    refused = await ask(fake_slack, bot, "/deploy", "prod v1.4.2", user="U0DAVE")
    assert refused.startswith("`v1.4.2` is not validated on staging")
    await check(bot, 2, "staging", STAGING, user="U0CAROL")
    assert (await deploys(bot))[1]["validated_at"] is not None
    assert any("is validated on staging by <@U0CAROL>" in c["text"] for c in fake_slack.calls_to("chat.postMessage"))

    # Prod: the deployer group's member may. Then the 30-minute watch.
    prod = await ship(bot, fake_slack, pipeline, "prod", "v1.4.2", user="U0CAROL")
    row = (await deploys(bot))[-1]
    assert row["watch_until"] == clock.now() + timedelta(minutes=30)
    assert "Post-deployment validation* (0/4)" in flatten(fake_slack.calls_to("chat.update")[-1])
    status_text = await ask(fake_slack, bot, "/deploy", "status")
    assert "*prod*: `v1.4.2`" in status_text and "*staging*: `v1.4.2`" in status_text
    assert f"Deploy #{prod} of v1.4.2 to prod until" in status_text

    clock.advance(timedelta(minutes=30, seconds=1))
    await asyncio.gather(bot.tick(), bot.tick())
    reminders = [c for c in fake_slack.calls_to("chat.postMessage") if "watch" in c["text"].lower()]
    assert len(reminders) == 1 and reminders[0]["reply_broadcast"] is True
    buttons = [e["action_id"] for b in reminders[0]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["deploy_watch_healthy", "deploy_watch_rollback"]

    # An incident is open: the rollback is announced in its channel too.
    await ask(fake_slack, bot, "/incident", "p1 Checkout errors", user="U0ALICE")
    said = await click(bot, fake_slack, "deploy_watch_rollback", str(prod), user="U0ALICE")  # on-call primary
    assert said.startswith(f"Rollback #{prod + 1} of v1.4.1 to prod started: the pipeline was triggered.")
    assert pipeline.received[-1]["action"] == "rollback" and pipeline.received[-1]["version"] == "v1.4.1"
    incident_channel = fake_slack.calls_to("conversations.create")[0]
    told = [
        c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "C00000001" and ":rewind:" in c["text"]
    ]
    assert told and "rolling prod back from `v1.4.2` to `v1.4.1`: Post-deployment watch" in told[0]["text"]
    assert incident_channel
    await pipeline.report(bot.url, prod + 1, "succeeded")
    assert "Verify the rollback* (0/3)" in flatten(fake_slack.calls_to("chat.update")[-1])
    history = await ask(fake_slack, bot, "/deploy", "history prod")
    assert f"Rollback #{prod + 1} of v1.4.1 to prod · succeeded" in history and "· forced" in history
    audit = await bot.db.fetch("SELECT action FROM audit_log WHERE kind IN ('deploy', 'webhook') ORDER BY id")
    assert "rollback" in [a["action"] for a in audit] and "hooks/deploy" in [a["action"] for a in audit]


async def test_one_deploy_at_a_time_and_unlock(bot: RunningBot, fake_slack: FakeSlack) -> None:
    await ask(fake_slack, bot, "/deploy", "staging v2.0.0", user="U0BOB")
    refused = await ask(fake_slack, bot, "/deploy", "staging v2.0.1", user="U0CAROL")
    assert refused.startswith(
        "staging is locked by Deploy #1 of v2.0.0 to staging (pending), requested by <@U0BOB> at Wed 25 Nov 04:00 CET"
    )
    not_allowed = await ask(fake_slack, bot, "/deploy", "unlock staging stuck", user="U0BOB")
    assert not_allowed.startswith("Only the deployers (<@U0DAVE>, <!subteam^S0DEPLOY>) may unlock an environment.")
    assert await ask(fake_slack, bot, "/deploy", "unlock staging stuck since lunch", user="U0CAROL") == (
        "staging unlocked: Deploy #1 of v2.0.0 to staging cancelled (stuck since lunch)."
    )
    assert [d["status"] for d in await deploys(bot)] == ["cancelled"]
    assert "is announced" in await ask(fake_slack, bot, "/deploy", "staging v2.0.1", user="U0CAROL")
    audit = await bot.db.fetch("SELECT actor, detail FROM audit_log WHERE action = 'unlock'")
    assert audit[0]["actor"] == "U0CAROL" and "stuck since lunch" in audit[0]["detail"]


@pytest.mark.parametrize(
    ("text", "user", "expected"),
    [
        ("staging", "U0BOB", "name one version"),
        ("staging v1 v2", "U0BOB", "name one version"),
        ("staging v1;rm", "U0BOB", "is not a version: 1–64"),
        ("staging " + "v" * 65, "U0BOB", "is not a version"),
        ("moon v1", "U0BOB", "`moon` is not an environment: use staging or prod"),
        ("prod v1", "U0BOB", "Only the deployers (<@U0DAVE>, <!subteam^S0DEPLOY>) may deploy to prod."),
        ("prod v1 --force", "U0DAVE", "--force needs a reason"),
        ('staging v1 --force "why"', "U0DAVE", "only overrides the production gate"),
        ('prod v1 --force "unclosed', "U0DAVE", "a quote is not closed"),
        ("history 99", "U0BOB", "show 1 to 50 deploys"),
    ],
)
async def test_bad_deploy_input_changes_nothing(
    bot: RunningBot, fake_slack: FakeSlack, pipeline: FakePipeline, text: str, user: str, expected: str
) -> None:
    said = await ask(fake_slack, bot, "/deploy", text, user=user)
    assert expected in said
    assert await deploys(bot) == [] and pipeline.received == []
    assert fake_slack.calls_to("chat.postMessage") == []


async def test_prod_needs_a_complete_checklist_staging_asks(
    bot: RunningBot, fake_slack: FakeSlack, pipeline: FakePipeline
) -> None:
    await ask(fake_slack, bot, "/deploy", 'prod v3 --force "hotfix for INC-7"', user="U0DAVE")
    said = await click(bot, fake_slack, "deploy_start", "1", user="U0DAVE")
    assert said.startswith("6 pre-deployment item(s) are not ticked: All tests passing")
    await ask(fake_slack, bot, "/deploy", "staging v3", user="U0BOB")
    asked = fake_slack.calls_to("response_url")
    said = await click(bot, fake_slack, "deploy_start", "2", user="U0BOB")
    assert "6 checklist item(s) are not ticked" in said
    anyway = fake_slack.calls_to("response_url")[-1]["blocks"][1]["elements"][0]
    assert anyway["action_id"] == "deploy_start_anyway" and anyway["confirm"]["confirm"]["text"] == "Start"
    assert pipeline.received == [] and asked
    started = await click(bot, fake_slack, "deploy_start_anyway", "2", user="U0BOB")
    assert "the pipeline was triggered" in started and len(pipeline.received) == 1


async def test_pipeline_down_tells_the_user_and_unlocks(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    bot = await make_bot(deploy_config("http://127.0.0.1:9/trigger"))
    await ask(fake_slack, bot, "/deploy", "staging v4", user="U0BOB")
    await check(bot, 1, "pre", PRE)
    said = await click(bot, fake_slack, "deploy_start", "1")
    assert said.startswith("Deploy #1 of v4 to staging could not start: the pipeline could not be reached")
    assert said.endswith("Nothing is deploying and staging is unlocked.")
    row = (await deploys(bot))[0]
    assert row["status"] == "failed" and row["detail"].startswith("not started: the pipeline could not be reached")
    assert "is announced" in await ask(fake_slack, bot, "/deploy", "staging v4", user="U0BOB")


async def test_bad_callbacks(bot: RunningBot, fake_slack: FakeSlack, pipeline: FakePipeline) -> None:
    body = json.dumps({"deploy_id": 1, "status": "succeeded"}).encode()
    assert (await post(bot.url, body, {}))[0] == 401
    assert (await post(bot.url, body, {"X-Zzik-Timestamp": "1", "X-Zzik-Signature": "v0=00"}))[0] == 401
    assert (await post(bot.url, body, {"Authorization": "Bearer wrong"}))[0] == 401
    bearer = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}
    status, answer = await post(bot.url, json.dumps({"deploy_id": 1, "status": "done"}).encode(), bearer)
    assert status == 400 and answer["error"].startswith("status: String should match pattern")
    status, answer = await post(bot.url, b"{not json", bearer)
    assert status == 400
    status, answer = await post(bot.url, json.dumps({"status": "failed"}).encode(), bearer)
    assert status == 400 and answer["error"] == "deploy_id: Field required"
    status, answer = await post(bot.url, body, bearer)
    assert status == 404 and answer["error"] == "deploy_id: no deploy 1"
    await ask(fake_slack, bot, "/deploy", "staging v5", user="U0BOB")
    status, answer = await pipeline.report(bot.url, 1, "failed")
    assert status == 409  # pending, not running: nothing to report on
    await check(bot, 1, "pre", PRE)
    await click(bot, fake_slack, "deploy_start", "1")
    status, answer = await post(
        bot.url, json.dumps({"deploy_id": 1, "status": "failed", "detail": "smoke tests failed"}).encode(), bearer
    )
    assert (status, answer["status"]) == (200, "failed")
    assert "smoke tests failed" in flatten(fake_slack.calls_to("chat.update")[-1])


async def test_without_a_pipeline_humans_run_the_command(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    bot = await make_bot(deploy_config(None))
    await ask(fake_slack, bot, "/deploy", "staging v6", user="U0BOB")
    await check(bot, 1, "pre", PRE)
    said = await click(bot, fake_slack, "deploy_start", "1")
    assert "run the command shown in the announcement" in said
    shown = flatten(fake_slack.calls_to("chat.update")[-1])
    assert "Run it now: `npm run deploy:staging`" in shown
    assert await click(bot, fake_slack, "deploy_mark_deployed", "1") == "Deploy #1 of v6 to staging marked succeeded."
    assert await click(bot, fake_slack, "deploy_mark_deployed", "1") == (
        "Deploy #1 of v6 to staging was already marked succeeded."
    )


async def test_rollback_offer_confirm_and_refusals(
    bot: RunningBot, fake_slack: FakeSlack, pipeline: FakePipeline
) -> None:
    nothing = await ask(fake_slack, bot, "/rollback", "prod", user="U0DAVE")
    assert nothing.startswith("Nothing has been deployed to prod through the bot")
    await ship(bot, fake_slack, pipeline, "prod", "v7.0", extra='--force "baseline"')
    only_one = await ask(fake_slack, bot, "/rollback", "prod", user="U0DAVE")
    assert "no earlier good version is known" in only_one
    await ship(bot, fake_slack, pipeline, "prod", "v7.1", extra='--force "hotfix"')

    refused = await ask(fake_slack, bot, "/rollback", "prod", user="U0BOB")
    assert refused.startswith(
        "Only the deployers (<@U0DAVE>, <!subteam^S0DEPLOY>) or the on-call primary (<@U0ALICE>) may roll back prod."
    )
    offer = await ask(fake_slack, bot, "/rollback", "prod error rate spiking", user="U0ALICE")
    assert "It runs `v7.1`" in offer and "the last good version before it is `v7.0`" in offer
    assert "Check error logs" in offer
    call = fake_slack.calls_to("response_url")[-1]
    radio = call["blocks"][1]["elements"][0]
    assert [o["text"]["text"] for o in radio["options"]] == [
        "Error rate > 10%",
        "Critical feature broken",
        "Performance degraded > 50%",
        "Other: error rate spiking",
    ]
    confirm_button = call["blocks"][2]["elements"][0]
    assert confirm_button["text"]["text"] == "Roll back to v7.0" and confirm_button["confirm"]

    state = {"values": {"rollback_reason": {"rollback_reason": {"type": "radio_buttons", "selected_option": None}}}}
    no_reason = await _confirm(bot, fake_slack, confirm_button["value"], state)
    assert no_reason == "Pick the reason for the rollback first (one of the manual's criteria)."
    state["values"]["rollback_reason"]["rollback_reason"]["selected_option"] = {"value": "error_rate"}
    before = len(fake_slack.calls_to("response_url"))
    await asyncio.gather(
        _confirm(bot, fake_slack, confirm_button["value"], state, wait=False),
        _confirm(bot, fake_slack, confirm_button["value"], state, wait=False),
    )
    answers = await eventually(
        lambda: (
            [c["text"] for c in fake_slack.calls_to("response_url")[before:]]
            if len(fake_slack.calls_to("response_url")) == before + 2
            else None
        )
    )
    assert sorted(answers) == [
        "Rollback #3 of v7.0 to prod is already under way (running).",
        "Rollback #3 of v7.0 to prod started: the pipeline was triggered.",
    ]
    rollbacks = [d for d in await deploys(bot) if d["kind"] == "rollback"]
    assert len(rollbacks) == 1 and rollbacks[0]["reason"] == "Error rate &gt; 10% (error rate spiking)"
    assert [r["action"] for r in pipeline.received].count("rollback") == 1


async def _confirm(bot: RunningBot, fake: FakeSlack, value: str, state: dict, wait: bool = True) -> str:
    before = len(fake.calls_to("response_url"))
    reply = await bot.slack.action("rollback_confirm", value, user="U0ALICE", channel="C0OPS", state=state)
    assert reply.status == 200
    if not wait:
        return ""
    calls = await eventually(lambda: [c for c in fake.calls_to("response_url")[before:] if "ollback" in c["text"]])
    return calls[-1]["text"]


async def test_a_pipeline_that_never_answers_does_not_hold_the_lock(
    bot: RunningBot, fake_slack: FakeSlack, clock: FrozenClock
) -> None:
    await ask(fake_slack, bot, "/deploy", "staging v8", user="U0BOB")
    await check(bot, 1, "pre", PRE)
    await click(bot, fake_slack, "deploy_start", "1")
    clock.advance(timedelta(minutes=61))
    await bot.tick()
    row = (await deploys(bot))[0]
    assert row["status"] == "failed" and "no result from the pipeline within 60 min" in row["detail"]
    assert "is announced" in await ask(fake_slack, bot, "/deploy", "staging v9", user="U0BOB")


async def test_an_announcement_slack_refuses_does_not_hold_the_lock(bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", status=500, times=3)
    said = await ask(fake_slack, bot, "/deploy", "staging v10", user="U0BOB")
    assert said == (
        "Deploy #1 of v10 to staging could not be announced in #zzik-deployments (HTTP 500 from Slack), "
        "so it is cancelled and staging stays unlocked. Try again in a minute."
    )
    assert [d["status"] for d in await deploys(bot)] == ["cancelled"]
    assert "is announced" in await ask(fake_slack, bot, "/deploy", "staging v10", user="U0BOB")


async def test_no_webhook_secret_refuses_every_report(make_bot: BotFactory) -> None:
    bot = await make_bot(deploy_config(None), zzik_webhook_secret=None)
    body = json.dumps({"deploy_id": 1, "status": "succeeded"}).encode()
    status, answer = await post(bot.url, body, {"Authorization": "Bearer anything"})
    assert (status, answer) == (401, {"error": "unauthorized: ZZIK_WEBHOOK_SECRET is not set on the bot"})


async def test_incident_channels_hear_of_a_rollback_a_crash_left_untold(
    bot: RunningBot, fake_slack: FakeSlack, pipeline: FakePipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The rollback (and its end) are committed with the incident notes' runs; the process dies before it runs them.
    await ship(bot, fake_slack, pipeline, "prod", "v1.0.0", extra='--force "first"')
    bad = await ship(bot, fake_slack, pipeline, "prod", "v1.0.1", extra='--force "second"')
    await ask(fake_slack, bot, "/incident", "p1 Checkout errors", user="U0ALICE")

    async def opened() -> bool:
        return bool(await bot.db.fetchval("SELECT channel_id FROM incidents WHERE status = 'open'"))

    await eventually(opened)
    channel = await bot.db.fetchval("SELECT channel_id FROM incidents WHERE status = 'open'")

    def told() -> list[str]:
        posts = fake_slack.calls_to("chat.postMessage")
        return [c["text"] for c in posts if c["channel"] == channel and ":rewind:" in c["text"]]

    async def crashed(published) -> None:
        return None

    monkeypatch.setattr(bot.services.events, "after_commit", crashed)
    said = await click(bot, fake_slack, "deploy_watch_rollback", str(bad), user="U0ALICE")
    assert said.startswith(f"Rollback #{bad + 1} of v1.0.0 to prod started")
    assert told() == []
    await bot.tick()  # any replica's pass
    assert told() == [
        ":rewind: <@U0ALICE> is rolling prod back from `v1.0.1` to `v1.0.0`: "
        f"Post-deployment watch of Deploy #{bad} of v1.0.1 to prod"
    ]
    status, _ = await pipeline.report(bot.url, bad + 1, "succeeded")
    assert status == 200 and len(told()) == 1
    await bot.tick()
    assert told()[1:] == [f":rewind: Rollback #{bad + 1} of v1.0.0 to prod succeeded."]
    notes = "SELECT job, run_key, status FROM job_runs WHERE job LIKE 'incidents.rollback%' AND run_key LIKE $1"
    assert sorted(
        (r["job"], r["run_key"], r["status"]) for r in await bot.db.fetch(notes + " ORDER BY id", f"{bad + 1}%")
    ) == [
        ("incidents.rollback_finished_note", f"{bad + 1}:succeeded", "done"),
        ("incidents.rollback_started_note", f"{bad + 1}", "done"),
    ]
