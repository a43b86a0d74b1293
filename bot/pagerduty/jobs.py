"""The PagerDuty domain's durable work: sending the events the incidents owe PagerDuty, and applying a stored
webhook delivery."""

from __future__ import annotations

from bot.jobs import JobRunner, call
from bot.pagerduty import flows, inbound
from bot.services import Services


def register(runner: JobRunner, services: Services) -> None:
    runner.declare(
        services,
        {
            flows.SEND: call(flows.run_send, lambda run: run, lease=flows.SEND_LEASE),
            inbound.WEBHOOK: call(inbound.process, "event_id"),
        },
    )
