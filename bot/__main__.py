"""zzik-bot serve | migrate | check-config FILE | rules"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from aiohttp import web

from bot import log, opsconfig
from bot.errors import DatabaseUnavailable
from bot.settings import Settings, SettingsError, load_settings


def _fail(message: str, code: int = 2) -> int:
    print(f"zzik-bot: {message}", file=sys.stderr)
    return code


def _configure(settings: Settings) -> opsconfig.OpsConfig:
    config = opsconfig.load(settings.zzik_config)
    log.configure(
        settings.log_format,
        secrets=[
            settings.slack_bot_token.get_secret_value(),
            settings.slack_signing_secret.get_secret_value(),
            *(s.get_secret_value() for s in (settings.slack_app_token, settings.zzik_webhook_secret) if s),
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


async def _serve(settings: Settings, config: opsconfig.OpsConfig, socket_mode: bool) -> int:
    from bot.app import build

    logger = log.get("zzik")
    bot = build(settings, config)
    try:
        await bot.start()
    except DatabaseUnavailable as exc:
        return _fail(str(exc), 1)
    runner = web.AppRunner(bot.web, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    logger.info(
        "serving",
        host=settings.host,
        port=settings.port,
        socket_mode=socket_mode,
        slack_api_url=settings.slack_api_url,
        replica=bot.services.replica_id,
    )
    socket_handler = None
    if socket_mode:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        assert settings.slack_app_token is not None
        socket_handler = AsyncSocketModeHandler(bot.bolt, settings.slack_app_token.get_secret_value())
        await socket_handler.connect_async()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info("stopping")
    if socket_handler is not None:
        await socket_handler.close_async()
    await runner.cleanup()
    await bot.stop()
    return 0


async def _migrate(settings: Settings) -> int:
    from bot.app import database_for
    from bot.migrate import migrate

    db = database_for(settings)
    try:
        await db.open()
        applied = await migrate(db)
    except DatabaseUnavailable as exc:
        return _fail(str(exc), 1)
    finally:
        await db.close()
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none needed'}")
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
    print(f"{path}: ok")
    return 0


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
    parser = argparse.ArgumentParser(prog="zzik-bot", description="ZZIK Ops Bot")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="serve Slack over HTTP (and Socket Mode with --socket-mode)")
    serve.add_argument("--socket-mode", action="store_true", help="also connect over Socket Mode (SLACK_APP_TOKEN)")
    sub.add_parser("migrate", help="apply database migrations")
    check = sub.add_parser("check-config", help="validate an ops config file")
    check.add_argument("file")
    rules = sub.add_parser("rules", help="print the Prometheus rules file for the ops config")
    rules.add_argument("config", nargs="?", help="an ops config file (default: ZZIK_CONFIG, else the built-in)")
    args = parser.parse_args(argv)

    if args.cmd == "check-config":
        return _check_config(args.file)
    if args.cmd == "rules":
        return _rules(args.config)
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _fail(str(exc))
    if args.cmd == "serve" and args.socket_mode and settings.slack_app_token is None:
        return _fail("SLACK_APP_TOKEN is not set (needed for --socket-mode)")
    try:
        config = _configure(settings)
    except opsconfig.ConfigError as exc:
        return _fail("ZZIK_CONFIG is invalid:\n" + str(exc))
    if args.cmd == "migrate":
        return asyncio.run(_migrate(settings))
    return asyncio.run(_serve(settings, config, args.socket_mode))


if __name__ == "__main__":
    sys.exit(main())
