"""Names of the alerts domain, each built and parsed here: action ids, job names, states, button values."""

from enum import StrEnum


class Action(StrEnum):
    ACKNOWLEDGE = "alert_acknowledge"  # value: <alert id> or d<digest id>
    DECLARE = "alert_declare"
    RUNBOOK = "alert_runbook"  # + ":<slug>" (unique in the block); value: <alert id>:<runbook slug>
    ROLL_BACK = "alert_roll_back"
    SILENCE = "alert_silence"  # + ":<hours>h"; value: <alert id>:<hours>
    UNSILENCE = "alert_unsilence"


class Job(StrEnum):
    PROCESS = "alerts.process"  # one delivery
    SEND = "alerts.send"  # what is due to be posted or edited in one channel
    PAGE = "alerts.page"  # a P1 alert DMs the on-call primary
    ESCALATE = "alerts.escalate"  # not acknowledged within the response time
    DEPLOY_NOTE = "alerts.deploy_note"  # the deploy thread hears of an alert in its watch window
    DECLARE = "alerts.declare"  # config auto-declares an incident for this priority
    INCIDENT_NOTE = "alerts.incident_note"  # the incident channel hears the alert resolved
    SWEEP = "alerts.sweep"  # every few seconds: what a crashed replica left half-done is picked up


class Status(StrEnum):
    """alerts.status (the CHECK constraint in 0010_alerts.sql)."""

    FIRING = "firing"
    RESOLVED = "resolved"


class Source(StrEnum):
    """alert_deliveries.source (the CHECK constraint in 0010_alerts.sql): the webhook it came through."""

    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"


class Message(StrEnum):
    """What a due Slack message stands for: one alert's own message, or a storm's digest."""

    ALERT = "alert"
    DIGEST = "digest"


PAGED_AT_ONCE = "P1"  # the priority that DMs the on-call primary at once
