"""What the other domains may use of the heartbeats domain's data: the reads. Its records are in models.py; its
store (the SQL) is its own."""

from __future__ import annotations

from bot.heartbeats.flows import standings

__all__ = ["standings"]
