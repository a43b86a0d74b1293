"""What the other domains may use of the alerts domain's data: the reads, and `submit` for the alerts the bot
raises itself. Its records are in models.py; its store (the SQL) is its own. A domain that needs more of it adds
it here, in the alerts domain's words."""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from bot.alerts import store
from bot.alerts.ids import Job, Source, Status
from bot.alerts.store import by_rule_between, get, pages_sent
from bot.services import Services

__all__ = ["by_rule_between", "get", "pages_sent", "process_now", "submit"]


async def submit(
    services: Services,
    conn: asyncpg.Connection,
    *,
    source: Source,
    key: str,
    firing: bool,
    starts_at: datetime,
    labels: dict[str, str],
    annotations: dict[str, str],
) -> int:
    """An alert the bot raises itself (a heartbeat late or failed), stored in the caller's transaction as an
    internal delivery in Alertmanager's format, and processed as Alertmanager's are: posted in the alerts channel,
    priority from the `alerts:` table or the `priority` label, paged and escalated by it. `key` is the alert's
    identity (its fingerprint and group): the same key is the same alert, threaded; one episode is (key,
    starts_at), so resolve it (`firing=False`) with the starts_at it fired with. Returns the delivery's id: run it
    after the commit with `process_now` (else the job runner's next pass does)."""
    now = services.clock.now()
    alert = {
        "status": Status.FIRING if firing else Status.RESOLVED,
        "labels": labels,
        "annotations": annotations,
        "startsAt": starts_at.isoformat(),
        "endsAt": None if firing else now.isoformat(),
        "fingerprint": key,
        "generatorURL": "",
    }
    body = {
        "version": "4",
        "groupKey": key,
        "status": alert["status"],
        "receiver": "zzik-bot",
        "groupLabels": {"alertname": labels.get("alertname", "")},
        "alerts": [alert],
    }
    delivery_id = await store.add_delivery(conn, source, now, key, 1, json.dumps(body))
    await services.jobs.schedule_once(conn, Job.PROCESS, str(delivery_id), now, {"delivery_id": delivery_id})
    return delivery_id


async def process_now(services: Services, delivery_id: int) -> None:
    """Process a submitted delivery here and now (after its commit); a pass elsewhere may have got to it first."""
    await services.jobs.run_now(Job.PROCESS, str(delivery_id))
