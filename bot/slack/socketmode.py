"""Socket Mode: Bolt's handler over slack_sdk's aiohttp client, with the socket's state for /healthz.

slack_sdk retries a failed connection forever, whatever the reason. A reason no retry mends (the app token
was revoked, or is not an app token) is handed to `on_fatal`, which stops the process with one line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient

from bot.slack.failures import TOKEN_REFUSED, SlackErrorCode

# apps.connections.open errors that mean the token will never work.
FATAL_ERRORS = TOKEN_REFUSED | {SlackErrorCode.NOT_ALLOWED_TOKEN_TYPE}


class _Client(SocketModeClient):
    def __init__(self, *args: Any, on_fatal: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_fatal = on_fatal
        self.last_error: str | None = None

    async def issue_new_wss_url(self) -> str:
        try:
            url = await super().issue_new_wss_url()
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "unknown_error")
            self.last_error = error
            if error in FATAL_ERRORS:
                self.on_fatal(f"SLACK_APP_TOKEN was refused by Slack ({error}): create a new app-level token")
            raise
        except Exception as exc:
            self.last_error = type(exc).__name__
            raise
        self.last_error = None
        return url


class SocketMode(AsyncSocketModeHandler):
    """The Socket Mode connection of one process."""

    client: _Client

    def __init__(self, app: AsyncApp, app_token: str, *, on_fatal: Callable[[str], None]) -> None:
        # Not super().__init__: it would build a client of its own, and ours must know the fatal errors.
        self.app = app
        self.app_token = app_token
        self.client = _Client(
            app_token=app_token, logger=app.logger, web_client=app.client, ping_interval=10, on_fatal=on_fatal
        )
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

    async def state(self) -> dict[str, Any]:
        """`connected`, else `connecting` (never connected yet) or `disconnected`, with the last error."""
        if await self.client.is_connected():
            return {"state": "connected"}
        body: dict[str, Any] = {"state": "connecting" if self.client.current_session is None else "disconnected"}
        if self.client.last_error:
            body["error"] = self.client.last_error
        return body
