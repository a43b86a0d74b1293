"""The PagerDuty domain's durable work: sending the events the incidents owe PagerDuty, and applying a stored
webhook delivery."""

from __future__ import annotations

from datetime import timedelta

from bot.jobs import PAGING_RETRY, JobRun, JobRunner, call, cron_next
from bot.pagerduty import alert_pages, flows, inbound, store
from bot.services import Services

PRUNE = "pagerduty.prune_webhooks"
KEEP_WEBHOOKS = timedelta(days=30)  # PagerDuty retries a delivery for 48 h: a month of event ids is plenty


def register(runner: JobRunner, services: Services) -> None:
    alert_pages.register(runner, services)
    runner.declare(
        services,
        {
            # A page: retried within seconds (1, 2, 4, 8, 16 s, then every 30 s), or after PagerDuty's Retry-After.
            flows.SEND: call(flows.run_send, lambda run: run, lease=flows.SEND_LEASE, retry=PAGING_RETRY, urgent=True),
            inbound.WEBHOOK: call(inbound.process, "event_id"),
        },
    )

    @runner.recurring(PRUNE, spec="daily 03:23 UTC", next_due=cron_next("23 3 * * *", "UTC"))
    async def prune(run: JobRun) -> None:
        await store.prune_deliveries(services.db, run.now - KEEP_WEBHOOKS)
