"""The one shape every domain registers in: a `Domain` table at the end of its handlers.py, which bot/app.py
mounts (app.py's DOMAINS is the explicit list of them, in order).

- `routes`: the Slack listeners (bot.slack.middleware.Route: command, action, view, shortcut, event).
- `jobs`: `register(runner, services)`, the domain's durable work: `runner.declare(services, {Job.X: call(...)})`
  for one-call jobs, `runner.recurring(...)` for scheduled ones, and `services.events.subscribe(...)` for the
  events of other domains it acts on (bot/events.py).
- `hooks`: the inbound webhooks it receives (bot.web.hooks.Hook), mounted by the one webhook receiver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.slack.middleware import Route


@dataclass(frozen=True)
class Domain:
    name: str
    routes: Sequence[Route] = ()
    jobs: Callable[[Any, Any], None] | None = None
    hooks: Sequence[Any] = ()
    # Until a domain's handlers are a ROUTES table and its webhooks are hooks: its old register functions.
    register: Callable[[Any, Any], None] | None = None
    web_routes: Callable[[Any, Any], None] | None = None
