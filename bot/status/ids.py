"""Block Kit view, block and action ids and job names of the status domain, and its button values (grep for them
here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from bot.enums import Choice
from bot.errors import NotFound
from bot.slack.text import whole_number


class Job(StrEnum):
    STAKEHOLDERS = "status.stakeholders"  # run key: "<incident id>:<what>[:<update id>][:<at>]"
    REMIND = "status.remind"  # run key: "<incident id>:<due>"
    # Subscribers of the incidents' events (bot/incidents/events.py); run key: the event's key().
    INCIDENT_DECLARED = "status.incident_declared"
    SEVERITY_CHANGED = "status.severity_changed"
    INCIDENT_RESOLVED = "status.incident_resolved"
    INCIDENT_REOPENED = "status.incident_reopened"


class View(StrEnum):
    PUBLISH = "status_publish"


class Action(StrEnum):
    PUBLISH = "status_publish_update"  # under a later update's preview; value: a Confirmation
    EDIT = "status_edit_update"


class Block(StrEnum):
    TITLE = "public_title"
    STATUS = "public_status"
    COMPONENTS = "public_components"


class Public(Choice):
    """The public statuses of an incident, in the order an incident usually goes through them."""

    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Impact(StrEnum):
    """How bad things are for a component, a day or the whole page; declared from least to worst."""

    OPERATIONAL = "operational"
    DEGRADED = "degraded"
    PARTIAL = "partial"
    MAJOR = "major"

    @property
    def rank(self) -> int:
        return list(Impact).index(self)


class Told(StrEnum):
    """What a post to the stakeholders tells (the `what` of a status.stakeholders run)."""

    DECLARED = "declared"
    UPDATE = "update"
    RESOLVED = "resolved"
    REOPENED = "reopened"


MAX_BUTTON_VALUE = 2000  # Slack's limit on a button's value
NOT_A_PREVIEW = "That button does not belong to an update's preview."


@dataclass(frozen=True)
class Confirmation:
    """What *Publish* under a later update's preview stands for: the cleaned text, the public status, and the
    command's key (pressing it twice publishes once)."""

    incident: int
    status: str
    body: str  # Slack-encoded, cleaned for the public
    key: str

    def value(self) -> str:
        data = {"incident": self.incident, "status": self.status, "body": self.body, "key": self.key}
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def parse(cls, value: str | None) -> Confirmation:
        try:
            data = json.loads(value or "")
            incident, status, body, key = (data[k] for k in ("incident", "status", "body", "key"))
        except (ValueError, TypeError, KeyError):
            raise NotFound(NOT_A_PREVIEW) from None
        found = whole_number(str(incident)) if isinstance(incident, int) else None
        if found is None or Public.parse(status) is None or not isinstance(body, str) or not body:
            raise NotFound(NOT_A_PREVIEW)
        if not isinstance(key, str) or not key.startswith("command:"):
            raise NotFound(NOT_A_PREVIEW)
        return cls(found, status, body, key)
