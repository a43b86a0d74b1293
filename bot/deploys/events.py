"""What the deploys domain announces (bot/events.py): the other domains subscribe to these instead of being
called. Fields are facts (ids and values), never text: a subscriber reads what else it needs."""

from __future__ import annotations

from bot.events import Event


class DeployFinished(Event):
    """A deploy or rollback finished (its status is final: succeeded or failed), committed."""

    topic = "deploy.finished"
    deploy_id: int
    status: str
    kind: str  # deploy | rollback

    def key(self) -> str:
        return f"{self.deploy_id}:{self.status}"


class RollbackStarted(Event):
    """A rollback was asked for and is under way (committed). `replaced_id`: the deploy it rolls back;
    `incident_id`: the incident it belongs to (services.incident_for's answer when it started), if any."""

    topic = "deploy.rollback_started"
    deploy_id: int
    replaced_id: int
    actor: str
    environment: str
    reason: str | None = None
    incident_id: int | None = None

    def key(self) -> str:
        return str(self.deploy_id)
