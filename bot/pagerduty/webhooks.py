"""POST /hooks/pagerduty: PagerDuty's v3 webhooks, signed with the subscription's secret (bot/web/hooks.py
receives them: ZZIK_PAGERDUTY_WEBHOOK_SECRET, X-PagerDuty-Signature, 1 MiB)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from bot import log
from bot.pagerduty import inbound
from bot.pagerduty.ids import Job
from bot.pagerduty.payloads import Envelope, EventType, Head, Unreadable, Webhook, read, verify
from bot.services import Services
from bot.web.hooks import Answer, Auth, Hook, Refused

logger = log.get("zzik.pagerduty")
HANDLED = {str(t) for t in EventType}


@dataclass(frozen=True)
class Delivery:
    head: Head  # what every event has
    hook: Webhook | None  # the event, when the bot follows its type
    value: Any  # the body to store


def delivery(body: bytes) -> Delivery:
    """Raises Refused (not JSON the bot can keep) or ValidationError naming the field."""
    try:
        value = read(body)
    except Unreadable as exc:
        raise Refused(400, str(exc)) from None
    head = Envelope.model_validate(value).event
    return Delivery(head, Webhook.model_validate(value) if head.event_type in HANDLED else None, value)


def receive(services: Services) -> Callable[[Delivery], Awaitable[Answer]]:
    applying: set[asyncio.Task[Any]] = set()

    def apply_soon(event_id: str) -> None:
        # The job is committed: this only saves waiting for the next tick (a crash leaves it to the runner).
        task = asyncio.create_task(services.jobs.run_now(Job.WEBHOOK, event_id))
        applying.add(task)
        task.add_done_callback(applying.discard)

    async def store(delivery: Delivery) -> Answer:
        head = delivery.head
        try:
            new = await inbound.receive(services, head, delivery.hook, delivery.value)
        except asyncpg.DataError as exc:
            # What read() lets through, PostgreSQL should take; if it does not, no redelivery will do better.
            logger.error("pagerduty webhook not stored", error=repr(exc))
            raise Refused(400, f"body: not storable ({exc})") from None
        if delivery.hook is None:
            return Answer({"ok": True, "ignored": head.event_type, "event": head.id, "new": new})
        if new:
            apply_soon(head.id)
        return Answer({"ok": True, "event": head.id, "new": new})

    return store


def _signed(headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    return verify(headers.get("X-PagerDuty-Signature", ""), body, secret)


V3_SIGNATURE = Auth(
    secret=lambda settings: settings.zzik_pagerduty_webhook_secret,
    verify=_signed,
    unset="unauthorized: ZZIK_PAGERDUTY_WEBHOOK_SECRET is not set",
    wrong="unauthorized: X-PagerDuty-Signature does not match",
)
HOOKS = [Hook("/hooks/pagerduty", V3_SIGNATURE, delivery, receive)]
