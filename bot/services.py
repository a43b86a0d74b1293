"""What every flow and job may use: one object, built once per app, passed explicitly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.audit import Writer
from bot.clock import Clock
from bot.db import Database
from bot.events import Events
from bot.jobs import JobRunner
from bot.liveness import Liveness
from bot.metrics import Metrics
from bot.opsconfig import OpsConfig
from bot.prom import Prometheus
from bot.settings import Settings
from bot.slack.client import SlackClient
from bot.slack.users import Directory


@dataclass
class Services:
    settings: Settings
    config: OpsConfig
    db: Database
    clock: Clock
    slack: SlackClient
    metrics: Metrics
    jobs: JobRunner
    replica_id: str
    users: Directory
    # Sections of the weekly on-call handoff summary; each domain adds its own (start, end) -> mrkdwn lines.
    handoff_summary: list[HandoffSection] = field(default_factory=list)
    # The slash commands the domains registered a listener for (the manifest test compares them).
    commands: set[str] = field(default_factory=set)
    # The Socket Mode connection, when serving with --socket-mode (/healthz reports its state).
    socket_mode: Any = None
    # Prometheus's HTTP API (config prometheus.url); None when no Prometheus is configured.
    prometheus: Prometheus | None = None
    # The audit rows of Slack requests, written in the background (group commit); None: each row at once.
    audit_writer: Writer | None = None
    # Domain events (bot/events.py): publish in a transaction, subscribe in a domain's jobs.register().
    events: Events = field(init=False)
    # The /incident subcommands another domain answers ("public": the status page's), registered by that
    # domain: incidents parse the command and hand the rest over, without importing the domain.
    subcommands: dict[str, Callable[..., Awaitable[None]]] = field(default_factory=dict)
    # The measured figures of a deploy's watch window for its end message (`await watch_summary(services, deploy)`,
    # a bot.deploys.models.Deploy; mrkdwn or None), registered by the SLO watch: deploys ask without importing it.
    watch_summary: Callable[[Services, Any], Awaitable[str | None]] | None = None
    # The pagers besides the Slack DMs (PagerDuty), each registered by its domain: what the incidents' set-up
    # asks of them for the announcement and the reporter's answer.
    paging_providers: list[PagingProvider] = field(default_factory=list)
    # Lines (mrkdwn) other domains add to an incident's pinned kickoff, after its recent changes: the recovery
    # runbook to try (runbooks), an environment pinned by a rollback (deploys). `await note(services, incident)`
    # with a bot.incidents.models.Incident; registered in the domain's register(); must answer in well under 1 s.
    kickoff_notes: list[KickoffNote] = field(default_factory=list)
    # The incident something done now in `channel` belongs to, as (id, "INC-n"), or None: asked by the deploys
    # domain when a rollback of `environment` starts (its pin and fix-forward item name it); registered by the
    # incidents domain. `await incident_for(services, channel, environment)`; one read, well under 1 s.
    incident_for: Callable[[Services, str | None, str], Awaitable[tuple[int, str] | None]] | None = None
    # How GET /livez judges the job runner (how long a pass may take before the process counts as stuck).
    liveness: Liveness = field(default_factory=Liveness)


def zone(services: Services) -> ZoneInfo:
    """The team's time zone (config oncall.timezone): every wall-clock time the bot shows or schedules."""
    return services.config.oncall.zone


HandoffSection = Callable[["Services", datetime, datetime], Awaitable[list[str]]]
KickoffNote = Callable[["Services", Any], Awaitable[list[str]]]


@dataclass(frozen=True)
class PagingProvider:
    """A pager besides the Slack DMs, as the incidents domain sees it (it pages by subscribing to their events)."""

    # How its page of the incident stands, in words (None: it does not page this incident).
    state: Callable[[Services, int], Awaitable[str | None]]
    # Whether its first try at the declaration's page is over (the answer then says how it went).
    settled: Callable[[Services, int], Awaitable[bool]]
