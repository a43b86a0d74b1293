"""The Slack Web API client: base_url from SLACK_API_URL, retries, error metrics, one pooled HTTP session.

slack_sdk opens (and closes) a new aiohttp session, so a new TCP connection, for every call unless it is given
one. `SlackClient.open()` makes one keep-alive session that every Web API call and every response_url answer
(`SlackClient.responder`) shares.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import aiohttp
from aiohttp import ClientOSError, ServerConnectionError, ServerDisconnectedError
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient, WebhookResponse

from bot import log
from bot.metrics import Metrics
from bot.slack.failures import SLACK_FAILURES, slack_error

logger = log.get("zzik.slack")

__all__ = ["SLACK_FAILURES", "Responder", "SlackClient", "retry_handlers", "slack_error"]


# The backoff factor of the retries (settings ZZIK_SLACK_RETRY_BACKOFF_SECONDS): the n-th retry of a failed
# connection or a 5xx waits about factor * 2**n seconds; a 429 waits Retry-After plus up to 2 * factor.
RETRY_BACKOFF = 0.5


class _AnyServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    """slack_sdk's handler retries 500 and 503 only; a 502 or 504 from Slack's edge is as transient."""

    async def _can_retry_async(self, *, state: RetryState, request: Any, response: Any = None, error: Any = None):
        return response is not None and 500 <= response.status_code <= 599


class _RateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler, with its jitter (a fixed second there) scaled by the backoff factor."""

    def __init__(self, *, max_retry_count: int, backoff: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.backoff = backoff

    async def prepare_for_next_attempt_async(
        self, *, state: RetryState, request: Any, response: Any = None, error: Any = None
    ) -> None:
        if response is None:
            raise error
        state.next_attempt_requested = True
        retry_after = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), None)
        wait = int(retry_after[0]) if retry_after else 1
        await asyncio.sleep(wait + random.random() * 2 * self.backoff)
        state.increment_current_attempt()


def retry_handlers(backoff: float = RETRY_BACKOFF) -> list[Any]:
    interval = BackoffRetryIntervalCalculator(backoff_factor=backoff)
    return [
        AsyncConnectionErrorRetryHandler(
            max_retry_count=2,
            interval_calculator=interval,
            error_types=[ServerConnectionError, ServerDisconnectedError, ClientOSError, asyncio.TimeoutError],
        ),
        _RateLimitRetryHandler(max_retry_count=3, backoff=backoff),
        _AnyServerErrorRetryHandler(max_retry_count=2, interval_calculator=interval),
    ]


class SlackClient(AsyncWebClient):
    """AsyncWebClient that counts what still failed after slack_sdk's retry handlers."""

    def __init__(
        self, *, token: str, base_url: str, metrics: Metrics, timeout: int = 10, retry_backoff: float = RETRY_BACKOFF
    ) -> None:
        super().__init__(token=token, base_url=base_url, timeout=timeout, retry_handlers=retry_handlers(retry_backoff))
        self.metrics = metrics
        self.retry_backoff = retry_backoff

    async def open(self) -> None:
        """The pooled keep-alive session; until it is open, slack_sdk uses a session per call."""
        if self.session is None or self.session.closed:
            connector = aiohttp.TCPConnector(limit=POOL_SIZE, keepalive_timeout=KEEPALIVE_SECONDS)
            self.session = aiohttp.ClientSession(connector=connector)

    async def close(self) -> None:
        if self.session is not None and not self.session.closed:
            await self.session.close()
        self.session = None

    def responder(self, response_url: str | None) -> Responder | None:
        return Responder(self, response_url) if response_url else None

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:  # type: ignore[override]
        try:
            return await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = f"http_{status}" if status >= 400 else str(data.get("error") or "unknown")
            self.metrics.slack_api_errors.labels(api_method, error).inc()
            logger.warning("slack api error", method=api_method, error=error)
            raise
        except (TimeoutError, OSError, ServerDisconnectedError) as exc:
            self.metrics.slack_api_errors.labels(api_method, type(exc).__name__).inc()
            logger.warning("slack api unreachable", method=api_method, error=type(exc).__name__)
            raise


POOL_SIZE = 64
KEEPALIVE_SECONDS = 30.0


class Responder:
    """Answers through one response_url over the client's pooled session (Bolt's `respond` opens one per answer).

    Called like Bolt's `respond`: `await respond(text=..., blocks=..., response_type=..., replace_original=...)`.
    """

    def __init__(self, client: SlackClient, response_url: str) -> None:
        self.client = client
        self.response_url = response_url

    async def __call__(
        self, text: str = "", blocks: list[dict[str, Any]] | None = None, **fields: Any
    ) -> WebhookResponse:
        message = {"text": text, **({"blocks": blocks} if blocks is not None else {})}
        message.update({k: v for k, v in fields.items() if v is not None})
        webhook = AsyncWebhookClient(
            url=self.response_url,
            timeout=self.client.timeout,
            session=self.client.session,
            # Only a connection that failed before Slack took the message is retried: never answer twice.
            retry_handlers=retry_handlers(self.client.retry_backoff)[:1],
        )
        return await webhook.send_dict(message)
