"""PagerDuty has no Slack listeners: it talks to the bot over its v3 webhook (webhooks.py, /hooks/pagerduty)."""

from __future__ import annotations

from bot.domain import Domain
from bot.pagerduty import jobs, webhooks
from bot.slack.middleware import Route

ROUTES: list[Route] = []

DOMAIN = Domain("pagerduty", routes=ROUTES, jobs=jobs.register, hooks=webhooks.HOOKS)
