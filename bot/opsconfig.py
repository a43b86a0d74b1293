"""The ops config: everything the operations manual holds, as validated data.

The built-in default (`default.yml`) is the ZZIK LIVE manual. A file named by ZZIK_CONFIG overrides it
section by section. Errors name the field and, for a file, the line.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.oncall.contacts import MAX_CONTACTS, EmergencyContact

DEFAULT_PATH = Path(__file__).with_name("default.yml")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ISO_DURATION = TypeAdapter(timedelta)
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*(?:(\d+)\s*s)?\s*$")


def parse_duration(value: Any) -> timedelta:
    """'5m', '1h30m', '48h', '2d', '90s' (or a number of seconds) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match and any(match.groups()):
            d, h, m, s = (int(g or 0) for g in match.groups())
            return timedelta(days=d, hours=h, minutes=m, seconds=s)
        if value.startswith("P"):  # ISO 8601, as a dumped config writes it
            try:
                return _ISO_DURATION.validate_python(value)
            except ValidationError:
                pass
    raise ValueError(f"{value!r} is not a duration (use e.g. 30s, 5m, 1h30m, 2d)")


def _parse_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 10:00 as the sexagesimal number 600.
        value = f"{value // 60:02d}:{value % 60:02d}"
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}(:00)?", value.strip()):
        hh, mm = value.strip().split(":")[:2]
        if int(hh) < 24 and int(mm) < 60:
            return time(int(hh), int(mm))
    raise ValueError(f"{value!r} is not a time of day (use HH:MM, 24-hour)")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
