"""Names of the alerts domain, each built and parsed here: action ids, job names, states, button values."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from bot.errors import NotFound
from bot.slack.text import whole_number


class Action(StrEnum):
    ACKNOWLEDGE = "alert_acknowledge"  # value: <alert id> or d<digest id>
    DECLARE = "alert_declare"
    RUNBOOK = "alert_runbook"  # + ":<slug>" (unique in the block); value: <alert id>:<runbook slug>
    ROLL_BACK = "alert_roll_back"
    SILENCE = "alert_silence"  # + ":<hours>h"; value: <alert id>:<hours>
    UNSILENCE = "alert_unsilence"
    SNOOZE = "alert_ack_snooze"  # + ":<hours>h"; value: <alert id>:<hours> (an acknowledgement's reminder)
    STILL_ON_IT = "alert_still_on_it"  # value: <alert id>; renews the acknowledgement


class Job(StrEnum):
    PROCESS = "alerts.process"  # one delivery
    SEND = "alerts.send"  # what is due to be posted or edited in one channel
    PAGE = "alerts.page"  # a P1 alert DMs the on-call primary
    ESCALATE = "alerts.escalate"  # not acknowledged within the response time
    DEPLOY_NOTE = "alerts.deploy_note"  # the deploy thread hears of an alert in its watch window
    DECLARE = "alerts.declare"  # config auto-declares an incident for this priority
    INCIDENT_NOTE = "alerts.incident_note"  # the incident channel hears the alert resolved
    INGEST_NOTE = "alerts.ingest_note"  # a delivery not taken whole: its note is said in the alerts channel
    LINK_INCIDENT = "alerts.link_incident"  # an incident declared from an alert (IncidentDeclared): link them
    SWEEP = "alerts.sweep"  # every few seconds: what a crashed replica left half-done is picked up
    ACK_EXPIRED = "alerts.ack_expired"  # an acknowledgement ran out (key: <alert>:<deadline>): remind
    ACK_ESCALATE = "alerts.ack_escalate"  # then page one role a step (key: <alert>:<deadline>:<step>)


class Status(StrEnum):
    """alerts.status (the CHECK constraint in 0010_alerts.sql)."""

    FIRING = "firing"
    RESOLVED = "resolved"


class Source(StrEnum):
    """alert_deliveries.source (the CHECK constraint in 0010_alerts.sql): the webhook it came through."""

    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    HEARTBEAT = "heartbeat"  # raised by the bot itself (a heartbeat late or failed): bot.alerts.api.submit


class Message(StrEnum):
    """What a due Slack message stands for: one alert's own message, or a storm's digest."""

    ALERT = "alert"
    DIGEST = "digest"


# -- button values: built and parsed here ------------------------------------------------------------------------


@dataclass(frozen=True)
class Acknowledged:
    """What an Acknowledge button stands for: one alert (`<id>`) or a storm's digest (`d<id>`)."""

    alert: int | None = None
    digest: int | None = None

    def value(self) -> str:
        return f"d{self.digest}" if self.digest is not None else str(self.alert)

    @classmethod
    def parse(cls, value: str | None) -> Acknowledged:
        value = value or ""
        if value.startswith("d"):
            return cls(digest=_number(value[1:]))
        return cls(alert=_number(value))


NOT_AN_ALERT = "That button does not belong to an alert."
# A runbook's slug as the config allows it (bot/opsconfig/sections.py).
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


def alert_value(alert_id: int, extra: str | int | None = None) -> str:
    """`<alert id>` or `<alert id>:<extra>` (a runbook's slug, a silence's hours)."""
    return str(alert_id) if extra is None else f"{alert_id}:{extra}"


def _number(token: str) -> int:
    """A whole number the bot put in a button value; anything else was not made by the bot."""
    found = whole_number(token)
    if found is None:
        raise NotFound(NOT_AN_ALERT)
    return found


def alert_id(value: str | None) -> int:
    """`<alert id>`, nothing else: a value with more to it (`1:²`) was not made by the bot."""
    return _number(value or "")


def runbook_of(value: str | None) -> tuple[int, str]:
    """`<alert id>:<runbook slug>` -> (alert id, slug)."""
    head, _, slug = (value or "").partition(":")
    if not _SLUG.fullmatch(slug):
        raise NotFound(NOT_AN_ALERT)
    return alert_id(head), slug


def hours_of(value: str | None) -> tuple[int, int]:
    """`<alert id>:<hours>` -> (alert id, hours) of a Silence or Snooze button; the flow says which it offers."""
    return silence_of(value)


def silence_of(value: str | None) -> tuple[int, int]:
    """`<alert id>:<hours>` -> (alert id, hours); the flow says which hours it offers."""
    head, _, hours = (value or "").partition(":")
    return alert_id(head), _number(hours)
