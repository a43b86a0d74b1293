"""The fake Slack is as strict as Slack about channels: a post may name a channel and is answered with its id;
an edit, a pin or a conversations.* call must give the id (or the DM's id, not the user's)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bot.fakeslack import FakeSlack


async def call(fake: FakeSlack, method: str, **args: Any) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.post(fake.url + method, json=args) as r:
        return await r.json()


async def test_a_post_to_a_channel_name_is_answered_with_the_channel_id(fake_slack: FakeSlack) -> None:
    posted = await call(fake_slack, "chat.postMessage", channel="#zzik-alerts", text="CPU high")
    assert posted["ok"] and posted["channel"] == "C0ALERTS" == fake_slack.channel_id("zzik-alerts")
    assert (await call(fake_slack, "chat.postMessage", channel="zzik-alerts", text="x"))["channel"] == "C0ALERTS"
    assert (await call(fake_slack, "chat.postMessage", channel="U0BOB", text="x"))["channel"] == "DU0BOB"
    assert (await call(fake_slack, "chat.postMessage", channel="#no-such-channel", text="x")) == {
        "ok": False,
        "error": "channel_not_found",
    }
    assert [c["channel"] for c in fake_slack.posted_in("#zzik-alerts")] == ["#zzik-alerts", "zzik-alerts"]
    assert fake_slack.by_name == []  # a post may name its channel


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("chat.update", {"ts": "1700000000.000001", "text": "x"}),
        ("chat.delete", {"ts": "1700000000.000001"}),
        ("chat.getPermalink", {"message_ts": "1700000000.000001"}),
        ("pins.add", {"timestamp": "1700000000.000001"}),
        ("reactions.add", {"timestamp": "1700000000.000001", "name": "eyes"}),
        ("conversations.setTopic", {"topic": "INC-1"}),
        ("conversations.invite", {"users": "U0BOB"}),
        ("conversations.info", {}),
        ("conversations.archive", {}),
    ],
)
async def test_anything_but_a_post_refuses_a_channel_name(fake_slack: FakeSlack, method: str, args: dict) -> None:
    for name in ("#zzik-alerts", "zzik-alerts"):
        assert await call(fake_slack, method, channel=name, **args) == {"ok": False, "error": "channel_not_found"}
    assert fake_slack.by_name == [(method, "#zzik-alerts"), (method, "zzik-alerts")]
    fake_slack.by_name.clear()  # (else the harness fails this test: it checks that the bot never did this)
    answer = await call(fake_slack, method, channel="C0ALERTS", **args)
    assert answer.get("error") != "channel_not_found"


async def test_an_edit_of_a_dm_needs_the_dms_id_not_the_users(fake_slack: FakeSlack) -> None:
    posted = await call(fake_slack, "chat.postMessage", channel="U0BOB", text="You are paged")
    edited = await call(fake_slack, "chat.update", channel=posted["channel"], ts=posted["ts"], text="Acknowledged")
    assert edited["ok"]
    refused = await call(fake_slack, "chat.update", channel="U0BOB", ts=posted["ts"], text="Acknowledged")
    assert refused == {"ok": False, "error": "channel_not_found"}
    fake_slack.by_name.clear()
