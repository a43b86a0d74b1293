"""Wire details with Slack's real payload shapes: what a reported message says when it is not text, mentions
read as names, an answer that fell back to a DM counted, words shown back never cut inside a link."""

from __future__ import annotations

from typing import Any

from bot.fakeslack import FakeSlack
from tests.conftest import BotFactory, RunningBot, ask, eventually

FIRING = 'zzik_answer_fallbacks_total{kind="job",name="incidents.setup",route="dm"} 1.0'


def shortcut(fake: FakeSlack, message: dict[str, Any]) -> dict[str, Any]:
    """A message shortcut (Declare incident) on `message`, as Slack sends it."""
    return {
        "type": "message_action",
        "callback_id": "incident_declare_from_message",
        "trigger_id": "trig.shortcut.2",
        "response_url": fake.response_url("shortcut"),
        "team": {"id": "T0ZZIK", "domain": "zzik"},
        "channel": {"id": "C0ALERTS", "name": "zzik-alerts"},
        "user": {"id": "U0DAVE", "name": "dave"},
        "message_ts": message["ts"],
        "message": message,
    }


async def declare_form(bot: RunningBot, fake: FakeSlack, message: dict[str, Any]) -> dict[str, str]:
    """Report `message` with the shortcut; the opened form's prefilled title and description."""
    assert (await bot.slack.interactive(shortcut(fake, message))).status == 200
    [opened] = await eventually(lambda: fake.calls_to("views.open"))
    blocks = {b["block_id"]: b for b in opened["view"]["blocks"]}
    return {name: blocks[name]["element"].get("initial_value", "") for name in ("title", "description")}


async def test_a_monitoring_bots_post_with_only_attachments_prefills_the_form(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    # Grafana's legacy Slack notifier: no text, one attachment with title, text, fallback and fields.
    message = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0GRAFANA",
        "username": "Grafana",
        "ts": "1700000200.000100",
        "text": "",
        "attachments": [
            {
                "id": 1,
                "color": "#D63232",
                "fallback": "[Alerting] Checkout 5xx &gt; 5% alert",
                "title": "[Alerting] Checkout 5xx &gt; 5% alert",
                "title_link": "https://grafana.zzik.example/d/checkout?viewPanel=2",
                "text": "5xx ratio on checkout is 7.2% since 03:02 &amp; rising",
                "fields": [{"title": "ratio", "value": "0.072", "short": True}],
                "footer": "Grafana v11",
                "ts": 1700000200,
            }
        ],
    }
    form = await declare_form(bot, fake_slack, message)
    assert form["title"] == "[Alerting] Checkout 5xx > 5% alert"
    assert form["description"] == (
        "[Alerting] Checkout 5xx > 5% alert\n5xx ratio on checkout is 7.2% since 03:02 & rising\nratio: 0.072"
    )


async def test_a_screenshot_with_no_text_prefills_the_form_with_the_files_name(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    message = {
        "type": "message",
        "user": "U0CAROL",
        "ts": "1700000300.000100",
        "text": "",
        "upload": True,
        "files": [
            {
                "id": "F0SHOT",
                "name": "Screenshot 2026-12-06 at 03.12.44.png",
                "title": "Checkout <error> page.png",
                "mimetype": "image/png",
                "filetype": "png",
                "permalink": "https://zzik.slack.com/files/U0CAROL/F0SHOT/screenshot.png",
            }
        ],
    }
    form = await declare_form(bot, fake_slack, message)
    assert form["title"] == form["description"] == "Checkout <error> page.png"


async def test_a_mention_in_a_reported_message_reads_as_the_persons_name(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    # Slack sends a mention in message text as the bare id: `<@U0BOB>`.
    message = {"type": "message", "user": "U0CAROL", "ts": "1700000400.000100", "text": "<@U0BOB> cannot log in"}
    form = await declare_form(bot, fake_slack, message)
    assert form["title"] == "@Bob cannot log in"
    opened = fake_slack.calls_to("views.open")[0]["view"]
    values = {
        "title": {"value": {"type": "plain_text_input", "value": form["title"]}},
        "severity": {"value": {"type": "static_select", "selected_option": {"value": "P3"}}},
    }
    reply = await bot.slack.view_submission(
        "incident_declare", values, user="U0DAVE", private_metadata=opened["private_metadata"]
    )
    assert reply.status == 200
    [created] = await eventually(lambda: fake_slack.calls_to("conversations.create"))
    assert created["name"] == "inc-1-bob-cannot-log-in"


async def test_a_declaration_answered_by_dm_after_a_429_on_response_url_is_counted(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = await make_bot()
    fake_slack.fail("response_url", status=429, retry_after=30)
    await bot.slack.command("/incident", "p3 Search is slow", user="U0CAROL")
    dm = await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0CAROL"])
    assert "Declared *INC-1*" in dm[0]["text"]
    assert fake_slack.calls_to("response_url")  # it was tried first, and refused with 429
    await eventually(lambda: FIRING in bot.services.metrics.render().decode())


async def test_a_word_shown_back_keeps_a_link_whole(bot: RunningBot, fake_slack: FakeSlack) -> None:
    # A pasted link keeps its label, spaces and all: `<https://…|the error log>`.
    link = "<https://logs.zzik.example/q?id=7|the error log>"
    for command in ("/oncall", "/slo", "/maintenance", "/incident"):
        said = await ask(fake_slack, bot, command, f"{link} please")
        assert f"`{link}` is not a" in said, said
    said = await ask(fake_slack, bot, "/oncall", "x" * 30 + "&" + "y" * 30)  # Slack sends `&amp;`: one character
    assert "`" + "x" * 30 + "&amp;" + "y" * 8 + "…` is not an /oncall command" in said, said
