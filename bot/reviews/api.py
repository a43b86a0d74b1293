"""What the other domains may use of the reviews domain: nothing yet (it only posts, in checklists' threads)."""

from __future__ import annotations

__all__: list[str] = []
