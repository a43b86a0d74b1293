"""zzik-bot serve | migrate | check-config FILE | rules [FILE] | backup FILE | restore FILE | demo [--port N]

Every failure a person can fix ends the process with one line naming the setting, and exit status 2:
settings, the ops config, DATABASE_URL's database/role/password, PORT, ZZIK_DATA_DIR, a token Slack refuses.
An outage (database unreachable for 30 s) exits 1. SIGTERM and SIGINT stop the process cleanly from the
first moment: the embedded PostgreSQL is never left running by a process that was asked to stop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from bot import log, opsconfig
from bot.errors import DatabaseMisconfigured, DatabaseUnavailable, MigrationError
from bot.settings import Settings, SettingsError, load_settings


class Fatal(Exception):
    """A problem a person must fix: one line, exit status 2 (or the given one)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class _Stopped(BaseException):
    """SIGTERM/SIGINT before the event loop runs: unwinds the start-up, which holds nothing yet."""


def _fail(message: str, code: int = 2) -> int:
    print(f"zzik-bot: {message}", file=sys.stderr)
    return code


# What stops `serve` or `migrate` before it is under way, each said in one line with its exit status.
# On stop, how long a Slack request in flight may take to be answered: Slack itself waits no longer than 3 s.
REQUESTS_GRACE = 3.0

_STARTUP_ERRORS = (DatabaseMisconfigured, DatabaseUnavailable, MigrationError, Fatal)


def _fail_startup(exc: Exception) -> int:
    if isinstance(exc, DatabaseMisconfigured):
        return _fail(str(exc))  # the URL is wrong: 2, like every setting a person must fix
    if isinstance(exc, DatabaseUnavailable):
        return _fail(f"DATABASE_URL: {exc}", 1)
    return _fail(str(exc), exc.code if isinstance(exc, Fatal) else 1)


def _raise_stopped(signum: int, frame: Any) -> None:
    raise _Stopped


def _configure(settings: Settings) -> opsconfig.OpsConfig:
    config = opsconfig.load(settings.zzik_config)
    log.configure(
        settings.log_format,
        secrets=[
            s.get_secret_value()
            for s in (
                settings.slack_bot_token,
                settings.slack_signing_secret,
                settings.slack_app_token,
                settings.zzik_webhook_secret,
            )
            if s
        ],
    )
    for warning in config.warnings():
        log.get("zzik.config").warning(warning)
    if config.deploy.webhook_url and settings.zzik_webhook_secret is None:
        log.get("zzik.config").warning(
            "deploy.webhook_url is set but ZZIK_WEBHOOK_SECRET is not: pipeline calls go unsigned and "
            "/hooks/deploy refuses every report"
        )
    return config


def _bind(settings: Settings) -> socket.socket:
    """The HTTP socket, bound and listening before any work starts, so a taken port costs nothing."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            settings.host or None, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise Fatal(f"HOST {settings.host} cannot be resolved: {exc.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise Fatal(f"PORT {settings.port} is already in use on {settings.host}") from None
        raise Fatal(f"PORT {settings.port} on HOST {settings.host} cannot be used: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


class _Lifetime:
    """Signals from the first moment of the event loop, and cancellation only where it is safe."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.fatal: str | None = None
        self._main = asyncio.current_task()
        self._cancellable = True
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)

    def request_stop(self, fatal: str | None = None) -> None:
        if self.stop.is_set():
            return
        self.fatal = fatal
        self.stop.set()
        if self._cancellable and self._main is not None:
            self._main.cancel()

    @contextlib.asynccontextmanager
    async def uninterrupted(self) -> AsyncIterator[None]:
        """Starting the embedded server is not cut in half (half-started, it would outlive us)."""
        self._cancellable = False
        try:
            yield
        finally:
            self._cancellable = True
        if self.stop.is_set():
            raise asyncio.CancelledError

    def waiting(self) -> None:
        self._cancellable = False  # from here the stop event is awaited; nothing needs cancelling


