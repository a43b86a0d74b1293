"""The floor for bench/ack_latency.py: a bare Bolt app on aiohttp that only acks every slash command (with a
one-word answer in the ack, so the time to answer has a floor too).

    python bench/floor_app.py PORT SECRET API_URL [--no-poll]

By default Bolt as it comes: the listener runs in a task and Bolt polls every 10 ms for its ack. `--no-poll`
sets process_before_response, so the ack goes out as soon as the listener returns (as the bot does): the stricter
floor, bound by CPU rather than by the poll."""

from __future__ import annotations

import re
import sys

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def main() -> None:
    port, secret, api_url = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    bolt = AsyncApp(
        client=AsyncWebClient(token="xoxb-floor", base_url=api_url),
        signing_secret=secret,
        process_before_response="--no-poll" in sys.argv[4:],
    )

    @bolt.command(re.compile(r"^/.*"))
    async def only_ack(ack) -> None:
        await ack(text="ok")

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
