"""A fake PagerDuty Events API v2 over real HTTP (POST /v2/enqueue), keeping PagerDuty's documented behaviour:
202 {"status": "success", "message": "Event processed", "dedup_key": ...} for a valid event, 400
{"status": "invalid event", "message": "Event object is invalid", "errors": [...]} for a bad one, and the
dedup_key semantics (a trigger on an open incident adds to it, acknowledge/resolve of an unknown key do nothing).
`fail(status, times)` answers the next calls with 429 (rate limit) or 5xx.

It also sends PagerDuty's v3 webhooks to the bot (`subscribe(url, secrets)`), signed as PagerDuty signs them
(`X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the body>`, one per secret, comma-separated): for what happens in
PagerDuty (`acknowledge_in_pagerduty`, `resolve_in_pagerduty`, `escalate`) and, as PagerDuty does, for the state
changes the bot's own events cause (the echo the bot must ignore)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from bot.demo import wire

KEY = "R0ZZIKPAGERDUTYINTEGRATIONKEY001"  # the routing key the tests configure
ACTIONS = {"trigger", "acknowledge", "resolve"}
SEVERITIES = {"critical", "error", "warning", "info"}
CREATED_AT = datetime(2026, 11, 25, 3, tzinfo=UTC)  # when every incident of the fake was opened, as its webhooks say


class FakePagerDuty:
    def __init__(self, routing_keys: set[str]) -> None:
        self.routing_keys = routing_keys
        self.received: list[dict[str, Any]] = []  # every event taken (202), in order
        self.answers: list[int] = []  # every status answered, in order
        self.incidents: dict[str, dict[str, Any]] = {}  # dedup_key -> {"status", "severity", "summary", "events"}
        self._failures: list[int] = []
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.webhook_url: str | None = None
        self.secrets: list[str] = []
        self.deliveries: list[tuple[dict[str, Any], int]] = []  # (webhook body, the bot's status), in order
        self._sending: set[asyncio.Task] = set()
        self._numbers = 0
        self.delay = 0.0  # seconds each /v2/enqueue waits before answering (a slow PagerDuty)
        self.arrived = 0  # calls that reached /v2/enqueue, answered or not

    def fail(self, status: int, times: int = 1) -> None:
        self._failures += [status] * times

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self._enqueue)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v2/enqueue"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def actions(self, dedup_key: str) -> list[str]:
        return [e["event_action"] for e in self.received if e.get("dedup_key") == dedup_key]

    async def _enqueue(self, request: web.Request) -> web.Response:
        self.arrived += 1
        if self.delay:
            await asyncio.sleep(self.delay)
            if request.transport is None or request.transport.is_closing():
                return web.Response(status=499)  # the sender died waiting: as if the event never got here
        if self._failures:
            status = self._failures.pop(0)
            self.answers.append(status)
            if status == 429:
                return web.json_response(
                    {
                        "status": "throttle event",
                        "message": "Requests for this service are arriving too quickly.  Please retry later.",
                    },
                    status=429,
                )
            return web.Response(status=status, text="Internal Server Error")
        try:
            event = json.loads(await request.text())
        except ValueError:
            return self._invalid(["Event object is invalid JSON"])
        errors = self._validate(event)
        if errors:
            return self._invalid(errors)
        self.answers.append(202)
        self.received.append(event)
        key = event.get("dedup_key") or f"generated-{len(self.received)}"
        current = self.incidents.get(key)
        action = event["event_action"]
        if action == "trigger":
            if current is None or current["status"] == "resolved":
                self._numbers += 1
                self.incidents[key] = current = {"status": "triggered", "events": 0, "number": self._numbers}
                current.update(severity=event["payload"]["severity"], summary=event["payload"]["summary"])
                self._echo(key, "incident.triggered")
            current.update(severity=event["payload"]["severity"], summary=event["payload"]["summary"])
            current["events"] += 1
        elif current is not None and current["status"] != "resolved":
            status = "acknowledged" if action == "acknowledge" else "resolved"
            if current["status"] != status:
                current["status"] = status
                self._echo(key, f"incident.{status}")
        return web.json_response({"status": "success", "message": "Event processed", "dedup_key": key}, status=202)

    def _invalid(self, errors: list[str]) -> web.Response:
        self.answers.append(400)
        return web.json_response(
            {"status": "invalid event", "message": "Event object is invalid", "errors": errors}, status=400
        )

    def _validate(self, event: Any) -> list[str]:
        if not isinstance(event, dict):
            return ["Event object is invalid"]
        errors = []
        if event.get("routing_key") not in self.routing_keys:
            errors.append("'routing_key' is invalid")
        action = event.get("event_action")
        if action not in ACTIONS:
            errors.append("'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
        dedup = event.get("dedup_key")
        if action in ("acknowledge", "resolve") and not dedup:
            errors.append("'dedup_key' is missing or blank")
        if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
            errors.append("'dedup_key' must be a string of at most 255 characters")
        if action == "trigger":
            payload = event.get("payload")
            if not isinstance(payload, dict):
                errors.append("'payload' is missing")
            else:
                summary = payload.get("summary")
                if not isinstance(summary, str) or not summary or len(summary) > 1024:
                    errors.append("'payload.summary' is missing or longer than 1024 characters")
                if not isinstance(payload.get("source"), str) or not payload["source"]:
                    errors.append("'payload.source' is missing or blank")
                if payload.get("severity") not in SEVERITIES:
                    errors.append("'payload.severity' is invalid (must be one of critical, error, warning, info)")
            for link in event.get("links") or []:
                if not isinstance(link, dict) or not isinstance(link.get("href"), str):
                    errors.append("'links' entries need an href")
        return errors

    # -- webhooks v3 out to the bot -------------------------------------------------------------------------------

    def subscribe(self, url: str, secrets: list[str]) -> None:
        self.webhook_url, self.secrets = url, secrets

    def event(
        self,
        key: str,
        event_type: str,
        *,
        agent: dict[str, Any] | None = None,
        occurred_at: datetime | None = None,
        assignees: list[str] = (),  # type: ignore[assignment]
    ) -> dict[str, Any]:
        """A v3 webhook body for the PagerDuty incident of `key`, shaped as PagerDuty documents it."""
        incident = self.incidents[key]
        return wire.pagerduty_event(
            key,
            incident["number"],
            event_type,
            incident["summary"],
            agent,
            status=incident["status"],
            occurred_at=occurred_at,
            created_at=CREATED_AT,
            assignees=assignees,
        )

    def open_in_pagerduty(self, title: str, key: str | None = None) -> str:
        """An incident someone opens in PagerDuty itself (not through the bot's Events API trigger): PagerDuty gives
        it a generated `incident_key` unless its creator chose one. Its key, for `event`."""
        key = key or uuid.uuid4().hex
        self._numbers += 1
        self.incidents[key] = {
            "status": "triggered",
            "events": 0,
            "number": self._numbers,
            "severity": "critical",
            "summary": title,
        }
        return key

    def sign(self, body: bytes, secrets: list[str] | None = None) -> str:
        return ",".join(wire.pagerduty_signature(s, body) for s in (secrets or self.secrets))

    async def deliver(
        self, body: dict[str, Any] | bytes, *, signature: str | None = None, url: str | None = None
    ) -> int:
        """POST one webhook to the bot as PagerDuty does (to `url`: another replica); the bot's status."""
        url = url or self.webhook_url
        if url is None:
            return 0
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "PagerDuty-Webhook/V3.0",
            "X-PagerDuty-Signature": signature if signature is not None else self.sign(raw),
        }
        async with aiohttp.ClientSession() as http, http.post(url, data=raw, headers=headers) as answer:
            status = answer.status
        self.deliveries.append((json.loads(raw) if not isinstance(body, dict) else body, status))
        return status

    async def acknowledge_in_pagerduty(self, key: str, agent: dict[str, Any]) -> dict[str, Any]:
        self.incidents[key]["status"] = "acknowledged"
        body = self.event(key, "incident.acknowledged", agent=agent)
        await self.deliver(body)
        return body

    async def resolve_in_pagerduty(self, key: str, agent: dict[str, Any]) -> dict[str, Any]:
        self.incidents[key]["status"] = "resolved"
        body = self.event(key, "incident.resolved", agent=agent)
        await self.deliver(body)
        return body

    def _echo(self, key: str, event_type: str) -> None:
        """What PagerDuty does after taking an event: tell its subscribers, the service as the agent."""
        if self.webhook_url is None:
            return
        agent = {"id": "PSVC001", "type": "service_reference", "summary": "ZZIK LIVE"}
        task = asyncio.get_running_loop().create_task(self.deliver(self.event(key, event_type, agent=agent)))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)


@contextlib.asynccontextmanager
async def running(*keys: str) -> AsyncIterator[FakePagerDuty]:
    """A fake PagerDuty on a free port that accepts these routing keys, stopped afterwards."""
    fake = FakePagerDuty(set(keys))
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def user(pd_id: str, name: str) -> dict[str, Any]:
    """A PagerDuty user reference, as an event's agent."""
    return {
        "id": pd_id,
        "type": "user_reference",
        "summary": name,
        "self": f"https://api.pagerduty.com/users/{pd_id}",
        "html_url": f"https://zzik.pagerduty.com/users/{pd_id}",
    }
