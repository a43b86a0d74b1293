"""What an alert means, by the manual's table: priority, response time, the runbooks it suggests.

Config rows match on `alertname` (and any extra labels they name; the most specific row wins); else the
`severity` label decides the priority; else it is P3. The response time is the row's, else the severity's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from bot.opsconfig import AlertRule, OpsConfig, Runbook

SEVERITY_LABELS = {
    "critical": "P1",
    "page": "P1",
    "emergency": "P1",
    "high": "P2",
    "error": "P2",
    "major": "P2",
    "warning": "P3",
    "warn": "P3",
    "minor": "P3",
    "medium": "P3",
    "info": "P4",
    "low": "P4",
    "none": "P4",
}
DEFAULT_PRIORITY = "P3"
_P = re.compile(r"^p([1-4])$", re.IGNORECASE)


@dataclass(frozen=True)
class Meaning:
    priority: str
    response_time: timedelta
    rule: AlertRule | None
    runbooks: tuple[Runbook, ...]
    why: str  # how the priority was decided, for the message


def matching_rule(config: OpsConfig, labels: dict[str, str]) -> AlertRule | None:
    name = labels.get("alertname", "")
    rows = [r for r in config.alerts if r.alertname == name and all(labels.get(k) == v for k, v in r.labels.items())]
    return max(rows, key=lambda r: len(r.labels), default=None)


def severity_priority(labels: dict[str, str]) -> str | None:
    value = (labels.get("severity") or labels.get("priority") or "").strip().lower()
    match = _P.match(value)
    if match:
        return f"P{match[1]}"
    return SEVERITY_LABELS.get(value)


def response_time_of(config: OpsConfig, priority: str) -> timedelta:
    within = config.severity(priority).ack_within
    return within if isinstance(within, timedelta) else timedelta(hours=24)


def runbooks_for(config: OpsConfig, rule: AlertRule | None) -> tuple[Runbook, ...]:
    if rule is None:
        return ()
    found = [r for r in config.runbooks if r.slug == rule.runbook]
    found += [r for r in config.runbooks if (rule.name in r.alerts or rule.alertname in r.alerts) and r not in found]
    return tuple(found)


def meaning(config: OpsConfig, labels: dict[str, str]) -> Meaning:
    rule = matching_rule(config, labels)
    if rule is not None:
        return Meaning(rule.priority, rule.response_time, rule, runbooks_for(config, rule), f"alert table: {rule.name}")
    by_label = severity_priority(labels)
    if by_label is not None:
        return Meaning(
            by_label,
            response_time_of(config, by_label),
            None,
            (),
            f"severity label {labels['severity']!r}"
            if "severity" in labels
            else f"priority label {labels.get('priority')!r}",
        )
    return Meaning(DEFAULT_PRIORITY, response_time_of(config, DEFAULT_PRIORITY), None, (), "no rule or severity label")


def rollback_criterion(config: OpsConfig, labels: dict[str, str]) -> str | None:
    """The manual's rollback criterion nearest to what the alert measures (its id), if any."""
    words = " ".join([labels.get("alertname", ""), labels.get("category", "")]).lower()
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", labels.get("alertname", "")).lower() + " " + words
    ids = {c.id for c in config.rollback.criteria}
    if re.search(r"error|5xx|fail", words) and "error_rate" in ids:
        return "error_rate"
    if re.search(r"slow|latency|response|performance|p9\d|cpu|memory", words) and "performance" in ids:
        return "performance"
    if re.search(r"down|unavailable|broken|outage|critical", words) and "critical_feature" in ids:
        return "critical_feature"
    return next(iter(c.id for c in config.rollback.criteria), None)
