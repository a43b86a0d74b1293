"""POST /hooks/pagerduty: PagerDuty's v3 webhooks, signed with the subscription's secret. No Slack listeners."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.domain import Domain
from bot.pagerduty import jobs, webhooks
from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    """PagerDuty talks to the bot over its webhook only."""


DOMAIN = Domain(
    "pagerduty",
    jobs=jobs.register,
    register=register,
    hooks=webhooks.HOOKS,
)
