"""The PagerDuty domain's job names (stored with every run: the values never change)."""

from enum import StrEnum


class Job(StrEnum):
    SEND = "pagerduty.send"  # send an incident's (or a paged alert's) unsent events, in order
    WEBHOOK = "pagerduty.webhook"  # apply a stored webhook delivery
    PRUNE = "pagerduty.prune_webhooks"
    # The incidents' events PagerDuty subscribes to (bot/incidents/events.py)
    INCIDENT_DECLARED = "pagerduty.incident_declared"
    INCIDENT_ACKNOWLEDGED = "pagerduty.incident_acknowledged"
    SEVERITY_CHANGED = "pagerduty.severity_changed"
    INCIDENT_RESOLVED = "pagerduty.incident_resolved"
