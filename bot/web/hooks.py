"""The one webhook receiver: every inbound hook (deploy callbacks, Alertmanager, Grafana, PagerDuty …) is a `Hook`
declared in its domain's webhooks.py and carried by its `Domain(hooks=...)`; bot/app.py mounts them all here.

One aiohttp handler does, for each hook, in this order:
1. auth (`Auth`): no secret set on the bot → 401 `… is not set …`; credentials that do not match → 401. Refusals
   at the door are counted and logged by bot/web/refusals.py (zzik_webhook_refusals_total, by route and reason).
2. size limit: a body past `Hook.limit` is refused unread → 413 `body: larger than …`.
3. parse (`Hook.parse`, usually a pydantic model's `model_validate_json`; `Hook.parse_routed` with the path's
   placeholders for a path that has some, /hooks/heartbeat/{name}): a ValidationError → 400 naming the field
   (`deploy_id: Input should be greater than 0`); a `Refused` raised there → its status and error.
4. store-then-answer (`Hook.store`): the domain's handler commits what the delivery means and returns the `Answer`
   (200 and its JSON, or another status it chooses); PostgreSQL unreachable → 503 `not stored: …`, so the sender
   retries; a `Refused` raised there → its status and error.
Every refusal after the door (400, 413) is counted (zzik_requests_total{kind="webhook",outcome="bad_request"}) and
logged with the route and the error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aiohttp import web
from pydantic import SecretStr, ValidationError

from bot import log
from bot.errors import DatabaseUnavailable
from bot.web import signing

if TYPE_CHECKING:
    from bot.services import Services
    from bot.settings import Settings

logger = log.get("zzik.web")

MiB = 1024**2
CHUNK = 64 * 1024
T = TypeVar("T")


class Refused(Exception):
    """A delivery the sender cannot fix by sending it again: answered `status` with `{"error": error}`."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


@dataclass(frozen=True)
class Answer:
    """What the receiver answers once the delivery is stored."""

    body: Mapping[str, Any]
    status: int = 200


@dataclass(frozen=True)
class Auth:
    """An auth scheme: where the secret is set, how the credentials are checked, what a refusal says."""

    secret: Callable[[Settings], SecretStr | None]
    verify: Callable[[Mapping[str, str], bytes, str], bool]
    unset: str  # the 401's error when the bot has no secret: every sender is refused
    wrong: str  # the 401's error when the credentials do not match
    # Checked before reading the body, so that nobody may make the bot read a body it would refuse anyway.
    before_body: Callable[[Mapping[str, str], str], bool] | None = None


def shared_secret(wrong: str) -> Auth:
    """ZZIK_WEBHOOK_SECRET (bot/web/signing.py): `Authorization: Bearer <secret>` or an HMAC signature of the
    body in X-Zzik-Signature / X-Zzik-Timestamp. A bearer token is checked before the body is read."""

    def before_body(headers: Mapping[str, str], secret: str) -> bool:
        bearer = headers.get("Authorization", "").startswith("Bearer ")
        return not bearer or signing.verify(headers, b"", secret)

    return Auth(
        secret=lambda settings: settings.zzik_webhook_secret,
        verify=signing.verify,
        unset="unauthorized: ZZIK_WEBHOOK_SECRET is not set on the bot",
        wrong=wrong,
        before_body=before_body,
    )


# A hook's handler, built once per app at mount (it may keep what the app's life needs: a task set, a kick);
# hooks that declare the same one share it.
Store = Callable[["Services"], Callable[[T], Awaitable[Answer]]]


@dataclass(frozen=True)
class Hook(Generic[T]):
    """One inbound webhook: `POST path`."""

    path: str  # "/hooks/deploy"
    auth: Auth
    parse: Callable[[bytes], T]  # the body as the pydantic model (raises ValidationError or Refused)
    store: Store[T]  # (services) -> (parsed) -> Answer, after the commit; raises Refused or DatabaseUnavailable
    limit: int = MiB  # bytes: a larger body is refused (413) without reading it whole
    name: str = field(default="")  # the metric and audit name: "hooks/deploy" (the path without its slash)
    # A path with {placeholders} ("/hooks/heartbeat/{name}"): parsed by `parse_routed(placeholders, body)` instead.
    parse_routed: Callable[[Mapping[str, str], bytes], T] | None = None

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.path.lstrip("/"))


def mount(web_app: web.Application, services: Services, hooks: Sequence[Hook[Any]]) -> None:
    built: dict[Store[Any], Callable[[Any], Awaitable[Answer]]] = {}
    for hook in hooks:
        if hook.store not in built:
            built[hook.store] = hook.store(services)
        web_app.router.add_post(hook.path, receiver(hook, services, built[hook.store]))


def receiver(
    hook: Hook[T], services: Services, store: Callable[[T], Awaitable[Answer]]
) -> Callable[[web.Request], Awaitable[web.Response]]:

    async def receive(request: web.Request) -> web.Response:
        secret = hook.auth.secret(services.settings)
        if secret is None:
            return _error(401, hook.auth.unset)
        key = secret.get_secret_value()
        if hook.auth.before_body is not None and not hook.auth.before_body(request.headers, key):
            return _error(401, hook.auth.wrong)
        try:
            body = await read(request, hook.limit)
            if not hook.auth.verify(request.headers, body, key):
                return _error(401, hook.auth.wrong)
            try:
                parsed = hook.parse_routed(request.match_info, body) if hook.parse_routed else hook.parse(body)
            except ValidationError as exc:
                raise Refused(400, field_error(exc)) from None
            try:
                answer = await store(parsed)
            except (DatabaseUnavailable, OSError) as exc:
                logger.error("webhook not stored", route=hook.path, error=repr(exc))
                return _error(503, "not stored: database unavailable, retry later")
        except Refused as refused:
            services.metrics.requests.labels("webhook", hook.name, "bad_request").inc()
            logger.warning("webhook delivery refused", route=hook.path, status=refused.status, error=refused.error)
            return _error(refused.status, refused.error)
        return web.json_response(dict(answer.body), status=answer.status)

    return receive


async def read(request: web.Request, limit: int) -> bytes:
    """The body, up to `limit` bytes (past the web app's client_max_size if the hook allows more). Raises
    Refused(413) when it is larger: never read whole."""
    too_large = Refused(413, f"body: larger than {_size(limit)}")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def field_error(exc: ValidationError) -> str:
    """The first validation error as `field: what is wrong` (fields joined with dots; `body` for the whole)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


def _size(limit: int) -> str:
    return f"{limit // MiB} MiB" if limit % MiB == 0 else f"{limit} bytes"


def _error(status: int, error: str) -> web.Response:
    return web.json_response({"error": error}, status=status)
