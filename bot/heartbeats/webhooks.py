"""POST /hooks/heartbeat/<name>: a scheduled job (a backup) reports a run (bot/web/hooks.py receives it:
ZZIK_WEBHOOK_SECRET, 64 KiB).

The body is optional: form fields (`curl -d status=fail -d message=...`) or a JSON object with the same fields.
`status`: ok (the default) or fail; `message`: up to 500 characters, no control characters but tab and newline;
`size`: bytes, a whole number. Any other field is refused (400 naming it), as is a name the config does not know
(404 naming it)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from bot.errors import NotFound
from bot.heartbeats import flows
from bot.services import Services
from bot.web.hooks import Answer, Hook, Refused, shared_secret

LIMIT = 64 * 1024
# What a message may not hold: control characters but tab and newline (a NUL PostgreSQL cannot store), and lone
# surrogates (a JSON "\ud800" is no text).
_UNFIT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


class Report(BaseModel):
    """What a job may say of its run."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    status: Literal["ok", "fail"] = "ok"
    message: str | None = Field(default=None, max_length=500)
    size: int | None = Field(default=None, ge=0, le=2**63 - 1)

    @field_validator("message")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        found = _UNFIT.search(value or "")
        if found is not None:
            where = f"U+{ord(found[0]):04X} at {found.start()}"
            raise PydanticCustomError("unfit_character", f"no control characters but tab and newline ({where})")
        return value


@dataclass(frozen=True)
class Beat:
    name: str
    report: Report


def _fields(body: bytes) -> object:
    """The body as fields: empty, a JSON object, or a form (each field once)."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise Refused(400, f"body: not JSON ({exc})") from None
        except RecursionError:
            raise Refused(400, "body: JSON nested too deep") from None
    try:
        form = parse_qs(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise Refused(400, "body: neither form fields (status=fail&size=123) nor a JSON object") from None
    twice = sorted(k for k, v in form.items() if len(v) > 1)
    if twice:
        raise Refused(400, f"{twice[0]}: given more than once")
    return {k: v[0] for k, v in form.items()}


def parse(params: Mapping[str, str], body: bytes) -> Beat:
    fields = _fields(body)
    if not isinstance(fields, dict):
        raise Refused(400, "body: a JSON object or form fields, not a JSON " + type(fields).__name__)
    return Beat(params.get("name", ""), Report.model_validate(fields))


def receive(services: Services) -> Callable[[Beat], Awaitable[Answer]]:
    async def store(beat: Beat) -> Answer:
        report = beat.report
        try:
            recorded = await flows.record(
                services, beat.name, ok=report.status == "ok", message=report.message, size_bytes=report.size
            )
        except NotFound as exc:
            raise Refused(404, str(exc)) from None
        services.metrics.requests.labels("webhook", HEARTBEAT.name, "stored").inc()
        return Answer(
            {
                "ok": True,
                "name": beat.name,
                "run": recorded.run.id,
                "status": report.status,
                "alerted": recorded.alerted,
                "resolved": recorded.resolved,
            }
        )

    return store


def _unrouted(body: bytes) -> Beat:
    raise Refused(404, "name: say which heartbeat: POST /hooks/heartbeat/<name>")


HEARTBEAT: Hook[Beat] = Hook(
    "/hooks/heartbeat/{name}",
    auth=shared_secret(wrong="unauthorized: send Authorization: Bearer <secret>"),
    parse=_unrouted,
    store=receive,
    limit=LIMIT,
    name="hooks/heartbeat",
    parse_routed=parse,
)
HOOKS = [HEARTBEAT]
