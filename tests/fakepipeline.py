"""A fake CI pipeline over real HTTP: receives the bot's signed trigger, and calls the bot back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from aiohttp import web

from bot.web.signing import signed_headers, verify


class FakePipeline:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.received: list[dict[str, Any]] = []
        self.unsigned: int = 0
        self.answer_status = 202
        self.delay = 0.0  # seconds before it answers a trigger (a slow CI)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/trigger", self._trigger)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/trigger"  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _trigger(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(request.headers, body, self.secret):
            self.unsigned += 1
            return web.json_response({"error": "bad signature"}, status=401)
        self.received.append({**json.loads(body), "_idempotency_key": request.headers.get("Idempotency-Key")})
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.json_response({"queued": True}, status=self.answer_status)

    async def report(self, bot_url: str, deploy_id: int, status: str, **extra: Any) -> tuple[int, dict]:
        """Call the bot back as CI would, signed with the shared secret."""
        body = json.dumps({"deploy_id": deploy_id, "status": status, **extra}).encode()
        return await post(bot_url, body, {**signed_headers(self.secret, body), "Content-Type": "application/json"})


async def post(bot_url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{bot_url}/hooks/deploy", data=body, headers=headers) as r,
    ):
        return r.status, await r.json()
