"""Correctly signed Slack requests to the bot's real /slack/events, as Slack sends them."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from bot.demo.wire import slack_encode

_ids = itertools.count(1)
__all__ = ["ANSWERS", "Reply", "SlackRequests", "slack_encode"]  # slack_encode: Slack's command-text encoding


@dataclass
class Reply:
    status: int
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


# Every answer the bot gave in an HTTP reply (the ack), for the check on raw placeholders (conftest).
ANSWERS: list[str] = []


class SlackRequests:
    def __init__(self, bot_url: str, signing_secret: str, response_url: str) -> None:
        self.url = bot_url.rstrip("/") + "/slack/events"
        self.verifier = SignatureVerifier(signing_secret)
        self.response_url = response_url

    def next_response_url(self) -> str:
        """A fresh response_url per request, as Slack gives (each can be used 5 times)."""
        return f"{self.response_url}-{next(_ids)}"

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        sig = signature if signature is not None else self.verifier.generate_signature(timestamp=ts, body=body)
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig,
            **(headers or {}),
        }
        async with aiohttp.ClientSession() as session, session.post(self.url, data=body, headers=all_headers) as r:
            reply = Reply(r.status, await r.text())
        if reply.text and reply.text.startswith("{"):
            ANSWERS.append(reply.text)
        return reply

    async def command(
        self,
        command: str,
        text: str = "",
        *,
        user: str = "U0ALICE",
        channel: str = "C0GENERAL",
        trigger_id: str | None = None,
        encoded: bool = False,
        **kwargs: Any,
    ) -> Reply:
        """A slash command as Slack sends it: `text` is what the user typed, encoded here as Slack encodes it
        (pass `encoded=True` for text already in Slack's encoding)."""
        form = {
            "token": "legacy-verification-token",
            "team_id": "T0ZZIK",
            "team_domain": "zzik",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text if encoded else slack_encode(text),
            "api_app_id": "A0ZZIK",
            "is_enterprise_install": "false",
            "response_url": self.next_response_url(),
            "trigger_id": trigger_id or f"trig.{next(_ids)}",
        }
        return await self.post(urlencode(form), "application/x-www-form-urlencoded", **kwargs)

    async def interactive(self, payload: dict[str, Any], **kwargs: Any) -> Reply:
        return await self.post(
            urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded", **kwargs
        )

    def block_actions(
        self,
        element: dict[str, Any],
        *,
        user: str,
        channel: str,
        message_ts: str = "1700000000.000001",
        trigger_id: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The block_actions payload Slack sends for a click on `element` in a message."""
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": "T0ZZIK", "domain": "zzik"},
            "user": {"id": user, "username": user.lower(), "team_id": "T0ZZIK"},
            "api_app_id": "A0ZZIK",
            "token": "legacy-verification-token",
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
            "trigger_id": trigger_id or f"trig.{next(_ids)}",
            "channel": {"id": channel, "name": "general"},
            "message": {"ts": message_ts, "text": "", "blocks": []},
            "response_url": self.next_response_url(),
            "actions": [{**element, "action_ts": f"{time.time():.6f}"}],
        }
        if state is not None:
            payload["state"] = state
        return payload

    async def action(
        self,
        action_id: str,
        value: str = "",
        *,
        user: str = "U0ALICE",
        channel: str = "C0GENERAL",
        block_id: str = "b",
        state: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Reply:
        element = {"action_id": action_id, "block_id": block_id, "type": "button", "value": value}
        return await self.interactive(self.block_actions(element, user=user, channel=channel, state=state), **kwargs)

    async def checkboxes(
        self, action_id: str, block_id: str, values: list[str], *, user: str = "U0ALICE", channel: str = "C0GENERAL"
    ) -> Reply:
        """A click on a checkboxes element: Slack sends the whole selection, not the one box clicked."""
        element = {
            "action_id": action_id,
            "block_id": block_id,
            "type": "checkboxes",
            "selected_options": [{"value": v} for v in values],
        }
        return await self.interactive(self.block_actions(element, user=user, channel=channel))

    async def view_submission(
        self,
        callback_id: str,
        values: dict[str, dict[str, Any]],
        *,
        user: str = "U0ALICE",
        private_metadata: str = "",
        view_id: str = "V0000001",
        trigger_id: str | None = None,
        **kwargs: Any,
    ) -> Reply:
        payload = {
            "type": "view_submission",
            "team": {"id": "T0ZZIK", "domain": "zzik"},
            "user": {"id": user, "username": user.lower(), "team_id": "T0ZZIK"},
            "api_app_id": "A0ZZIK",
            "token": "legacy-verification-token",
            "trigger_id": trigger_id or f"trig.{next(_ids)}",
            "view": {
                "id": view_id,
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": private_metadata,
                "state": {"values": values},
                "hash": "h",
            },
        }
        return await self.interactive(payload, **kwargs)

    async def event(self, event: dict[str, Any], *, event_id: str, retry_num: int | None = None) -> Reply:
        body = {
            "token": "legacy-verification-token",
            "team_id": "T0ZZIK",
            "api_app_id": "A0ZZIK",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
        }
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        return await self.post(json.dumps(body), "application/json", headers=headers)
