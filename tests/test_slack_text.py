"""Slack's dialect: encoded command text in, safe mrkdwn out, never encoded twice; the fake refuses as Slack does."""

from __future__ import annotations

import aiohttp
import pytest

from bot.fakeslack import FakeSlack, check_blocks, check_view
from bot.slack.text import escape, from_slack, length, plain, shorten, slug
from tests.conftest import RunningBot, eventually
from tests.slackreq import slack_encode

ISSUE_UPDATE = (
    "update rolled back, <@U0BOB|bob> verifying on <https://status.zzik.example/x|status>; errors &lt; 1% &amp; falling"
)


def test_from_slack_keeps_mentions_and_links_and_defuses_broadcasts() -> None:
    text = from_slack("hi <@U0BOB|bob> in <#C1|ops>, see <https://x.example/a?b=1&amp;c=2|the run> <!here> <!channel>")
    assert text == "hi <@U0BOB|bob> in <#C1|ops>, see <https://x.example/a?b=1&amp;c=2|the run> @here @channel"
    assert from_slack("<!everyone> <!subteam^S0OPS|@ops-team> <!subteam^S0X>") == "@everyone @ops-team @S0X"
    assert from_slack("a &lt; b &amp;&amp; c &gt; d") == "a &lt; b &amp;&amp; c &gt; d"  # never encoded twice
    assert from_slack("<script> & <javascript:alert(1)|x>") == "&lt;script&gt; &amp; &lt;javascript:alert(1)|x&gt;"
    for sample in (ISSUE_UPDATE, "<!here|here> &amp; <@W0ENT> <mailto:a@b.example|mail>", "x < y & z > w"):
        once = from_slack(sample)
        assert from_slack(once) == once  # idempotent: safe mrkdwn passes through


def test_plain_and_slug_read_what_a_person_sees() -> None:
    title = "Search &amp; filters slow for <@U0CAROL|carol>'s team"
    assert plain(title) == "Search & filters slow for carol's team"
    assert slug(plain(title), 70) == "search-filters-slow-for-carols-team"
    assert plain(escape("a <b> & c")) == "a <b> & c"
    assert length("<https://very.long.example/path|docs> &amp;") == len("docs &")


def test_shorten_never_cuts_inside_a_mention_link_or_entity() -> None:
    text = "ab &amp; <@U0BOB|bob> <https://x.example/long/path|link> tail"
    for limit in range(3, length(text)):
        cut = shorten(text, limit)
        assert cut.endswith("…") and length(cut) <= limit
        assert from_slack(cut) == cut  # still well-formed mrkdwn
    assert shorten(text, 200) == text


def test_test_requests_encode_as_slack_does() -> None:
    assert slack_encode("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    assert slack_encode("ping @here see https://x.example/a?b=1&c=2.") == (
        "ping <!here> see <https://x.example/a?b=1&amp;c=2>."
    )
    assert slack_encode("to <@U0BOB|bob> in <#C1|ops> <https://x.example|x>") == (
        "to <@U0BOB|bob> in <#C1|ops> <https://x.example|x>"
    )


async def test_the_issues_update_and_title_arrive_as_slack_sends_them(bot: RunningBot, fake_slack: FakeSlack) -> None:
    title = "p2 Search &amp; filters slow for <@U0CAROL|carol>'s team"
    reply = await bot.slack.command("/incident", title, encoded=True)
    assert reply.status == 200
    row = await eventually(lambda: bot.db.fetchrow("SELECT * FROM incidents WHERE channel_id IS NOT NULL"))
    assert row["channel_name"] == "inc-1-search-filters-slow-for-carols-team"
    await eventually(lambda: fake_slack.calls_to("chat.postMessage"))
    await bot.slack.command("/incident", ISSUE_UPDATE, channel=row["channel_id"], encoded=True)
    await eventually(lambda: any("verifying" in t for t in fake_slack.texts()))
    everything = "\n".join(fake_slack.texts() + fake_slack.texts("chat.update"))
    assert "Search &amp; filters slow for <@U0CAROL|carol>'s team" in everything
    assert (
        "rolled back, <@U0BOB|bob> verifying on <https://status.zzik.example/x|status>; errors &lt; 1% &amp; falling"
    ) in everything
    assert "&amp;amp;" not in everything and "&lt;@" not in everything
    topic = fake_slack.calls_to("conversations.setTopic")[-1]["topic"]
    assert "Search &amp; filters slow for <@U0CAROL|carol>'s team" in topic


async def test_modal_text_is_raw_and_escaped_once(bot: RunningBot, fake_slack: FakeSlack) -> None:
    values = {
        "title": {"value": {"type": "plain_text_input", "value": "Cart <!channel> & <@U0BOB> broken"}},
        "severity": {"value": {"type": "static_select", "selected_option": {"value": "P3"}}},
        "description": {"value": {"type": "plain_text_input", "value": "a &amp; b"}},
    }
    assert (await bot.slack.view_submission("incident_declare", values)).status == 200
    await eventually(lambda: fake_slack.calls_to("chat.postMessage"))
    row = await bot.db.fetchrow("SELECT title, description FROM incidents")
    assert row["title"] == "Cart &lt;!channel&gt; &amp; &lt;@U0BOB&gt; broken"  # shown literally, pings no one
    assert row["description"] == "a &amp;amp; b"  # what was typed, shown as typed
    assert "<!channel>" not in "\n".join(fake_slack.texts())


def test_fake_slack_refuses_what_slack_refuses() -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    assert check_blocks([section] * 50, 50) == []
    assert check_blocks([section] * 51, 50)
    assert check_blocks([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], 50)
    option = {"text": {"type": "mrkdwn", "text": "o" * 76}, "value": "v"}
    assert check_blocks([{"type": "actions", "elements": [{"type": "checkboxes", "options": [option]}]}], 50)
    many = [{"text": {"type": "mrkdwn", "text": f"o{i}"}, "value": str(i)} for i in range(11)]
    assert check_blocks([{"type": "actions", "elements": [{"type": "radio_buttons", "options": many}]}], 50)
    button = {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "b" * 76}}
    assert check_blocks([{"type": "actions", "elements": [button]}], 50)
    assert check_blocks([{**section, "block_id": "same"}, {**section, "block_id": "same"}], 50)
    assert check_view({"type": "modal", "title": {"type": "plain_text", "text": "t" * 25}, "blocks": []})
    assert not check_view({"type": "modal", "title": {"type": "plain_text", "text": "t" * 24}, "blocks": []})


@pytest.mark.parametrize("method", ["chat.postMessage", "chat.update", "chat.postEphemeral"])
async def test_fake_slack_answers_invalid_blocks_over_http(fake_slack: FakeSlack, method: str) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51
    async with aiohttp.ClientSession() as session:
        async with session.post(fake_slack.url + method, json={"channel": "C1", "blocks": blocks}) as r:
            assert (await r.json())["error"] == "invalid_blocks"
        async with session.post(fake_slack.response_url("once"), json={"text": "x", "blocks": blocks}) as r:
            assert r.status == 400
        for _ in range(5):
            async with session.post(fake_slack.response_url("five"), json={"text": "x"}) as r:
                assert r.status == 200
        async with session.post(fake_slack.response_url("five"), json={"text": "x"}) as r:
            assert r.status == 404 and (await r.json())["error"] == "used_url"
