"""Block Kit view and block ids of the status domain (grep for them here)."""

from enum import StrEnum


class View(StrEnum):
    PUBLISH = "status_publish"


class Block(StrEnum):
    TITLE = "public_title"
    STATUS = "public_status"
    COMPONENTS = "public_components"


class Public(StrEnum):
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
