"""A fake PagerDuty Events API v2 over real HTTP (POST /v2/enqueue), keeping PagerDuty's documented behaviour:
202 {"status": "success", "message": "Event processed", "dedup_key": ...} for a valid event, 400
{"status": "invalid event", "message": "Event object is invalid", "errors": [...]} for a bad one, and the
dedup_key semantics (a trigger on an open incident adds to it, acknowledge/resolve of an unknown key do nothing).
`fail(status, times)` answers the next calls with 429 (rate limit) or 5xx."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

ACTIONS = {"trigger", "acknowledge", "resolve"}
SEVERITIES = {"critical", "error", "warning", "info"}


class FakePagerDuty:
    def __init__(self, routing_keys: set[str]) -> None:
        self.routing_keys = routing_keys
        self.received: list[dict[str, Any]] = []  # every event taken (202), in order
        self.answers: list[int] = []  # every status answered, in order
        self.incidents: dict[str, dict[str, Any]] = {}  # dedup_key -> {"status", "severity", "summary", "events"}
        self._failures: list[int] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

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
        if self._runner is not None:
            await self._runner.cleanup()

    def actions(self, dedup_key: str) -> list[str]:
        return [e["event_action"] for e in self.received if e.get("dedup_key") == dedup_key]

    async def _enqueue(self, request: web.Request) -> web.Response:
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
                self.incidents[key] = current = {"status": "triggered", "events": 0}
            current.update(severity=event["payload"]["severity"], summary=event["payload"]["summary"])
            current["events"] += 1
        elif current is not None and current["status"] != "resolved":
            current["status"] = "acknowledged" if action == "acknowledge" else "resolved"
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
