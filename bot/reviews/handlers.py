"""Reviews: no command of its own; the figures follow the weekly and monthly checklists (bot/reviews/jobs.py)."""

from __future__ import annotations

from bot.domain import Domain
from bot.reviews import jobs
from bot.slack.middleware import Route

ROUTES: list[Route] = []

DOMAIN = Domain("reviews", routes=ROUTES, jobs=jobs.register)