def _uncancel() -> None:
    """A stop asked for by a signal was delivered as a cancellation; the clean-up that follows must run."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


@contextlib.asynccontextmanager
async def _database_url(settings: Settings, life: _Lifetime) -> AsyncIterator[str]:
    """DATABASE_URL, or the embedded server's URL while it runs (it is left, and stopped if last, after)."""
    if settings.database_url:
        yield settings.database_url
        return
    from bot.embedded import EmbeddedError, EmbeddedPostgres

    try:
        server = EmbeddedPostgres(settings.data_dir)
    except EmbeddedError as exc:
        raise Fatal(str(exc)) from None
    try:
        async with life.uninterrupted():
            try:
                url = await asyncio.to_thread(server.start)
            except EmbeddedError as exc:
                raise Fatal(str(exc)) from None
        yield url
    finally:
        await asyncio.to_thread(server.stop)


async def _check_bot_token(settings: Settings) -> None:
    """auth.test: a token Slack refuses stops the start; Slack out of reach is only a warning."""
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.slack.failures import TOKEN_REFUSED  # auth.test errors that mean the token will never work

    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    client = AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=10)
    try:
        await client.auth_test()
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = str(data.get("error") or f"HTTP {exc.response.status_code}")
        if error in TOKEN_REFUSED:
            raise Fatal(f"SLACK_BOT_TOKEN was refused by Slack ({error}): copy the bot token again") from None
        log.get("zzik").warning("could not check SLACK_BOT_TOKEN with auth.test; starting anyway", error=error)
    except (OSError, TimeoutError) as exc:
        log.get("zzik").warning(
            "Slack could not be reached to check SLACK_BOT_TOKEN; starting anyway",
            slack_api_url=settings.slack_api_url,
            error=type(exc).__name__,
        )


async def _serve(settings: Settings, config: opsconfig.OpsConfig, sock: socket.socket, socket_mode: bool) -> int:
    life = _Lifetime()

    async def serve() -> None:
        await _check_bot_token(settings)
        async with _database_url(settings, life) as url:
            await _serve_until_stopped(settings, config, url, sock, socket_mode, life)

    code = await _until_stopped(serve, sock, life)
    if code is None and life.fatal:
        return _fail(life.fatal)
    return code or 0


async def _until_stopped(serve: Callable[[], Awaitable[None]], sock: socket.socket, life: _Lifetime) -> int | None:
    """Run `serve` until it returns or a stop is asked for (None), or a startup error is told (its exit code)."""
    try:
        await serve()
    except asyncio.CancelledError:
        if not life.stop.is_set():
            raise
        _uncancel()
    except _STARTUP_ERRORS as exc:
        return _fail_startup(exc)
    finally:
        sock.close()
    return None


async def _serve_until_stopped(
    settings: Settings, config: opsconfig.OpsConfig, url: str, sock: socket.socket, socket_mode: bool, life: _Lifetime
) -> None:
    """Start the bot on `sock` (and Socket Mode), serve until asked to stop, then stop what was started."""
    from bot.app import STOP_GRACE, build
    from bot.db import Database
    from bot.slack.socketmode import SocketMode

    logger = log.get("zzik")
    runner: web.AppRunner | None = None
    handler: SocketMode | None = None
    bot = None
    try:
        bot = build(settings, config, db=Database(url, max_size=settings.zzik_db_pool_size))
        await bot.start()
        # On stop: no new connections; requests in flight get up to a Slack ack's time to be answered.
        runner = web.AppRunner(bot.web, access_log=None, shutdown_timeout=REQUESTS_GRACE)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        if socket_mode and settings.slack_app_token is not None:  # checked in _main
            handler = SocketMode(bot.bolt, settings.slack_app_token.get_secret_value(), on_fatal=life.request_stop)
            bot.services.socket_mode = handler
            await handler.connect_async()
        logger.info(
            "serving",
            host=settings.host,
            port=settings.port,
            socket_mode=socket_mode,
            slack_api_url=settings.slack_api_url,
            replica=bot.services.replica_id,
        )
        life.waiting()
        await life.stop.wait()
    except asyncio.CancelledError:
        if not life.stop.is_set():
            raise
        _uncancel()
    finally:
        # A rolling restart: stop taking requests, let those in flight and the handlers and job runs they
        # started finish (STOP_GRACE in all), then close the pool. Whatever was acked is then also answered.
        logger.info("stopping")
        stopping = asyncio.get_running_loop().time()
        if handler is not None:
            await handler.close_async()
        if runner is not None:
            await runner.cleanup()
        if bot is not None:
            left = STOP_GRACE - (asyncio.get_running_loop().time() - stopping)
            await bot.stop(max(left, 1.0))
        logger.info("stopped")


