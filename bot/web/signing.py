"""Shared-secret authentication of webhooks, both directions: HMAC-SHA256 over "v0:<timestamp>:<body>"
(Slack's scheme) in X-Zzik-Signature / X-Zzik-Timestamp, or `Authorization: Bearer <secret>`."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

MAX_SKEW = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    return {"X-Zzik-Timestamp": timestamp, "X-Zzik-Signature": signature(secret, timestamp, body)}


def verify(headers: Mapping[str, str], body: bytes, secret: str | None, now: float | None = None) -> bool:
    if not secret:
        return False
    auth = headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return hmac.compare_digest(auth.removeprefix("Bearer ").strip().encode(), secret.encode())
    timestamp, given = headers.get("X-Zzik-Timestamp", ""), headers.get("X-Zzik-Signature", "")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) < 16) or not given:
        return False
    if abs((now if now is not None else time.time()) - int(timestamp)) > MAX_SKEW:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body).encode(), given.encode())
