"""The one shape every domain registers in: a `Domain` table at the end of its handlers.py, which bot/app.py
mounts (app.py's DOMAINS is the explicit list of them, in order).

- `routes`: the Slack listeners (bot.slack.middleware.Route: command, action, view, shortcut, event).
- `jobs`: `register(runner, services)`, the domain's durable work: `runner.declare(services, {Job.X: call(...)})`
  for one-call jobs, `runner.recurring(...)` for scheduled ones, and `services.events.subscribe(...)` for the
  events of other domains it acts on (bot/events.py).
- `hooks`: the inbound webhooks it receives (bot.web.hooks.Hook, declared in the domain's webhooks.py), mounted
  by the one webhook receiver.
- `web_routes`: `web_routes(web_app, services)` adds plain HTTP pages that are not webhooks (the status domain's
  public status page); an inbound webhook is never one of these, it is a hook.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.slack.middleware import Route
from bot.web.hooks import Hook


@dataclass(frozen=True)
class Domain:
    name: str
    routes: Sequence[Route] = ()
    jobs: Callable[[Any, Any], None] | None = None
    hooks: Sequence[Hook[Any]] = ()
    web_routes: Callable[[Any, Any], None] | None = None  # pages only (status): webhooks are hooks
