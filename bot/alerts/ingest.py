"""What a webhook delivery becomes before it is stored (pure: bytes in, values out).

PostgreSQL's jsonb refuses what JSON allows and Prometheus sends: a NUL (`\\u0000`, valid in label values), a
lone surrogate, NaN and ±Infinity (Grafana's `values`). Each is made storable here rather than failing the whole
delivery: NUL and lone surrogates become U+FFFD, non-finite numbers are kept as their text ("NaN").

Then each alert is read on its own (payloads.read_alert): an unreadable one is set aside with its reason, its
neighbours go through. The first alerts that fit the limits are admitted (MAX_ALERTS alerts, MAX_STORED bytes
stored); the rest are counted, never silently dropped, and the note the flow records says so in #zzik-alerts.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bot.alerts import payloads
from bot.alerts.payloads import MAX_ALERTS, Unreadable

MAX_STORED = 1024**2  # bytes of one delivery's stored JSON: what one processing transaction takes on
MAX_DEPTH = 32  # an alert is 4 levels deep; anything far deeper is not a delivery
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


class Unstorable(ValueError):
    """The body (or one alert of it) cannot be read or stored: `field: problem`. For the body, a 400."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _finite_or_text(text: str) -> float | str:
    """A JSON number: a float, or its own text when it does not fit one (1e999 would become Infinity)."""
    number = float(text)
    return number if math.isfinite(number) else text


def decode(body: bytes) -> Any:
    """The body as JSON values, numbers that jsonb refuses kept as text, every string of the envelope storable.
    The alerts are cleaned one by one as they are admitted (`admit`): one that cannot be is unreadable alone,
    and those past the limits are never walked."""
    try:
        doc = json.loads(
            body.decode("utf-8", errors="replace"),  # Go's encoder never sends bad UTF-8; a relay might
            parse_constant=str,  # NaN, Infinity, -Infinity: the words themselves
            parse_float=_finite_or_text,
        )
    except RecursionError:
        raise Unstorable(f"body: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise Unstorable(f"body: not JSON ({exc})") from None
    if isinstance(doc, dict) and isinstance(doc.get("alerts"), list):
        return {_clean_text(k): v if k == "alerts" else clean(v, k, 1) for k, v in doc.items()}
    return clean(doc)


def _clean_text(text: str) -> str:
    return _UNSTORABLE.sub(REPLACEMENT, text)


def clean(value: Any, path: str = "body", depth: int = 0) -> Any:
    """`value` with NUL and lone surrogates replaced in every string, keys included."""
    if depth > MAX_DEPTH:
        raise Unstorable(f"{path[:200]}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, dict):
        return {_clean_text(k): clean(v, k if path == "body" else f"{path}.{k}", depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v, f"{path}.{i}", depth + 1) for i, v in enumerate(value)]
    return value


@dataclass
class Admitted:
    """A delivery as it will be stored: its envelope, the alerts let in, and what was left out and why."""

    source: str
    receiver: str
    group_key: str | None
    total: int  # alerts in the delivery as sent
    truncated: int  # alerts the sender itself left out (Alertmanager's max_alerts)
    body: dict[str, Any] | None = None  # what is stored: the envelope with the admitted alerts only
    accepted: int = 0
    unreadable: list[Unreadable] = field(default_factory=list)
    over_limit: int = 0  # alerts past the limits, not read
    limit_reason: str | None = None

    @property
    def noteworthy(self) -> bool:
        """Something of this delivery did not reach #zzik-alerts: a note must say so."""
        return bool(self.unreadable or self.over_limit or self.truncated)

    def counts(self) -> dict[str, Any]:
        """Where it came from, what was let in and what was left out, by name: the warning's fields and the
        note's columns alike."""
        return {
            "receiver": self.receiver,
            "group_key": self.group_key,
            "accepted": self.accepted,
            "unreadable": len(self.unreadable),
            "over_limit": self.over_limit,
            "truncated": self.truncated,
        }

    @property
    def stored_json(self) -> str | None:
        return json.dumps(self.body, ensure_ascii=False) if self.body is not None else None


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def raw_text(value: Any, limit: int) -> str:
    """An alert as received, as storable text (JSON, cut at `limit` characters)."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except RecursionError:
        text = repr(value)
    return _clean_text(text[:limit])


def admit(source: str, doc: Any) -> Admitted:
    """Read a decoded delivery alert by alert. Raises ValidationError when the envelope is unreadable."""
    hook = payloads.ENVELOPES[source].model_validate(doc)
    alerts = hook.alerts
    admitted = Admitted(
        source=source,
        receiver=hook.receiver or "",
        group_key=hook.groupKey or None,
        total=len(alerts),
        truncated=hook.truncatedAlerts or 0,
    )
    kept: list[Any] = []
    room = MAX_STORED - _size({k: v for k, v in doc.items() if k != "alerts"}) - 16
    for position, raw in enumerate(alerts):
        try:
            alert = clean(raw, f"alerts.{position}", 2)
            payloads.read_alert(source, hook, alert)
        except Unstorable as exc:
            admitted.unreadable.append(Unreadable(position, exc.problem, raw))
            continue
        except ValidationError as exc:
            admitted.unreadable.append(Unreadable(position, payloads.problem(exc, f"alerts.{position}"), alert))
            continue
        size = _size(alert) + 2
        if len(kept) >= MAX_ALERTS or size > room:
            admitted.over_limit = len(alerts) - position
            admitted.limit_reason = (
                f"over {MAX_ALERTS:,} alerts" if len(kept) >= MAX_ALERTS else f"over {MAX_STORED // 1024**2} MiB"
            )
            break
        room -= size
        kept.append(alert)
    admitted.accepted = len(kept)
    if kept:
        admitted.body = {**doc, "alerts": kept}
    return admitted
