"""`zzik-bot demo`: the real bot (bot.app.build, unchanged) against the Slack stand-in, and the page, on loopback.

The bot gets settings of its own, never the environment's Slack ones: SLACK_API_URL is the stand-in, the signing
secret, bot token and webhook secrets are generated for this run; PagerDuty's Events API, the deploy pipeline and
Alertmanager's silences API are the page's stand-ins. Its database is the one given (`ZZIK_DEMO_DATABASE_URL`),
else a database `zzik_demo_<port>` (the page's port: two demos at once never share one), made new at each start, on
an embedded PostgreSQL of the demo's own (<data dir>/demo): never DATABASE_URL's, so a demo never mixes with a real
bot's data.
"""

from __future__ import annotations

import logging
import secrets
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiohttp import web

from bot import log
from bot.app import BotApp, build
from bot.db import Database
from bot.demo import people
from bot.demo.page import Demo, Secrets
from bot.demo.standin import StandIn
from bot.settings import Settings

DEMO_DATABASE = "zzik_demo"
logger = log.get("zzik.demo")


async def fresh_database(server_url: str, port: int) -> str:
    """A new, empty `zzik_demo_<port>` database on the demo's own embedded server. The last demo on that port's is
    dropped: the port is bound by this demo, so no other demo running now uses that database."""
    name = f"{DEMO_DATABASE}_{int(port)}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def loopback_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


@dataclass
class Running:
    """The demo while it runs: the stand-in, the bot and the page (stop() stops all three)."""

    standin: StandIn
    bot: BotApp
    page: Demo
    runners: list[web.AppRunner] = field(default_factory=list)

    async def stop(self) -> None:
        for runner in reversed(self.runners):
            await runner.cleanup()
        await self.bot.stop()
        await self.standin.stop()


async def start(
    database_url: str,
    page_socket: socket.socket,
    base: Settings | None = None,
    *,
    configure_logging: bool = True,
    verbose: bool = False,
) -> Running:
    """Start the stand-in, the bot (migrating its database) and the page on `page_socket`. The generated secrets
    are masked in the logs; `configure_logging=False` leaves the process's logging as it is (tests). The bot's
    loggers say only warnings unless `verbose`: its info lines (each migration, each job) would bury the page's
    address and the person's own actions."""
    standin = StandIn()
    await standin.start()
    for person in people.PEOPLE:
        standin.add_user(person.id, person.name, email=f"{person.name}@zzik.example")
    page_url = f"http://127.0.0.1:{page_socket.getsockname()[1]}"
    bot_socket = loopback_socket()
    bot_url = f"http://127.0.0.1:{bot_socket.getsockname()[1]}"
    keys = Secrets(*(secrets.token_hex(16) for _ in range(4)))
    settings = Settings(
        slack_bot_token=f"xoxb-demo-{secrets.token_hex(8)}",
        slack_signing_secret=keys.signing,
        slack_api_url=standin.url,
        database_url=database_url,
        host="127.0.0.1",
        port=bot_socket.getsockname()[1],
        zzik_config=None,
        zzik_webhook_secret=keys.webhook,
        zzik_public_url=bot_url,
        zzik_job_tick_seconds=1.0,
        zzik_pagerduty_routing_key=keys.pagerduty_routing,
        zzik_pagerduty_events_url=f"{page_url}/pagerduty/enqueue",
        zzik_pagerduty_webhook_secret=keys.pagerduty_webhook,
        zzik_alertmanager_url=f"{page_url}/alertmanager",
        log_format=base.log_format if base else None,
        zzik_socket_mode=False,
        slack_app_token=None,
    )
    for secret in (keys.signing, keys.webhook, keys.pagerduty_webhook, keys.pagerduty_routing):
        log.register_secret(secret)
    if configure_logging:
        log.configure(settings.log_format, level=logging.INFO if verbose else logging.WARNING)
    bot = build(settings, people.config(page_url), db=Database(database_url, max_size=8))
    running = Running(standin, bot, Demo(standin, bot_url, keys))
    try:
        await bot.start()
        for app, sock in ((bot.web, bot_socket), (running.page.app(), page_socket)):
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            running.runners.append(runner)
    except BaseException:
        await running.stop()
        raise
    logger.info("demo serving", page=page_url, bot=bot_url, slack_api_url=standin.url)
    return running
