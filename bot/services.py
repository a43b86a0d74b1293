"""What every flow and job may use: one object, built once per app, passed explicitly."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.db import Database
from bot.jobs import JobRunner
from bot.metrics import Metrics
from bot.opsconfig import OpsConfig
from bot.settings import Settings
from bot.slack.client import SlackClient


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