TimeOfDay = Annotated[time, BeforeValidator(_parse_time)]
Severity = Literal["P1", "P2", "P3", "P4"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Channels(Section):
    alerts: str
    deployments: str
    incidents: str
    dev: str
    support: str


class SeverityLevel(Section):
    level: Severity
    definition: str
    example: str
    response: str
    ack_within: Duration | Literal["next_business_day"]
    all_hands: bool = False
    update_every: Duration | None = None


class Objective(Section):
    name: str
    target: str | None = None
    p95: str | None = None
    p99: str | None = None
    measurement: str | None = None
    # PromQL of the indicator over `$window` (a ratio 0..1 for a % target, seconds for a time target), compared
    # with the first of target / p95 / p99. No query: the objective is shown as "not measured".
    query: str | None = None
    window: Duration = timedelta(days=30)

    @field_validator("query")
    @classmethod
    def _has_window(cls, value: str | None) -> str | None:
        if value is not None and "$window" not in value:
            raise ValueError("the query must use $window for its range (e.g. rate(x[$window]))")
        return value


class SloGroup(Section):
    group: str
    objectives: list[Objective]


class AlertRule(Section):
    name: str
    condition: str
    priority: Severity
    response_time: Duration
    # The `alertname` label Prometheus/Grafana alerts carry for this row of the manual's table. Routing matches
    # it, and `zzik-bot rules` emits it. Default: the name in CamelCase ("High Error Rate" -> HighErrorRate).
    alertname: str = ""
    # Further labels an alert must carry for this row to match (e.g. {service: api}); none by default.
    labels: dict[str, str] = {}
    # The runbook (slug) an alert of this row suggests, besides the runbooks whose `alerts` name this row.
    runbook: str | None = None

    @model_validator(mode="after")
    def _default_alertname(self) -> AlertRule:
        if not self.alertname:
            camel = "".join(word[:1].upper() + word[1:] for word in re.split(r"[^0-9A-Za-z]+", self.name) if word)
            object.__setattr__(self, "alertname", camel)
        return self


class Alerting(Section):
    """How alerts are handled beyond the manual's table."""

    # Priorities that declare an incident at once when such an alert fires (others offer *Declare incident*).
    auto_declare: list[Severity] = []
    # More new alerts than this in one group within `storm_window` become one digest message for the group.
    digest_after: int = Field(default=5, ge=1, le=1000)
    storm_window: Duration = timedelta(minutes=2)
    # This many episodes of one alert within `flap_window` and it is labelled flapping.
    flap_episodes: int = Field(default=3, ge=2, le=100)
    flap_window: Duration = timedelta(hours=1)


class PrometheusAlert(Section):
    """How one row of the manual's alert table reads in PromQL (`zzik-bot rules`)."""

    expr: str
    for_: Duration = Field(default=timedelta(0), alias="for")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


ERROR_RATIO = 'sum(rate(http_requests_total{code=~"5.."}[$window])) / sum(rate(http_requests_total[$window]))'
LATENCY_P95 = "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[$window])))"


def _rule(expr: str, for_: str) -> PrometheusAlert:
    return PrometheusAlert(expr=expr, for_=parse_duration(for_))


# The manual's alert table for the common exporters (node_exporter, postgres_exporter, blackbox_exporter) and
# the http_requests_total / http_request_duration_seconds conventions, at a scrape interval of 15 s or less.
ALERT_RULES = {
    "ServiceDown": _rule("up == 0", "1m"),
    "HighErrorRate": _rule(ERROR_RATIO.replace("$window", "1m") + " > 0.05", "5m"),
    "SlowResponse": _rule(LATENCY_P95.replace("$window", "1m") + " > 3", "10m"),
    "DatabaseConnectionPool": _rule("sum(pg_stat_activity_count) / max(pg_settings_max_connections) > 0.8", "5m"),
    "DiskSpace": _rule(
        'node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"} / node_filesystem_size_bytes{fstype!~"tmpfs|overlay"}'
        " < 0.2",
        "5m",
    ),
    "CertificateExpiry": _rule("(probe_ssl_earliest_cert_expiry - time()) / 86400 < 30", "10m"),
}


class Prometheus(Section):
    """Where the manual's numbers are measured. No url: SLOs are "not measured", the deploy watch is manual."""

    url: str | None = Field(default=None, pattern=r"^https?://")
    # Every question to Prometheus gives up after this, so /slo answers within Slack's 3 s.
    timeout: Duration = timedelta(seconds=2)
    # The request error ratio and the p95 latency over `$window` (deploy watch, rollback check).
    error_ratio: str = ERROR_RATIO
    latency_p95: str = LATENCY_P95
    # The deploy watch: measured every `watch_every` during a prod watch window, the error ratio and p95 of the
    # last `watch_window` (at most the time since the deploy) against the 30 minutes before it.
    watch_every: Duration = timedelta(minutes=1)
    watch_window: Duration = timedelta(minutes=5)
    baseline: Duration = timedelta(minutes=30)
    # The manual's rollback criteria in figures: rollback.criteria ids and their thresholds.
    rollback_error_ratio: float = Field(default=0.10, gt=0, le=1)
    rollback_error_criterion: str = "error_rate"
    rollback_p95_degradation: float = Field(default=0.50, gt=0)
    rollback_p95_criterion: str = "performance"
    # Rollback verification: how long to keep checking that error rates returned to normal.
    verify_for: Duration = timedelta(minutes=30)
    # The manual's alert table in PromQL, by alertname; rows without an entry are not generated.
    alert_rules: dict[str, PrometheusAlert] = Field(default_factory=lambda: dict(ALERT_RULES))
    # Multiwindow, multi-burn-rate alerts (SRE workbook) for the ratio SLOs with a query.
    burn_rate_alerts: bool = True

    @field_validator("error_ratio", "latency_p95")
    @classmethod
    def _has_window(cls, value: str) -> str:
        if "$window" not in value:
            raise ValueError("the query must use $window for its range (e.g. rate(x[$window]))")
        return value

    @field_validator("timeout")
    @classmethod
    def _bounded(cls, value: timedelta) -> timedelta:
        if not timedelta(0) < value <= timedelta(seconds=10):
            raise ValueError("must be more than 0 and at most 10s")
        return value

    @field_validator("watch_every", "watch_window", "baseline")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value


class CheckItem(Section):
    id: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    text: str


def _unique_ids(items: list[CheckItem], what: str) -> list[CheckItem]:
    ids = [item.id for item in items]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{what} ids must be unique")
    return items


class Deploy(Section):
    environments: list[str] = ["staging", "prod"]
    webhook_url: str | None = None
    watch_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # A started deploy whose pipeline call has no recorded answer after this is announced as of unknown outcome.
    pipeline_answer_within: Duration = timedelta(seconds=60)
    commands: dict[str, str]
    pre_deploy_checklist: list[CheckItem]
    staging_validation: list[CheckItem]
    post_deploy_validation: list[CheckItem]

    @field_validator("pre_deploy_checklist", "staging_validation", "post_deploy_validation")
    @classmethod
    def _ids(cls, items: list[CheckItem]) -> list[CheckItem]:
        return _unique_ids(items, "checklist")


class Rollback(Section):
    identify: list[str]
    criteria: list[CheckItem]
    verify: list[CheckItem]


class Stage(Section):
    name: str
    items: list[str]


class Incidents(Section):
    stages: list[Stage] = Field(min_length=1)
    channel_prefix: str = Field(default="inc", pattern=r"^[a-z0-9_-]{1,20}$")
    postmortem_template: str
    # Who commands an incident declared without naming a commander: the manual's on-call primary
    # ("first responder, incident commander"), or whoever declared it.
    default_commander: Literal["primary", "reporter"] = "primary"


class RunbookStep(Section):
    text: str
    command: str | None = None
    link: str | None = None


class Runbook(Section):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    name: str
    title: str | None = None
    alerts: list[str] = []
    steps: list[RunbookStep] = Field(min_length=1)


class Deadline(Section):
    """The first such moment at or after the checklist was posted."""

    weekday: Literal[WEEKDAYS] | None = None  # type: ignore[valid-type]
    day: int | None = Field(default=None, ge=1, le=28)
    time: TimeOfDay


class Checklist(Section):
    schedule: str
    deadline: Deadline
    items: list[str] = Field(min_length=1)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            CronTrigger.from_crontab(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a cron expression: {exc}") from None
        return value


class Maintenance(Section):
    channel: str = "dev"
    checklists: dict[Literal["daily", "weekly", "monthly"], Checklist]


class Backup(Section):
    type: str
    frequency: str
    retention: str
    location: str


class Handoff(Section):
    day: Literal[WEEKDAYS] = "monday"  # type: ignore[valid-type]
    time: TimeOfDay = time(10, 0)

    @field_validator("day", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _member(value: str) -> str:
    """One syntax for a person everywhere in the config: a Slack user id or the email Slack knows them by."""
    if _USER_ID.match(value) or _EMAIL.match(value):
        return value
    raise ValueError(f"{value!r} is not a Slack user id (like U0ALICE) or an email")


def _member_or_group(value: str) -> str:
    """A person (as in _member) or a Slack user group id, for the permission lists."""
    if _GROUP_ID.match(value):
        return value
    try:
        return _member(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is not a Slack user id (like U0ALICE), an email or a user group id (like S0DEPLOY)"
        ) from None


# Strict strings: a YAML number or date where a person is meant is an error, not a silent str().
Member = Annotated[str, Field(strict=True), AfterValidator(_member)]
MemberOrGroup = Annotated[str, Field(strict=True), AfterValidator(_member_or_group)]


class Oncall(Section):
    timezone: str = "UTC"
    handoff: Handoff = Handoff()
    start: date = date(2026, 1, 5)
    engineers: list[Member] = []
    managers: list[Member] = []
    remind_before: Duration = timedelta(minutes=30)
    usergroup: str | None = Field(default=None, pattern=r"^S[A-Z0-9]{2,}$")
    roles: dict[str, str] = {}
    kit: list[str] = []
    contacts: list[EmergencyContact] = Field(default=[], max_length=MAX_CONTACTS)  # the kit's emergency contacts

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Seoul)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Permissions(Section):
    deployers: list[MemberOrGroup] = []
    incident_managers: list[MemberOrGroup] = []


class Component(Section):
    """A part of the service the public status page reports on (the manual's availability table)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    name: str = Field(min_length=1, max_length=75)
    description: str | None = Field(default=None, max_length=300)


class Stakeholders(Section):
    """Who outside the incident channel hears about incidents, in plain language, and when the manager is reminded."""

    channel: str = "#zzik-support"
    severities: list[Severity] = ["P1", "P2"]
    # An incident of these severities with no stakeholder update for `remind_after`: the manager is reminded.
    remind_severities: list[Severity] = ["P1"]
    remind_after: Duration = timedelta(minutes=30)
    status_page_title: str = Field(default="ZZIK LIVE status", min_length=1, max_length=100)


class PagerDuty(Section):
    """Paging through PagerDuty (Events API v2), beside the Slack DM, when a routing key is set."""

    # Declaring an incident of these severities triggers a PagerDuty incident.
    severities: list[Severity] = ["P1", "P2"]
    severity_map: dict[Severity, Literal["critical", "error", "warning", "info"]] = {
        "P1": "critical",
        "P2": "error",
        "P3": "warning",
        "P4": "info",
    }
    # Per-severity integration keys overriding ZZIK_PAGERDUTY_ROUTING_KEY (e.g. P1 to a louder service).
    routing_keys: dict[Severity, str] = {}
    source: str = Field(default="zzik-ops-bot", min_length=1, max_length=255)
    # PagerDuty user id -> Slack user (id or email): who acknowledged or resolved in PagerDuty, in Slack's terms.
    users: dict[str, Member] = {}


class OpsConfig(Section):
    channels: Channels
    severities: list[SeverityLevel]
    slos: list[SloGroup]
    alerts: list[AlertRule]
    alerting: Alerting = Alerting()
    deploy: Deploy
    rollback: Rollback
    incidents: Incidents
    runbooks: list[Runbook]
    maintenance: Maintenance
    backups: list[Backup] = []
    prometheus: Prometheus = Prometheus()
    oncall: Oncall
    permissions: Permissions
    components: list[Component] = Field(default_factory=list, max_length=10)
    stakeholders: Stakeholders = Stakeholders()
    pagerduty: PagerDuty = PagerDuty()

    @model_validator(mode="after")
    def _consistent(self) -> OpsConfig:
        levels = [s.level for s in self.severities]
        if sorted(levels) != ["P1", "P2", "P3", "P4"]:
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
        for a in self.alerts:
            if a.runbook is not None and a.runbook not in slugs:
                raise ValueError(f"alerts: {a.name}: runbook {a.runbook!r} is not a runbook slug")
        return self

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
        for r in self.runbooks:
            unknown = [n for n in r.alerts if n not in names]
            if unknown:
                found.append(f"runbooks: {r.slug}: alerts {unknown} are not rows of the alerts table: never suggested")
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


class ConfigError(Exception):
    """The config is invalid; str() names each bad field (and line, for a file)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _load_yaml(text: str, source: str) -> tuple[dict[str, Any], yaml.Node | None]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError([f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        raise ConfigError([f"{source}:1: the config must be a mapping of sections"])
    return data, node


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Walk the YAML node tree along a pydantic error location; the deepest line found."""
    line = None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


# What each pattern in this file asks for, in words (pydantic would print the regular expression).
_PATTERN_WORDS = {
    r"^[a-z0-9_]{1,40}$": "an id of 1 to 40 lowercase letters, digits or _",
    r"^[a-z0-9_-]{1,20}$": "1 to 20 lowercase letters, digits, - or _",
    r"^[a-z0-9][a-z0-9-]{0,39}$": "a slug: up to 40 lowercase letters, digits or -, not starting with -",
    r"^S[A-Z0-9]{2,}$": "a Slack user group id (like S0ONCALL)",
}


def _message(err: Any) -> str:
    if err["type"] == "string_pattern_mismatch":
        wanted = _PATTERN_WORDS.get(err.get("ctx", {}).get("pattern"), "in the expected form")
        return f"{err['input']!r} is not {wanted}"
    if err["type"] == "extra_forbidden":
        return "unknown field"
    return str(err["msg"]).removeprefix("Value error, ")


def load(path: Path | str | None = None) -> OpsConfig:
    """The built-in config, with the sections of `path` (if given) in place of the defaults.

    Every problem is reported at once (unknown sections with the rest), each with its field and line.
    """
    merged, _ = _load_yaml(DEFAULT_PATH.read_text(encoding="utf-8"), "default.yml")
    node = None
    source = "default.yml"
    problems: list[str] = []
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError([f"{source}: cannot read: {exc.strerror}"]) from None
        override, node = _load_yaml(text, source)
        known = sorted(OpsConfig.model_fields)
        for key in sorted(set(override) - set(known)):
            problems.append(f"{source}:{_line_of(node, (key,))}: {key}: unknown section (sections: {', '.join(known)})")
            del override[key]
        merged.update(override)
    try:
        config = OpsConfig.model_validate(merged)
    except ValidationError as exc:
        overridden = set(merged) if node is None else {k.value for k, _ in node.value}
        for err in exc.errors():
            loc = err["loc"]
            field = ".".join(str(p) for p in loc) or "config"
            line = _line_of(node, loc) if node is not None and loc and loc[0] in overridden else None
            where = f"{source}:{line}" if line else source
            problems.append(f"{where}: {field}: {_message(err)}")
    if problems:
        raise ConfigError(problems)
    return config