async def _migrate(settings: Settings) -> int:
    from bot.db import Database
    from bot.migrate import migrate

    life = _Lifetime()
    try:
        async with _database_url(settings, life) as url:
            db = Database(url, min_size=1, max_size=2)
            try:
                await db.open()
                applied = await migrate(db)
            finally:
                await db.close()
    except asyncio.CancelledError:
        if not life.stop.is_set():
            raise
        _uncancel()
        return _fail("stopped before the migrations were done (each one is applied whole or not at all)", 1)
    except _STARTUP_ERRORS as exc:
        return _fail_startup(exc)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none needed'}")
    return 0


async def _backup_or_restore(settings: Settings, what: str, file: Path) -> int:
    from bot.backup import BackupError, backup, restore

    life = _Lifetime()
    try:
        async with _database_url(settings, life) as url:
            await asyncio.to_thread(backup if what == "backup" else restore, url, file)
    except asyncio.CancelledError:
        if not life.stop.is_set():
            raise
        _uncancel()
        return _fail(f"stopped: the {what} was not finished", 1)
    except BackupError as exc:
        return _fail(str(exc), 1)
    except Fatal as exc:
        return _fail(str(exc), exc.code)
    print(f"backed up to {file}" if what == "backup" else f"restored from {file}")
    return 0


def _check_config(path: str) -> int:
    try:
        config = opsconfig.load(path)
    except opsconfig.ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    for warning in config.warnings():
        print(f"warning: {warning}")
    _print_unmeasured(config)
    print(f"{path}: ok")
    # What the file sets, as the bot will use it: a section merges field by field over the built-in one.
    values = opsconfig.effective(path, config)
    if values:
        print("effective values of what it sets (the rest is the built-in ZZIK LIVE manual):")
        for field, value in values:
            print(f"  {field}: {value}")
    return 0


def _print_unmeasured(config: opsconfig.OpsConfig) -> None:
    """The SLOs /slo and the monthly report will show as "not measured", and why."""
    from bot.slo.measure import unmeasured

    missing = unmeasured(config.slos, config.prometheus)
    if missing:
        print("SLOs not measured:")
        for name, why in missing:
            print(f"  {name}: {why}")


def _rules(path: str | None) -> int:
    """The Prometheus rules file for the config (ZZIK_CONFIG, or the file given); no Slack or database needed."""
    from bot.slo.rules import rules_file

    try:
        config = opsconfig.load(path or os.environ.get("ZZIK_CONFIG") or None)
    except opsconfig.ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    sys.stdout.write(rules_file(config))
    return 0


