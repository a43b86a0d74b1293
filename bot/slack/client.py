"""The Slack Web API client: base_url from SLACK_API_URL, retries, error metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import ClientOSError, ServerConnectionError, ServerDisconnectedError
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot import log
from bot.metrics import Metrics

logger = log.get("zzik.slack")


class _AnyServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    """slack_sdk's handler retries 500 and 503 only; a 502 or 504 from Slack's edge is as transient."""

    async def _can_retry_async(self, *, state: RetryState, request: Any, response: Any = None, error: Any = None):
        return response is not None and 500 <= response.status_code <= 599


def retry_handlers() -> list[Any]:
    return [
        AsyncConnectionErrorRetryHandler(
            max_retry_count=2,
            error_types=[ServerConnectionError, ServerDisconnectedError, ClientOSError, asyncio.TimeoutError],
        ),
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        _AnyServerErrorRetryHandler(max_retry_count=2),
    ]


class SlackClient(AsyncWebClient):
    """AsyncWebClient that counts what still failed after slack_sdk's retry handlers."""

    def __init__(self, *, token: str, base_url: str, metrics: Metrics, timeout: int = 10) -> None:
        super().__init__(token=token, base_url=base_url, timeout=timeout, retry_handlers=retry_handlers())
        self.metrics = metrics

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


def slack_error(exc: BaseException) -> str:
    """A short, human reason for a failed Slack call."""
    if isinstance(exc, SlackApiError):
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        if exc.response.status_code >= 400:
            return f"HTTP {exc.response.status_code} from Slack"
        return str(data.get("error") or "unknown error")
    if isinstance(exc, TimeoutError):
        return "Slack did not answer in time"
    return f"Slack could not be reached ({type(exc).__name__})"


SLACK_FAILURES: tuple[type[BaseException], ...] = (
    SlackApiError,
    TimeoutError,
    OSError,
    ServerDisconnectedError,
)
