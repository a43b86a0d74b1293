"""Paging the people on call: used by incidents (P1 all hands, acknowledgement escalation)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from bot import log
from bot.oncall.lookup import OnCall, who_is_on_call
from bot.services import Services
from bot.slack.client import SLACK_FAILURES, slack_error

logger = log.get("zzik.paging")


@dataclass
class Paged:
    on_call: OnCall
    paged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # user -> why
    unreachable: list[str] = field(default_factory=list)  # roles nobody holds, or held by an unknown email


async def page(services: Services, *, at: datetime, roles: list[str], text: str) -> Paged:
    """DM each holder of `roles` at `at` (each person once), concurrently. Never raises for Slack failures."""
    on_call = await who_is_on_call(services, at)
    result = Paged(on_call)
    targets: list[str] = []
    for role in roles:
        user = on_call.shift(role).user
        if not user or "@" in user:
            result.unreachable.append(role)
        elif user not in targets:
            targets.append(user)
    outcomes = await asyncio.gather(
        *(services.slack.chat_postMessage(channel=u, text=text) for u in targets), return_exceptions=True
    )
    for user, outcome in zip(targets, outcomes, strict=True):
        if isinstance(outcome, SLACK_FAILURES):
            result.failed[user] = slack_error(outcome)
            logger.warning("page not delivered", user=user, error=result.failed[user])
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            result.paged.append(user)
    return result