def main(argv: list[str] | None = None) -> int:
    # From the first moment: a SIGTERM during start-up ends it cleanly instead of killing the process.
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _main(argv)
    except _Stopped:
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="zzik-bot", description="ZZIK Ops Bot")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="serve Slack over HTTP (and Socket Mode with --socket-mode)")
    serve.add_argument(
        "--socket-mode",
        action="store_true",
        help="also connect over Socket Mode (SLACK_APP_TOKEN; or ZZIK_SOCKET_MODE=1)",
    )
    sub.add_parser("migrate", help="apply database migrations (needs no Slack secrets)")
    check = sub.add_parser("check-config", help="validate an ops config file")
    check.add_argument("file")
    rules = sub.add_parser("rules", help="print the Prometheus rules file for the ops config")
    rules.add_argument("config", nargs="?", help="an ops config file (default: ZZIK_CONFIG, else the built-in)")
    for name, what in (("backup", "write the bot's database to FILE"), ("restore", "replace it with FILE")):
        sub.add_parser(name, help=f"{what} (pg_dump's custom format; embedded or DATABASE_URL)").add_argument("file")
    demo = sub.add_parser("demo", help="the whole bot in a browser, with a Slack stand-in (no Slack settings needed)")
    demo.add_argument(
        "--port", type=_port, default=DEMO_PORT, help=f"the page's port on 127.0.0.1 (default {DEMO_PORT})"
    )
    demo.add_argument("--verbose", action="store_true", help="also the bot's info log lines (default: warnings only)")
    args = parser.parse_args(argv)

    if args.cmd == "check-config":
        return _check_config(args.file)
    if args.cmd == "rules":
        return _rules(args.config)
    if args.cmd == "demo":
        return _demo(args.port, verbose=args.verbose)
    try:
        settings = load_settings()
        if args.cmd == "serve":
            settings.require_slack()
    except SettingsError as exc:
        return _fail(str(exc))
    socket_mode = args.cmd == "serve" and (args.socket_mode or settings.zzik_socket_mode)
    if socket_mode and settings.slack_app_token is None:
        asked = "--socket-mode" if args.socket_mode else "ZZIK_SOCKET_MODE"
        return _fail(f"SLACK_APP_TOKEN is not set (needed for {asked})")
    try:
        config = _configure(settings)
    except opsconfig.ConfigError as exc:
        return _fail("ZZIK_CONFIG is invalid:\n" + str(exc))
    if args.cmd == "migrate":
        return _run(lambda: _migrate(settings))
    if args.cmd in ("backup", "restore"):
        return _run(lambda: _backup_or_restore(settings, args.cmd, Path(args.file).absolute()))
    try:
        sock = _bind(settings)
    except Fatal as exc:
        return _fail(str(exc), exc.code)
    return _run(lambda: _serve(settings, config, sock, socket_mode))


DEMO_PORT = 8000


def _port(text: str) -> int:
    """--port: a TCP port number (0: any free one)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535)")
    return port


def _demo(port: int, *, verbose: bool = False) -> int:
    """`zzik-bot demo`: the bot, a Slack stand-in and its page on 127.0.0.1 (bot/demo/run.py)."""
    from bot.demo.run import loopback_socket

    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc))
    try:
        sock = loopback_socket(port)
    except OSError as exc:
        return _fail(f"--port {port} cannot be used on 127.0.0.1: {exc.strerror}")
    return _run(lambda: _serve_demo(settings, sock, verbose=verbose))


async def _serve_demo(settings: Settings, sock: socket.socket, *, verbose: bool = False) -> int:
    from bot.demo import run

    life = _Lifetime()
    own = os.environ.get("ZZIK_DEMO_DATABASE_URL") or None
    # Never DATABASE_URL: the given demo database, else an embedded server of the demo's own.
    demo_settings = settings.model_copy(update={"database_url": own, "zzik_data_dir": settings.data_dir / "demo"})

    async def serve() -> None:
        async with _database_url(demo_settings, life) as url:
            database = own or await run.fresh_database(url, sock.getsockname()[1])
            running = await run.start(database, sock, settings, verbose=verbose)
            try:
                print(
                    f"ZZIK Ops Bot demo: open http://127.0.0.1:{sock.getsockname()[1]}/ (Ctrl-C stops it)", flush=True
                )
                life.waiting()
                await life.stop.wait()
            finally:
                await running.stop()

    return await _until_stopped(serve, sock, life) or 0


def _run(command: Callable[[], Any]) -> int:
    # The event loop installs its own signal handlers; until it does, and after, ours stay in place.
    signal.signal(signal.SIGTERM, _raise_stopped)
    result = asyncio.run(command())
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the loop has closed; nothing is left to interrupt
    return result


if __name__ == "__main__":
    sys.exit(main())
