"""What the incident channel and the timeline say about what happened in PagerDuty (pure; text from webhooks is
raw and escaped once here)."""

from __future__ import annotations

from bot.incidents.models import Incident
from bot.pagerduty.payloads import Event, Reference
from bot.slack.text import escape, mention


def who(agent: Reference | None) -> str:
    """The PagerDuty user (or integration) that did it, as plain words; escaped."""
    return escape(agent.summary) if agent is not None and agent.summary else "PagerDuty"


def _where(event: Event) -> str:
    url = event.data.html_url
    number = f"#{event.data.number}" if event.data.number is not None else event.data.id
    return f"<{escape(url)}|PagerDuty {escape(number)}>" if url else f"PagerDuty {escape(number)}"


def _assignees(event: Event) -> str:
    names = [escape(a.summary) for a in event.data.assignees if a.summary]
    return ", ".join(names) or "nobody yet"


def acknowledged_note(event: Event) -> str:
    return f"acknowledged in PagerDuty by {who(event.agent)}"


def resolved_summary(event: Event) -> str:
    merged = event.data.merged_into
    into = f": merged into {escape(merged.summary or merged.id)}" if merged is not None else ""
    return f"resolved in PagerDuty by {who(event.agent)}{into}"


def resolve_asked(incident: Incident, event: Event, rule: str) -> str:
    return (
        f":pager: {who(event.agent)} resolved {incident.ref} in {_where(event)}; the incident stays open here: "
        f"{rule} {mention(incident.commander)}, once the fix is deployed, verified and watched for recurrence "
        "(the manual's *Resolution*), resolve it with `/incident resolve [summary]`."
    )


def resolve_asked_note(event: Event) -> str:
    return f"resolved in PagerDuty by {who(event.agent)}; the commander was asked to resolve it here"


def escalated(incident: Incident, event: Event) -> str:
    return f":arrow_up: {_where(event)} escalated {incident.ref} to {_assignees(event)}."


def reassigned(incident: Incident, event: Event) -> str:
    return (
        f":busts_in_silhouette: {who(event.agent)} reassigned {incident.ref} in {_where(event)} to {_assignees(event)}."
    )


def note(event: Event) -> str:
    """The timeline entry of a posted escalation or reassignment."""
    verb = "escalated" if event.event_type.endswith("escalated") else "reassigned"
    return f"{verb} in PagerDuty to {_assignees(event)}"


def alert_acknowledged(event: Event) -> str:
    """In the thread of a paged alert acknowledged in PagerDuty by someone `pagerduty.users` does not map."""
    return (
        f":pager: Acknowledged in {_where(event)} by {who(event.agent)}. The escalation here goes on until someone "
        "acknowledges in Slack (map PagerDuty users to Slack in `pagerduty.users` to make it one step)."
    )
