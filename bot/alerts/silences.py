"""Alertmanager's API v2 silences: create one for an alert's labels, expire it, read it back."""

from __future__ import annotations

from datetime import datetime

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=5)


class SilenceError(Exception):
    """Alertmanager refused or could not be reached; str() says why."""


def _api(base: str) -> str:
    return base.rstrip("/") + "/api/v2"


async def create(base: str, labels: dict[str, str], starts: datetime, ends: datetime, by: str, comment: str) -> str:
    body = {
        "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in sorted(labels.items())],
        "startsAt": starts.isoformat(),
        "endsAt": ends.isoformat(),
        "createdBy": by,
        "comment": comment,
    }
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.post(_api(base) + "/silences", json=body) as r,
        ):
            if r.status != 200:
                raise SilenceError(f"Alertmanager answered {r.status}: {(await r.text())[:200].strip()}")
            return str((await r.json())["silenceID"])
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SilenceError(f"Alertmanager could not be reached ({type(exc).__name__})") from None


async def expire(base: str, silence_id: str) -> None:
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.delete(_api(base) + f"/silence/{silence_id}") as r,
        ):
            text = await r.text()
            if r.status == 404 or "already expired" in text:
                return  # already gone
            if r.status != 200:
                raise SilenceError(f"Alertmanager answered {r.status}: {text[:200].strip()}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SilenceError(f"Alertmanager could not be reached ({type(exc).__name__})") from None
