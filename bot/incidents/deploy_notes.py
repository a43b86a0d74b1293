"""Incident channels hear of rollbacks: the deploys domain's events (bot/deploys/events.py), subscribed here."""

from __future__ import annotations

from typing import Any

from bot.services import Services


def register(runner: Any, services: Services) -> None:
    """Subscribe to the deploy events the open incidents' channels hear of (called from jobs.register)."""
