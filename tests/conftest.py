"""The test harness: a real PostgreSQL, a fake Slack over real HTTP, the bot's real HTTP server.

PostgreSQL: TEST_DATABASE_URL, else DATABASE_URL, else an embedded server started once per run (by the
controller when pytest-xdist runs workers: they share it). The migrations run once per session into a template
schema; each test gets its own schema (search_path) cloned from it, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp import web

from bot import migrate, opsconfig
from bot.app import BotApp, build
from bot.clock import FrozenClock
from bot.db import Database
from bot.embedded import EmbeddedPostgres, bin_dir
from bot.fakeslack import FakeSlack, flatten, message_placeholders
from bot.settings import Settings
from tests import slackreq
from tests.fakepagerduty import KEY, FakePagerDuty, running
from tests.pgproxy import PgProxy
from tests.slackreq import SlackRequests

SIGNING_SECRET = "test-signing-secret-8f2c"
BOT_TOKEN = "xoxb-1111-2222-testtokenvalue"
START = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # a Wednesday
# A rotation with daylight saving: week 0 (from Mon 23 Nov 10:00 CET) is alice, bob, mallory (U0MGR).
ROTA = {
    "timezone": "Europe/Berlin",
    "handoff": {"day": "monday", "time": "10:00"},
    "start": "2026-11-23",
    "engineers": ["U0ALICE", "U0BOB", "carol@zzik.example"],
    "managers": ["U0MGR"],
    "remind_before": "30m",
    "usergroup": "S0ONCALL",
    "kit": ["Laptop with VPN access"],
}


def rota_now() -> dict[str, Any]:
    """ROTA with its week 0 holding now, on the wall clock: for a bot in a subprocess, which has no frozen clock."""
    handoff = datetime.now(ZoneInfo(ROTA["timezone"])) - timedelta(hours=10)  # Monday 10:00 is the handoff
    return {**ROTA, "start": handoff.date().isoformat()}


# The embedded server's URL, when this run started one; xdist workers inherit it from the controller.
EMBEDDED_DSN = "ZZIK_TEST_EMBEDDED_DSN"


def _configured_dsn() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or os.environ.get(EMBEDDED_DSN)


@contextlib.contextmanager
def _embedded_postgres() -> Iterator[str]:
    data_dir = Path(tempfile.mkdtemp(prefix="zzik-test-pg-"))
    os.chmod(data_dir, 0o755)  # as root, the server's own account must be able to enter it
    # Several workers share the server, each with a few bots and serve processes: room for their pools.
    server = EmbeddedPostgres(data_dir, options={"max_connections": "400", "fsync": "off"})
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


# Most tests wait on sockets and subprocesses, not the CPU: four workers even on two cores. worksteal: an idle
# worker takes queued tests from a busy one, so the few long tests do not end the run alone.
XDIST_WORKERS = 4


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """pytest-xdist's defaults for this suite, set here rather than in pyproject's addopts: an `-n` there makes
    `-p no:xdist` fail ("unrecognized arguments"). Runs before xdist reads the options; not in its workers."""
    if hasattr(config, "workerinput") or not config.pluginmanager.hasplugin("xdist"):
        return
    if config.option.numprocesses is None:  # no -n given
        config.option.numprocesses = XDIST_WORKERS
    if config.option.dist == "no" and not config.option.distload:  # no --dist given
        config.option.dist = "worksteal"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, the controller starts the one embedded server before the workers exist."""
    is_controller = not hasattr(config, "workerinput") and getattr(config.option, "numprocesses", None)
    if is_controller and not _configured_dsn():
        stack = contextlib.ExitStack()
        os.environ[EMBEDDED_DSN] = stack.enter_context(_embedded_postgres())
        config.add_cleanup(stack.close)
        config.add_cleanup(lambda: os.environ.pop(EMBEDDED_DSN, None))


@pytest.fixture
async def proxy(pg_dsn: str) -> AsyncIterator[PgProxy]:
    """A real TCP proxy in front of PostgreSQL that a test can cut or black-hole: a database outage."""
    p = PgProxy(pg_dsn)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    url = _configured_dsn()
    if url:
        yield url
        return
    with _embedded_postgres() as url:  # a run without workers starts it when a test first needs it
        yield url


