"""The manual's Disaster Recovery, suggested where it fits: a P1/P2 incident's kickoff and a Service Down or High
Error Rate alert, when no prod deploy came before them (a recent deploy points at /rollback instead).

The rule (config `recovery:`): the database runbook when the incident's title, or the alert's `job`, `component`
or `service` label, names one of `database_words` (whole words, any case); the application runbook otherwise."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from bot.db import Conn
from bot.deploys import api as deploys
from bot.incidents.models import Incident
from bot.opsconfig import OpsConfig, Runbook
from bot.runbooks import messages
from bot.services import Services

RECENT = timedelta(hours=24)  # the manual's "Check recent changes": the kickoff's window
DATABASE_LABELS = ("job", "component", "service")


def production(config: OpsConfig) -> str:
    environments = config.deploy.environments
    return "prod" if "prod" in environments else environments[-1]


def concerns_database(config: OpsConfig, texts: list[str]) -> bool:
    words = {w.lower() for w in config.recovery.database_words}
    return any(w in words for text in texts for w in re.findall(r"[a-z0-9]+", text.lower()))


def runbook_for(config: OpsConfig, texts: list[str]) -> Runbook | None:
    """The recovery runbook for an incident or alert described by `texts` (None: not configured)."""
    recovery = config.recovery
    slug = recovery.database_runbook if concerns_database(config, texts) else recovery.runbook
    return next((r for r in config.runbooks if r.slug == slug), None)


async def deployed_before(conn: Conn, config: OpsConfig, at: datetime) -> bool:
    """Whether a prod deploy (or rollback) finished in the 24 h before `at`."""
    return bool(await deploys.finished_between(conn, production(config), at - RECENT, at))


async def kickoff_note(services: Services, incident: Incident) -> list[str]:
    """services.kickoff_notes: a P1/P2 incident with no prod deploy in the 24 h before it: the recovery runbook."""
    config = services.config
    if incident.severity not in config.recovery.severities:
        return []
    runbook = runbook_for(config, [incident.title])
    if runbook is None or await deployed_before(services.db, config, incident.declared_at):
        return []
    return [messages.recovery_note(runbook)]


async def for_alert(
    services: Services, conn: Conn, row: str | None, labels: dict[str, str], started_at: datetime
) -> Runbook | None:
    """The recovery runbook an alert of the alerts table's row `row` suggests (None: none)."""
    config = services.config
    if row is None or row not in config.recovery.alerts:
        return None
    runbook = runbook_for(config, [labels.get(k, "") for k in DATABASE_LABELS])
    if runbook is None or await deployed_before(conn, config, started_at):
        return None
    return runbook
