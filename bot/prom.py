"""A small client of Prometheus's HTTP API (instant queries), on one pooled aiohttp session, always bounded."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp

from bot import log

logger = log.get("zzik.prometheus")


class PrometheusError(Exception):
    """Prometheus did not answer, or answered with an error; str() says which, in plain words."""


def duration(value: timedelta) -> str:
    """A PromQL duration: 30d, 6h, 5m, 90s (whole seconds, at least 1s)."""
    seconds = max(1, int(value.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def with_window(query: str, window: timedelta) -> str:
    return query.replace("$window", duration(window))


@dataclass
class Prometheus:
    url: str
    timeout: timedelta
    # The bot's pooled aiohttp session (the Slack client's), when it is open; else one of this client's own.
    shared: Callable[[], aiohttp.ClientSession | None] = lambda: None
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)

    def session(self) -> aiohttp.ClientSession:
        shared = self.shared()
        if shared is not None and not shared.closed:
            return shared
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def value(self, query: str, at: datetime) -> float | None:
        """The first sample of an instant query at `at`; None when there is no data (empty, NaN)."""
        params = {"query": query, "time": f"{at.timestamp():.3f}", "timeout": duration(self.timeout)}
        endpoint = self.url.rstrip("/") + "/api/v1/query"
        seconds = self.timeout.total_seconds()
        try:
            async with asyncio.timeout(seconds):
                async with self.session().post(
                    endpoint, data=params, timeout=aiohttp.ClientTimeout(total=seconds)
                ) as response:
                    try:
                        body = await response.json(content_type=None)
                    except ValueError:
                        raise PrometheusError(f"Prometheus answered HTTP {response.status} without JSON") from None
        except TimeoutError:
            raise PrometheusError(f"Prometheus did not answer within {seconds:g} s") from None
        except aiohttp.ClientError as exc:
            raise PrometheusError(f"Prometheus could not be reached ({type(exc).__name__})") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            logger.warning("prometheus query failed", query=query, error=error)
            raise PrometheusError(f"Prometheus refused the query: {error or 'HTTP ' + str(response.status)}")
        return _first(body.get("data") or {})


def _first(data: dict) -> float | None:
    result = data.get("result")
    kind = data.get("resultType")
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        sample = result
    elif kind == "vector" and result:
        sample = result[0].get("value")
    else:
        return None
    try:
        number = float(sample[1])
    except (TypeError, ValueError, IndexError):
        return None
    return None if math.isnan(number) else number
