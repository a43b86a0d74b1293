"""Requests refused at the door (401): Slack requests whose signature is missing, stale or wrong, and webhooks
without valid credentials. Each is counted (by route and reason) and logged at most once a minute per route
with how many there were, so a misconfigured sender or a scan shows up without flooding the log.

One aiohttp middleware sees every answer, so a route added later is covered without code of its own.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from bot import log
from bot.metrics import Metrics

logger = log.get("zzik.web")

SLACK_PATH = "/slack/events"
WEBHOOKS = "/hooks/"
LOG_EVERY = 60.0  # seconds: at most one warning line per route in this time
MAX_SKEW = 300  # seconds: Slack's (and our webhooks') timestamp window


@dataclass
class _Tally:
    logged_at: float | None = None
    since: int = 0  # refusals since the last line (the one that logs included)


@dataclass
class RefusalLog:
    """At most one warning per route every `every` seconds, saying how many refusals it stands for."""

    every: float = LOG_EVERY
    clock: Callable[[], float] = time.monotonic
    _tallies: dict[str, _Tally] = field(default_factory=dict)

    def note(self, what: str, route: str, reason: str, remote: str | None) -> None:
        tally = self._tallies.setdefault(route, _Tally())
        tally.since += 1
        now = self.clock()
        if tally.logged_at is not None and now - tally.logged_at < self.every:
            return
        logger.warning(what, route=route, reason=reason, remote=remote, refused=tally.since, per_seconds=self.every)
        tally.logged_at, tally.since = now, 0


def slack_reason(request: web.Request, now: float | None = None) -> str:
    """Why Slack's URL refused a request: `missing` (no signature or timestamp), `stale` (a timestamp outside
    Slack's 5 minutes: a replay, or a clock that is off), else `invalid` (the signing secret differs)."""
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    if not request.headers.get("X-Slack-Signature") or not timestamp:
        return "missing"
    return "stale" if _stale(timestamp, now) else "invalid"


def webhook_reason(request: web.Request, body: bytes, now: float | None = None) -> str:
    """Why a webhook was refused: `not_configured` (the bot has no secret for it: every sender is refused),
    `missing` (no credentials sent), `stale` (a signature's timestamp outside 5 minutes), else `invalid`."""
    if b"not set" in body:  # the receivers say "… is not set" when their secret is unset
        return "not_configured"
    headers = request.headers
    signed = [h for h in headers if h.lower() in ("x-zzik-signature", "x-pagerduty-signature")]
    if not headers.get("Authorization") and not signed:
        return "missing"
    timestamp = headers.get("X-Zzik-Timestamp")
    return "stale" if timestamp is not None and _stale(timestamp, now) else "invalid"


def _stale(timestamp: str, now: float | None) -> bool:
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 16):
        return True
    return abs((now if now is not None else time.time()) - int(timestamp)) > MAX_SKEW


def _route(request: web.Request) -> str:
    """The route as declared (`/hooks/heartbeat/{name}`), so a label never takes a value per caller."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


def middleware(metrics: Metrics, refusals: RefusalLog | None = None) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Counts and logs every 401 from Slack's URL and the webhooks."""
    log_once = refusals or RefusalLog()

    @web.middleware
    async def count_refusals(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status == 401:
                _refused(request, exc.body if isinstance(exc.body, bytes) else b"")
            raise
        if response.status == 401 and isinstance(response, web.Response):
            _refused(request, response.body if isinstance(response.body, bytes) else b"")
        return response

    def _refused(request: web.Request, body: bytes) -> None:
        route = _route(request)
        if request.path == SLACK_PATH:
            reason = slack_reason(request)
            metrics.slack_signature_refusals.labels(route, reason).inc()
            log_once.note("slack request refused: bad signature", route, reason, request.remote)
        elif request.path.startswith(WEBHOOKS):
            reason = webhook_reason(request, body)
            metrics.webhook_refusals.labels(route, reason).inc()
            log_once.note("webhook refused: unauthorised", route, reason, request.remote)

    return count_refusals
