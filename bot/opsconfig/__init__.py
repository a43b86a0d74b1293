"""The ops config: everything the operations manual holds, as validated data.

The built-in default (`bot/default.yml`) is the ZZIK LIVE manual. A file named by ZZIK_CONFIG overrides it
field by field (lists are replaced whole). Errors name the field and, for a file, the line.

values.py: the value types (durations, times, severities, people) · sections.py: one model per section ·
config.py: OpsConfig, the whole · loading.py: load() and ConfigError.
"""

from bot.opsconfig.config import OpsConfig
from bot.opsconfig.loading import DEFAULT_PATH, ConfigError, effective, load
from bot.opsconfig.sections import (
    ALERT_RULES,
    ERROR_RATIO,
    Alerting,
    AlertRule,
    Backup,
    Channels,
    CheckItem,
    Checklist,
    Component,
    Deadline,
    Deploy,
    Handoff,
    Incidents,
    Maintenance,
    Objective,
    Oncall,
    PagerDuty,
    Permissions,
    Prometheus,
    PrometheusAlert,
    Rollback,
    Runbook,
    RunbookStep,
    Section,
    SeverityLevel,
    SloGroup,
    Stage,
    Stakeholders,
)
from bot.opsconfig.values import (
    WEEKDAYS,
    Duration,
    Member,
    MemberOrGroup,
    Severity,
    TimeOfDay,
    parse_duration,
)

__all__ = [
    "ALERT_RULES",
    "DEFAULT_PATH",
    "ERROR_RATIO",
    "WEEKDAYS",
    "AlertRule",
    "Alerting",
    "Backup",
    "Channels",
    "CheckItem",
    "Checklist",
    "Component",
    "ConfigError",
    "Deadline",
    "Deploy",
    "Duration",
    "Handoff",
    "Incidents",
    "Maintenance",
    "Member",
    "MemberOrGroup",
    "Objective",
    "Oncall",
    "OpsConfig",
    "PagerDuty",
    "Permissions",
    "Prometheus",
    "PrometheusAlert",
    "Rollback",
    "Runbook",
    "RunbookStep",
    "Section",
    "Severity",
    "SeverityLevel",
    "SloGroup",
    "Stage",
    "Stakeholders",
    "TimeOfDay",
    "effective",
    "load",
    "parse_duration",
]