@pytest.fixture(scope="session")
def schema_template(pg_dsn: str) -> str:
    """The SQL that makes a migrated schema named TEMPLATE: the real migrations, run once into a scratch
    schema, dumped (tables, indexes, constraints, sequences and the schema_migrations rows)."""
    name = f"zzik_template_{uuid.uuid4().hex[:12]}"

    async def migrated() -> None:
        conn = await asyncpg.connect(pg_dsn)
        await conn.execute(f'CREATE SCHEMA "{name}"')
        await conn.close()
        db = Database(pg_dsn, schema=name, min_size=1, max_size=1)
        try:
            await migrate.migrate(db)
        finally:
            await db.close()

    async def dropped() -> None:
        conn = await asyncpg.connect(pg_dsn)
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        await conn.close()

    asyncio.run(migrated())
    try:
        dump = subprocess.run(
            [str(bin_dir() / "pg_dump"), "--no-owner", "--no-privileges", "--inserts", f"--schema={name}", pg_dsn],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        asyncio.run(dropped())
    # Only the schema's own statements: not psql's meta-commands, nor the session settings of the dump's
    # header (a newer pg_dump sets ones an older server does not know).
    kept = [line for line in dump.splitlines() if not line.startswith(("\\", "SET ", "SELECT pg_catalog.set_config("))]
    return "\n".join(kept).replace(name, TEMPLATE)


TEMPLATE = "zzik_template_schema"


@pytest.fixture
async def schema(pg_dsn: str, schema_template: str) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(pg_dsn)
    async with conn.transaction():
        await conn.execute(schema_template.replace(TEMPLATE, name))
    await conn.close()
    yield name
    conn = await asyncpg.connect(pg_dsn)
    await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
    await conn.close()


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    for uid, name, tz in (
        ("U0ALICE", "alice", "Asia/Seoul"),
        ("U0BOB", "bob", "Europe/Berlin"),
        ("U0CAROL", "carol", "America/New_York"),
        ("U0DAVE", "dave", "UTC"),
        ("U0MGR", "mallory", "Asia/Seoul"),
    ):
        fake.add_user(uid, name, tz=tz, email=f"{name}@zzik.example")
    yield fake
    await fake.stop()


@pytest.fixture(autouse=True)
def no_raw_placeholders(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever a test did, the bot never sent `<placeholder>` in mrkdwn: Slack reads it as a link."""
    fake = request.getfixturevalue("fake_slack") if "fake_slack" in request.fixturenames else None
    slackreq.ANSWERS.clear()
    yield
    seen = fake.placeholders() if fake is not None else []
    for answer in slackreq.ANSWERS:
        body = json.loads(answer)
        if isinstance(body, dict):
            seen += [("ack", p) for p in message_placeholders(body)]
    assert not seen, f"raw <placeholders> in what the bot sent: {seen}"


@pytest.fixture(autouse=True)
def channels_by_id(request: pytest.FixtureRequest) -> Iterator[None]:
    """Whatever a test did, the bot never edited, pinned or managed a channel by its name (or a DM by the user's
    id): Slack refuses those with channel_not_found, and the bot may swallow that where a test does not look."""
    fake = request.getfixturevalue("fake_slack") if "fake_slack" in request.fixturenames else None
    yield
    refused = fake.by_name if fake is not None else []
    assert not refused, f"Slack calls that named a channel where Slack needs its id: {refused}"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


def test_settings(pg_dsn: str, fake: FakeSlack, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake.url,
        "database_url": pg_dsn,
        "zzik_webhook_secret": "test-webhook-secret-77",
        "zzik_public_url": "http://bot.invalid",
        "zzik_slack_retry_backoff_seconds": 0.01,  # retries as in production, without waiting real seconds
    }
    values.update(overrides)
    return Settings(**values)


def config_with(**sections: Any) -> opsconfig.OpsConfig:
    """The built-in config with some sections replaced (as a ZZIK_CONFIG file would)."""
    base = opsconfig.load().model_dump(mode="json")
    base.update(sections)
    return opsconfig.OpsConfig.model_validate(base)


@dataclass
class RunningBot:
    app: BotApp
    url: str
    slack: SlackRequests
    runner: web.AppRunner

    @property
    def services(self) -> Any:
        return self.app.services

    @property
    def db(self) -> Database:
        return self.app.services.db

    async def tick(self) -> int:
        return await self.app.services.jobs.tick()


BotFactory = Callable[..., Awaitable[RunningBot]]


@pytest.fixture
async def make_bot(pg_dsn: str, schema: str, fake_slack: FakeSlack, clock: FrozenClock) -> AsyncIterator[BotFactory]:
    started: list[RunningBot] = []

    async def factory(
        config: opsconfig.OpsConfig | None = None,
        *,
        dsn: str | None = None,
        replica_id: str | None = None,
        **settings: Any,
    ) -> RunningBot:
        s = test_settings(dsn or pg_dsn, fake_slack, **settings)
        db = Database(s.database_url or pg_dsn, schema=schema, min_size=1, max_size=5)
        app = build(s, config or opsconfig.load(), db=db, clock=clock, replica_id=replica_id)
        app.services.slack.timeout = 2
        await app.start(run_scheduler=False)
        runner = web.AppRunner(app.web, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}"
        bot = RunningBot(app, url, SlackRequests(url, SIGNING_SECRET, fake_slack.response_url()), runner)
        started.append(bot)
        return bot

    yield factory
    for bot in started:
        await bot.runner.cleanup()
        await bot.app.stop()


@pytest.fixture
async def pagerduty() -> AsyncIterator[FakePagerDuty]:
    """A fake PagerDuty Events API (and webhook sender) over real HTTP, taking the routing key KEY."""
    async with running(KEY) as fake:
        yield fake


@pytest.fixture
async def bot(make_bot: BotFactory) -> RunningBot:
    return await make_bot()


async def eventually(check: Callable[[], Any], within: float = 15.0) -> Any:
    """Wait for work that continues after the ack (Slack calls made after answering).

    The deadline is generous on purpose: it costs nothing when the condition holds, and on a loaded 2-core
    machine (CI, or several suites at once) work that takes 50 ms when quiet can take seconds.
    """
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def set_up_is_over(bot: RunningBot) -> Callable[[], Any]:
    """A check for eventually(): every incident set-up job has finished (its answers and edits are sent)."""
    return lambda: bot.db.fetchval(
        "SELECT bool_and(status NOT IN ('pending', 'running')) FROM job_runs WHERE job = 'incidents.setup'"
    )


async def handled(bot: RunningBot, name: str, request: Awaitable[Any]) -> Any:
    """Send a request and wait until the bot has finished handling it (not only acked it): the listener wrapper
    writes the request's audit row last, after the handler and all it awaited. `name`: the audit row's action
    (the command, action_id or callback_id). Returns the request's reply."""

    async def rows() -> int:
        return await bot.db.fetchval("SELECT count(*) FROM audit_log WHERE action = $1", name)

    before = await rows()
    reply = await request

    async def more() -> bool:
        return await rows() > before

    await eventually(more)
    return reply


async def ask(
    fake: FakeSlack,
    bot: RunningBot,
    command: str,
    text: str = "",
    *,
    user: str = "U0ALICE",
    channel: str = "C0GENERAL",
    ephemeral: bool = True,
) -> str:
    """Send a slash command; return what the user saw: the ack body, else the first response_url message."""
    before = len(fake.calls_to("response_url"))
    reply = await bot.slack.command(command, text, user=user, channel=channel)
    assert reply.status == 200
    if reply.text:  # answered in the ack itself
        if ephemeral:
            assert reply.json.get("response_type") == "ephemeral", reply.json
        return flatten(reply.json)
    calls = await eventually(lambda: fake.calls_to("response_url")[before:])
    if ephemeral:
        assert calls[0]["response_type"] == "ephemeral", calls[0]
    return flatten(calls[0])
