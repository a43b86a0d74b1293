"""The manual's incident process, driven with Slack-encoded commands: who commands, long titles, answers that
always reach someone."""

from __future__ import annotations

from bot import opsconfig
from bot.slack.text import length
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually
from tests.fakeslack import FakeSlack


def rota_config(**incidents: object) -> opsconfig.OpsConfig:
    return config_with(oncall=ROTA, incidents={**opsconfig.load().incidents.model_dump(mode="json"), **incidents})


async def incident(bot: RunningBot, number: int = 1) -> dict:
    return dict(await bot.db.fetchrow("SELECT * FROM incidents WHERE number = $1", number))


async def test_the_on_call_primary_commands_unless_config_says_reporter(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = await make_bot(rota_config())
    said = await ask(fake_slack, bot, "/incident", "p3 Thumbnails missing", user="U0CAROL")
    row = await incident(bot)
    assert (row["reporter"], row["commander"]) == ("U0CAROL", "U0ALICE")  # alice is primary this week
    assert "Commander: <@U0ALICE>." in said
    declared = await bot.db.fetchval("SELECT text FROM incident_events WHERE kind = 'declared'")
    assert "(commander U0ALICE)" in declared
    modal = (await _modal(bot, fake_slack))["blocks"][-1]
    assert modal["label"]["text"] == "Commander (the on-call primary, if left empty)"
    assert "initial_user" not in modal["element"]

    other = await make_bot(rota_config(default_commander="reporter"))
    await ask(fake_slack, other, "/incident", "p3 Avatars missing", user="U0CAROL")
    row = await incident(other, 2)
    assert (row["reporter"], row["commander"]) == ("U0CAROL", "U0CAROL")


async def _modal(bot: RunningBot, fake: FakeSlack) -> dict:
    before = len(fake.calls_to("views.open"))
    await bot.slack.command("/incident", "")
    calls = await eventually(lambda: fake.calls_to("views.open")[before:])
    return calls[0]["view"]


async def test_an_over_long_title_is_declared_shortened_with_the_full_text_kept(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    words = "Checkout & payments fail for <@U0BOB|bob> and every EU customer since the deploy "
    typed = "p4 " + words * 5  # about 400 characters as Slack sends them
    said = await ask(fake_slack, bot, "/incident", typed, user="U0CAROL")
    row = await incident(bot)
    assert row["title"].endswith("…") and length(row["title"]) <= 150
    assert "<@U0BOB|bob>" in row["title"] and "&amp;amp;" not in row["title"]
    assert row["description"] == " ".join(typed[3:].split()).replace("&", "&amp;")
    assert "shortened" in said and "full text is the incident's description" in said
    await eventually(lambda: fake_slack.calls_to("conversations.create"))
    assert len(fake_slack.calls_to("conversations.create")[0]["name"]) <= 80


async def test_an_expired_response_url_falls_back_to_ephemeral_then_dm(bot: RunningBot, fake_slack: FakeSlack) -> None:
    await ask(fake_slack, bot, "/incident", "p3 Search is slow")
    fake_slack.fail("response_url", status=404, error="expired_url")
    await bot.slack.command("/incident", "list")
    ephemeral = await eventually(lambda: fake_slack.calls_to("chat.postEphemeral"))
    assert ephemeral[0]["user"] == "U0ALICE" and "INC-1" in str(ephemeral[0])
    row = await eventually(
        lambda: bot.db.fetchrow("SELECT outcome, detail FROM audit_log WHERE action = '/incident' ORDER BY id DESC")
    )
    assert row["outcome"] == "answer_fallback" and "expired_url" in row["detail"]

    fake_slack.fail("response_url", status=404, error="used_url")
    fake_slack.fail("chat.postEphemeral", error="channel_not_found", times=2)
    await bot.slack.command("/incident", "list", channel="C0GONE")
    dm = await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0ALICE"])
    assert "INC-1" in dm[0]["text"]
    dm_counted = 'zzik_answer_fallbacks_total{kind="command",name="/incident",route="dm"} 1.0'
    metrics = await eventually(lambda: dm_counted in bot.services.metrics.render().decode() and bot.services.metrics)
    assert 'route="ephemeral"} 1.0' in metrics.render().decode()
