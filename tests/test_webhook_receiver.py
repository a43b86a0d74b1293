"""bot/web/hooks.py, the one webhook receiver, on a test-only hook (no database): auth (401 before the body is
read), the size limit (413), parse (400 naming the field), store-then-200, 503 when PostgreSQL is away, a
refusal of the domain's own (its status), and every refusal after the door counted. The real hooks (/hooks/deploy,
/hooks/alertmanager, /hooks/grafana, /hooks/pagerduty) are tested end to end in their domains' test files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import BaseModel, Field, SecretStr

from bot.errors import DatabaseUnavailable
from bot.metrics import Metrics
from bot.web import hooks, signing
from bot.web.hooks import Answer, Hook, Refused

SECRET = "receiver-secret"


class Ping(BaseModel):
    n: int = Field(gt=0)
    note: str = ""


def services(secret: str | None = SECRET) -> Any:
    return SimpleNamespace(
        settings=SimpleNamespace(zzik_webhook_secret=SecretStr(secret) if secret else None), metrics=Metrics()
    )


class Stored:
    """The test hook's store: what it kept, how often it was built, and what it should do instead."""

    def __init__(self) -> None:
        self.kept: list[Ping] = []
        self.built = 0
        self.fail: Exception | None = None

    def __call__(self, services: Any) -> Callable[[Ping], Awaitable[Answer]]:
        self.built += 1

        async def store(ping: Ping) -> Answer:
            if self.fail is not None:
                raise self.fail
            self.kept.append(ping)
            return Answer({"ok": True, "n": ping.n})

        return store


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    runners: list[web.AppRunner] = []

    async def start(services: Any, *declared: Hook[Any]) -> str:
        app = web.Application()
        hooks.mount(app, services, list(declared))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]

    yield start
    for runner in runners:
        await runner.cleanup()


async def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers or {}) as r:
        return r.status, await r.json()


def hook(store: Stored, limit: int = 1024) -> Hook[Ping]:
    return Hook(
        "/hooks/ping",
        hooks.shared_secret(wrong="unauthorized: wrong ping secret"),
        Ping.model_validate_json,
        store,
        limit=limit,
    )


BEARER = {"Authorization": f"Bearer {SECRET}"}


def requests(ours: Any, outcome: str = "bad_request") -> float:
    return ours.metrics.requests.labels("webhook", "hooks/ping", outcome)._value.get()


async def test_a_delivery_is_stored_then_answered(serve: Any) -> None:
    store, ours = Stored(), services()
    url = await serve(ours, hook(store)) + "/hooks/ping"
    assert await post(url, b'{"n": 3}', BEARER) == (200, {"ok": True, "n": 3})
    body = b'{"n": 4, "note": "signed"}'
    assert await post(url, body, signing.signed_headers(SECRET, body)) == (200, {"ok": True, "n": 4})
    assert [p.n for p in store.kept] == [3, 4]
    assert requests(ours) == 0


async def test_auth_refusals_are_401_and_nothing_is_stored(serve: Any) -> None:
    store = Stored()
    url = await serve(services(), hook(store)) + "/hooks/ping"
    body = b'{"n": 1}'
    assert await post(url, body) == (401, {"error": "unauthorized: wrong ping secret"})
    assert (await post(url, body, {"Authorization": "Bearer guessed"}))[0] == 401
    assert (await post(url, body, signing.signed_headers("guessed", body)))[0] == 401
    # A wrong bearer token is refused before the body is read, however large.
    assert (await post(url, b"x" * 4096, {"Authorization": "Bearer guessed"}))[0] == 401
    unset = await serve(services(secret=None), hook(Stored())) + "/hooks/ping"
    assert await post(unset, body, BEARER) == (
        401,
        {"error": "unauthorized: ZZIK_WEBHOOK_SECRET is not set on the bot"},
    )
    assert store.kept == []


async def test_a_body_past_the_limit_is_413_and_counted(serve: Any) -> None:
    store, ours = Stored(), services()
    url = await serve(ours, hook(store, limit=1024)) + "/hooks/ping"
    body = b'{"n": 1, "note": "' + b"x" * 2000 + b'"}'
    assert await post(url, body, BEARER) == (413, {"error": "body: larger than 1024 bytes"})
    assert store.kept == [] and requests(ours) == 1


async def test_a_body_the_model_refuses_is_400_naming_the_field(serve: Any) -> None:
    store, ours = Stored(), services()
    url = await serve(ours, hook(store)) + "/hooks/ping"
    status, answer = await post(url, b'{"n": 0}', BEARER)
    assert status == 400 and answer["error"].startswith("n: Input should be greater than 0")
    status, answer = await post(url, b"not json", BEARER)
    assert status == 400 and answer["error"].startswith("body: Invalid JSON")
    assert store.kept == [] and requests(ours) == 2


async def test_an_unreachable_database_is_503_so_the_sender_retries(serve: Any) -> None:
    store, ours = Stored(), services()
    store.fail = DatabaseUnavailable("down")
    url = await serve(ours, hook(store)) + "/hooks/ping"
    answer = (503, {"error": "not stored: database unavailable, retry later"})
    assert await post(url, b'{"n": 1}', BEARER) == answer
    store.fail = OSError("connection reset")
    assert await post(url, b'{"n": 1}', BEARER) == answer
    assert requests(ours) == 0  # not the sender's fault: not a refusal


async def test_a_refusal_of_the_store_is_answered_with_its_status_and_counted(serve: Any) -> None:
    store, ours = Stored(), services()
    store.fail = Refused(409, "n: already finished")
    url = await serve(ours, hook(store)) + "/hooks/ping"
    assert await post(url, b'{"n": 1}', BEARER) == (409, {"error": "n: already finished"})
    assert requests(ours) == 1


async def test_hooks_declaring_the_same_store_share_one_per_app(serve: Any) -> None:
    store = Stored()
    auth = hooks.shared_secret(wrong="unauthorized")
    first = Hook("/hooks/one", auth, Ping.model_validate_json, store)
    second = Hook("/hooks/two", auth, Ping.model_validate_json, store)
    assert (first.name, second.name) == ("hooks/one", "hooks/two")
    url = await serve(services(), first, second)
    assert (await post(url + "/hooks/one", b'{"n": 1}', BEARER))[0] == 200
    assert (await post(url + "/hooks/two", b'{"n": 2}', BEARER))[0] == 200
    assert store.built == 1 and [p.n for p in store.kept] == [1, 2]
