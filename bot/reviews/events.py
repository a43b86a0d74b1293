"""The reviews domain announces nothing: it reads the other domains' figures when a checklist asks for them."""

from __future__ import annotations
