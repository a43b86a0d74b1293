"""OpsConfig: every section together, checked for consistency, and what Slack cannot show whole."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.opsconfig.sections import (
    Alerting,
    AlertRule,
    Backup,
    Channels,
    Component,
    Deploy,
    Heartbeat,
    Incidents,
    Maintenance,
    Oncall,
    PagerDuty,
    Permissions,
    Prometheus,
    Recovery,
    Rollback,
    Runbook,
    SeverityLevel,
    SloGroup,
    Stakeholders,
)
from bot.opsconfig.values import Severity


class OpsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: Channels
    severities: list[SeverityLevel]
    slos: list[SloGroup]
    alerts: list[AlertRule]
    alerting: Alerting = Alerting()
    deploy: Deploy
    rollback: Rollback
    incidents: Incidents
    runbooks: list[Runbook]
    recovery: Recovery = Recovery()
    maintenance: Maintenance
    backups: list[Backup] = []
    heartbeats: list[Heartbeat] = []
    prometheus: Prometheus = Prometheus()
    oncall: Oncall
    permissions: Permissions
    components: list[Component] = Field(default_factory=list, max_length=10)
    stakeholders: Stakeholders = Stakeholders()
    pagerduty: PagerDuty = PagerDuty()

    @model_validator(mode="after")
    def _consistent(self) -> OpsConfig:
        levels = [s.level for s in self.severities]
        if sorted(levels) != sorted(Severity):
            raise ValueError("severities must define P1, P2, P3 and P4 once each")
        slugs = [r.slug for r in self.runbooks]
        if len(slugs) != len(set(slugs)):
            raise ValueError("runbook slugs must be unique")
        ids = [c.id for c in self.components]
        if len(ids) != len(set(ids)):
            raise ValueError("component ids must be unique")
        rules = [(a.alertname, tuple(sorted(a.labels.items()))) for a in self.alerts]
        if len(rules) != len(set(rules)):
            raise ValueError("alerts: two rows match the same alertname and labels")
        watched = [w.name for w in self.watched]
        twice = sorted({n for n in watched if watched.count(n) > 1})
        if twice:
            raise ValueError(f"backups and heartbeats: the name {', '.join(twice)} is used twice: names must be unique")
        for a in self.alerts:
            if a.runbook is not None and a.runbook not in slugs:
                raise ValueError(f"alerts: {a.name}: runbook {a.runbook!r} is not a runbook slug")
        return self

    @property
    def watched(self) -> list[Backup | Heartbeat]:
        """The backups and the other heartbeats, each by its unique name (POST /hooks/heartbeat/<name>)."""
        return [*self.backups, *self.heartbeats]

    def severity(self, level: str) -> SeverityLevel:
        return next(s for s in self.severities if s.level == level.upper())

    def channel(self, key: str) -> str:
        return getattr(self.channels, key, key)

    def warnings(self) -> list[str]:
        found = []
        if not self.permissions.deployers:
            found.append("permissions.deployers is empty: anyone may deploy to prod and roll back")
        if not self.oncall.engineers:
            found.append("oncall.engineers is empty: nobody is on call and nobody is paged")
        names = {a.name for a in self.alerts} | {a.alertname for a in self.alerts}
        for w in self.watched:
            if w.query is not None and self.prometheus.url is None:
                found.append(f"backups/heartbeats: {w.name}: a query but no prometheus.url: only its webhook counts")
        for r in self.runbooks:
            unknown = [n for n in r.alerts if n not in names]
            if unknown:
                found.append(f"runbooks: {r.slug}: alerts {unknown} are not rows of the alerts table: never suggested")
        recovery = self.recovery
        for where, slug in [("runbook", recovery.runbook), ("database_runbook", recovery.database_runbook)] + [
            (f"drills[{i}]", s) for i, s in enumerate(recovery.drills)
        ]:
            if slug not in {r.slug for r in self.runbooks}:
                found.append(f"recovery.{where}: {slug!r} is not a runbook slug: never suggested or drilled")
        return found + self.slack_limits()

    def slack_limits(self) -> list[str]:
        """Config text Slack cannot show whole (a checklist option holds 75 characters, as do a select's options
        and their descriptions): the bot shortens it with "…", and says so here and at start-up."""
        option = 75
        texts: list[tuple[str, str]] = []
        for s, stage in enumerate(self.incidents.stages):
            texts += [(f"incidents.stages[{s}].items[{i}]", t) for i, t in enumerate(stage.items)]
        for name in ("pre_deploy_checklist", "staging_validation", "post_deploy_validation"):
            texts += [(f"deploy.{name}[{i}].text", c.text) for i, c in enumerate(getattr(self.deploy, name))]
        texts += [(f"rollback.criteria[{i}].text", c.text) for i, c in enumerate(self.rollback.criteria)]
        texts += [(f"rollback.verify[{i}].text", c.text) for i, c in enumerate(self.rollback.verify)]
        for key, checklist in self.maintenance.checklists.items():
            texts += [(f"maintenance.checklists.{key}.items[{i}]", t) for i, t in enumerate(checklist.items)]
        for s, sev in enumerate(self.severities):
            texts.append((f"severities[{s}].definition", sev.definition))
            texts.append((f"severities[{s}].level + response", f"{sev.level} · {sev.response}"))
        encoded = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
        found = []
        # The kickoff: intro, hint, recent changes (2), and per stage a title and one block per 10 items.
        kickoff = 4 + sum(1 + -(-len(stage.items) // 10) for stage in self.incidents.stages)
        if kickoff > 50:
            found.append(
                f"incidents.stages make a kickoff of {kickoff} blocks; Slack takes 50 in a message: "
                "merge stages or shorten their checklists"
            )
        for where, text in texts:
            size = len("".join(encoded.get(c, c) for c in text))
            if size > option:
                found.append(
                    f"{where} is {size} characters (encoded for Slack): Slack shows {option} in a checklist or "
                    f"menu option, so it is shortened with “…”: {text[:40]}…"
                )
        return found
