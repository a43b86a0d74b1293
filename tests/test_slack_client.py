"""The Web API client: SLACK_API_URL honoured, 429/5xx/timeouts retried, failures counted."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from bot.fakeslack import FakeSlack
from bot.metrics import Metrics
from bot.slack.client import SlackClient


@pytest.fixture
def client(fake_slack: FakeSlack) -> SlackClient:
    return SlackClient(token="xoxb-1-test", base_url=fake_slack.url, metrics=Metrics(), timeout=1, retry_backoff=0.01)


async def test_base_url_and_token(client: SlackClient, fake_slack: FakeSlack) -> None:
    await client.chat_postMessage(channel="#zzik-dev", text="hello")
    assert fake_slack.calls[0].method == "chat.postMessage"
    assert fake_slack.calls[0].token == "xoxb-1-test"


async def test_rate_limit_honours_retry_after(client: SlackClient, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=0)
    response = await client.chat_postMessage(channel="#zzik-dev", text="hello")
    assert response["ok"] and len(fake_slack.calls_to("chat.postMessage")) == 2


async def test_server_errors_and_timeouts_are_retried(client: SlackClient, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.update", status=502)
    fake_slack.fail("chat.update", status=503)
    assert (await client.chat_update(channel="C1", ts="1.1", text="x"))["ok"]
    assert len(fake_slack.calls_to("chat.update")) == 3
    fake_slack.fail("pins.add", delay=1.5)  # longer than the client's 1 s timeout
    assert (await client.pins_add(channel="C1", timestamp="1.1"))["ok"]
    assert len(fake_slack.calls_to("pins.add")) == 2


async def test_failures_after_retries_are_raised_and_counted(client: SlackClient, fake_slack: FakeSlack) -> None:
    fake_slack.fail("chat.postMessage", status=500, times=3)
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel="#zzik-dev", text="hello")
    fake_slack.fail("conversations.create", error="name_taken")
    with pytest.raises(SlackApiError):
        await client.conversations_create(name="inc-1")
    text = client.metrics.render().decode()
    assert 'zzik_slack_api_errors_total{error="http_500",method="chat.postMessage"} 1.0' in text
    assert 'zzik_slack_api_errors_total{error="name_taken",method="conversations.create"} 1.0' in text
