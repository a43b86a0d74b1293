"""What the other domains may use of the runbooks domain: the recovery runbook an alert suggests."""

from __future__ import annotations

from bot.runbooks.recovery import for_alert as recovery_for_alert

__all__ = ["recovery_for_alert"]
