"""The PagerDuty domain's durable work: sending the events the incidents owe PagerDuty, and applying a stored
webhook delivery."""

from __future__ import annotations

from bot.jobs import JobRun, JobRunner
from bot.pagerduty import flows, inbound
from bot.services import Services


def register(runner: JobRunner, services: Services) -> None:
    @runner.handler(flows.SEND, lease=flows.SEND_LEASE)
    async def send(run: JobRun) -> None:
        await flows.run_send(services, run)

    @runner.handler(inbound.WEBHOOK)
    async def webhook(run: JobRun) -> None:
        await inbound.process(services, run.payload["event_id"])
