"""The ops config's sections, one model each (OpsConfig in config.py puts them together)."""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.opsconfig import values
from bot.opsconfig.contacts import MAX_CONTACTS, EmergencyContact
from bot.opsconfig.values import WEEKDAYS, ChannelName, Duration, Member, MemberOrGroup, Severity, TimeOfDay


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Channels(Section):
    alerts: ChannelName
    deployments: ChannelName
    incidents: ChannelName
    dev: ChannelName
    support: ChannelName


class SeverityLevel(Section):
    level: Severity
    definition: str
    example: str
    response: str
    ack_within: Duration | Literal["next_business_day"]
    all_hands: bool = False
    update_every: Duration | None = None
    # How long an acknowledgement of an incident of this severity lasts before its acknowledger is reminded
    # (None: incidents.ack_expires_after, else ack_within, at least 30 min).
    ack_expires_after: Duration | None = None


class Objective(Section):
    name: str
    target: str | None = None
    p95: str | None = None
    p99: str | None = None
    measurement: str | None = None
    # PromQL of the indicator over `$window` (a ratio 0..1 for a % target, seconds for a time target), compared
    # with each of target / p95 / p99 (`$quantile` reads 0.95 / 0.99 for p95 / p99; `target` takes a query of its
    # own, without it). No query: a row with p95/p99
    # is measured by prometheus.route_latency for its `route`; any other is shown as "not measured".
    query: str | None = None
    window: Duration = timedelta(days=30)
    # The value of prometheus.route_label for this row (default: the name in kebab case, "nearby-search").
    route: str = ""

    @model_validator(mode="after")
    def _default_route(self) -> Objective:
        if not self.route:
            object.__setattr__(self, "route", "-".join(re.findall(r"[0-9a-z]+", self.name.lower())))
        targets = [t for t in (self.target, self.p95, self.p99) if t]
        if self.query is not None and self.target and (self.p95 or self.p99 or "$quantile" in self.query):
            # $quantile reads 0.95 / 0.99 for p95 / p99 only: `target` would send it to Prometheus as it is.
            raise ValueError("`target` cannot share its query with p95/p99 or use $quantile: give it a row of its own")
        if self.query is not None and len(targets) > 1 and "$quantile" not in self.query:
            raise ValueError("a row with several targets needs $quantile in its query (0.95 for p95, 0.99 for p99)")
        return self

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
    # How long an acknowledgement of this row's alert lasts (None: alerting.ack_expires_after, else the
    # response time, at least 30 min).
    ack_expires_after: Duration | None = None

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
    # How long an acknowledgement of a firing alert lasts before the acknowledger is reminded and escalation
    # resumes (None: the row's response time, at least 30 min).
    ack_expires_after: Duration | None = None


class PrometheusAlert(Section):
    """How one row of the manual's alert table reads in PromQL (`zzik-bot rules`)."""

    expr: str
    for_: Duration = Field(default=timedelta(0), alias="for")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


ERROR_RATIO = 'sum(rate(http_requests_total{code=~"5.."}[$window])) / sum(rate(http_requests_total[$window]))'
LATENCY_P95 = "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[$window])))"


def _rule(expr: str, for_: str) -> PrometheusAlert:
    return PrometheusAlert(expr=expr, for_=values.parse_duration(for_))


# The manual's alert table for the common exporters (node_exporter, postgres_exporter, blackbox_exporter) and
# the http_requests_total / http_request_duration_seconds conventions, at a scrape interval of 15 s or less.
ALERT_RULES = {
    "ServiceDown": _rule("up == 0", "1m"),
    "HighErrorRate": _rule(ERROR_RATIO.replace("$window", "1m") + " > 0.05", "5m"),
    "SlowResponse": _rule(LATENCY_P95.replace("$window", "1m") + " > 3", "10m"),
    "DiskSpace": _rule(
        'node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"} / node_filesystem_size_bytes{fstype!~"tmpfs|overlay"}'
        " < 0.2",
        "5m",
    ),
    "CertificateExpiry": _rule("(probe_ssl_earliest_cert_expiry - time()) / 86400 < 30", "10m"),
    "HighCPUUsage": _rule('1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) > 0.9', "10m"),
    "HighMemoryUsage": _rule("1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes > 0.9", "15m"),
}
# The application's pool in use (OpenTelemetry's db.client.connections.usage, state "used"), per instance.
APP_POOL_IN_USE = 'db_client_connections_usage{state="used"}'
ROUTE_LATENCY = (
    "histogram_quantile($quantile, sum by (le) "
    '(rate(http_request_duration_seconds_bucket{$route_label="$route"}[$window])))'
)


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
    # Database Connection Pool (unless alert_rules names it): the application's pool in use against its size
    # (the manual's Connection Pool, max 10), over 80% for 5 minutes, per instance.
    app_pool_in_use: str = APP_POOL_IN_USE
    app_pool_max: int = Field(default=10, ge=1)
    # Service Down as an uptime check: the blackbox exporter's probe of this target (probe_success == 0) in
    # place of a failed scrape (up == 0). None: `up == 0`.
    uptime_probe: str | None = None
    # The p95/p99 of an SLO row with p95/p99 targets and no query, per route: $quantile (0.95, 0.99), $route (the
    # row's `route`, by default its name in kebab case: nearby-search), $route_label; None: such rows are not measured.
    route_latency: str | None = ROUTE_LATENCY
    route_label: str = Field(default="route", pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")

    @field_validator("error_ratio", "latency_p95", "route_latency")
    @classmethod
    def _has_window(cls, value: str | None) -> str | None:
        if value is not None and "$window" not in value:
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
    # The reaction that adds a message of an incident channel to its timeline and post-mortem (its name, as Slack
    # sends it in reaction_added: `pushpin` for 📌); taking the reaction off takes the message out.
    timeline_emoji: str = Field(default="pushpin", pattern=r"^[a-z0-9_+'-]{1,100}$")
    # How long an acknowledgement of an open incident lasts without activity before the acknowledger is
    # reminded and escalation resumes (None: the severity's ack_within, at least 30 min).
    ack_expires_after: Duration | None = None


class RunbookStep(Section):
    text: str
    command: str | None = None
    link: str | None = None
    # `rollback`: the step offers the /rollback button for prod (the same confirmed rollback as `/rollback prod`).
    action: Literal["rollback"] | None = None


class Runbook(Section):
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    name: str
    title: str | None = None
    alerts: list[str] = []
    steps: list[RunbookStep] = Field(min_length=1)


class Recovery(Section):
    """Which recovery runbook the bot suggests, the drills' targets and which runbooks are drilled."""

    runbook: str = "app-recovery"  # suggested when nothing points at the database
    database_runbook: str = "db-recovery"  # suggested when the incident or alert concerns the database
    # The incident's title, or the alert's `job`, `component` or `service` label, names one of these words.
    database_words: list[str] = ["database", "db", "postgres", "postgresql"]
    severities: list[Severity] = [Severity.P1, Severity.P2]  # incidents whose kickoff suggests it
    alerts: list[str] = ["Service Down", "High Error Rate"]  # rows of the alerts table whose alerts suggest it
    rto: Duration = timedelta(hours=1)  # a drill's restore time (start to last step) meets it when not longer
    rpo: Duration = timedelta(hours=6)  # the restored data's age meets it when not older ("Every 6 hours")
    drills: list[str] = ["db-recovery", "app-recovery"]  # `/runbook drill <slug>` takes these
    drill_items: list[str] = ["Full backup test", "Disaster recovery drill"]  # monthly items that offer a drill


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
    channel: ChannelName = "dev"  # a key of channels (dev, support …) or a channel's name
    checklists: dict[Literal["daily", "weekly", "monthly"], Checklist]


_EVERY = re.compile(r"^\s*every\s+(\d+\s*)?(minute|hour|day|week)s?\s*$", re.IGNORECASE)
_UNITS = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
}
_WORDS = {
    "hourly": timedelta(hours=1),
    "daily": timedelta(days=1),
    "nightly": timedelta(days=1),
    "weekly": timedelta(weeks=1),
}
MAX_GRACE = timedelta(hours=1)
# The default grace of a daily-or-longer job: it runs by a wall clock, and the autumn night's day is 25 hours.
WALL_CLOCK_GRACE, DAY = timedelta(hours=2), timedelta(days=1)


def interval_of(frequency: str) -> timedelta | None:
    """The interval the manual's frequency words mean ("Every 6 hours" 6h, "Daily" 24h, "Hourly", "Weekly",
    "Every 15 minutes"); None for words that name no clock ("On deployment", "Real-time")."""
    words = frequency.strip().lower()
    if words in _WORDS:
        return _WORDS[words]
    match = _EVERY.match(words)
    if match is None:
        return None
    return int(match[1] or 1) * _UNITS[match[2].lower()]


class Watched(Section):
    """A scheduled job the bot watches with a heartbeat (a dead man's switch): it reports each run to
    POST /hooks/heartbeat/<name>, or Prometheus holds its last success (`query`)."""

    name: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9-]{0,39})?$")  # the URL's <name>
    frequency: str = ""  # the manual's words; "Every 6 hours" or "Daily" give the interval
    # How often it must succeed; default: from `frequency`. None (no interval, words with no clock such as "On
    # deployment" or "Real-time"): not watched, only shown (its runs are still recorded, a failed one alerts).
    interval: Duration | None = None
    # How late past the interval it may be before it alerts; default a quarter of the interval, at most 1h; 2h for
    # a daily-or-longer interval (the clock change's 25-hour day).
    grace: Duration | None = None
    priority: Severity = Severity.P3  # the alert's priority when it is late or fails
    # PromQL giving its last success as a Unix time (e.g. backup_last_success_timestamp_seconds{type="database"}),
    # read every minute; a heartbeat by webhook counts as well.
    query: str | None = None

    @property
    def every(self) -> timedelta | None:
        return self.interval or interval_of(self.frequency)

    @property
    def allowance(self) -> timedelta | None:
        """How old its last success may be before it is late: the interval plus the grace."""
        every = self.every
        if every is None:
            return None
        if self.grace is not None:
            return every + self.grace
        return every + (WALL_CLOCK_GRACE if every >= DAY else min(every / 4, MAX_GRACE))

    @model_validator(mode="after")
    def _watchable(self) -> Watched:
        if self.interval is not None and self.interval < timedelta(minutes=1):
            raise ValueError("interval: must be at least 1m")
        if self.query is not None and self.every is None:
            raise ValueError(
                f"a query needs an interval (how old the last success may be): {self.frequency!r} gives none"
            )
        return self


class Backup(Watched):
    """A row of the manual's backup table; its heartbeat's name defaults to its type ("Database" -> database)."""

    type: str
    retention: str
    location: str

    @model_validator(mode="after")
    def _default_name(self) -> Backup:
        if not self.name:
            slug = re.sub(r"[^a-z0-9]+", "-", self.type.lower()).strip("-")[:40].strip("-")
            if not slug:
                raise ValueError(f"name: {self.type!r} gives no name: set one (a-z, 0-9, -)")
            object.__setattr__(self, "name", slug)
        return self


class Heartbeat(Watched):
    """Another scheduled job watched as the backups are (config `heartbeats:`)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    type: str = ""  # what it is, as shown (default: its name)

    @model_validator(mode="after")
    def _default_type(self) -> Heartbeat:
        if not self.type:
            object.__setattr__(self, "type", self.name)
        return self


class Handoff(Section):
    day: Literal[WEEKDAYS] = "monday"  # type: ignore[valid-type]
    time: TimeOfDay = time(10, 0)

    @field_validator("day", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


_DAY_ABBREVIATIONS = tuple(day[:3] for day in WEEKDAYS)


class WorkingHours(Section):
    """Working time on the team's wall clock: the on-call report counts the hours on call outside it."""

    days: str = "mon-fri"  # a range (mon-fri) or a list (mon,tue,thu)
    start: TimeOfDay = time(9, 0)
    end: TimeOfDay = time(18, 0)

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        _weekdays(value)
        return value.lower()

    @model_validator(mode="after")
    def _start_before_end(self) -> WorkingHours:
        if self.end <= self.start:
            raise ValueError("working_hours: end must be after start (same day)")
        return self

    @property
    def weekdays(self) -> frozenset[int]:
        """Monday 0 … Sunday 6."""
        return _weekdays(self.days)


def _weekdays(text: str) -> frozenset[int]:
    found: set[int] = set()
    for part in text.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in _DAY_ABBREVIATIONS or (last and last not in _DAY_ABBREVIATIONS):
            raise ValueError(f"{text!r} is not a list of days (use e.g. mon-fri or mon,tue,thu)")
        a, b = _DAY_ABBREVIATIONS.index(first), _DAY_ABBREVIATIONS.index(last or first)
        found |= {d % 7 for d in range(a, b + 1 if b >= a else b + 8)}
    return frozenset(found)


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
    working_hours: WorkingHours = WorkingHours()  # the on-call report's "out of hours" is outside these
    # Urgent cover (`/oncall cover`) nobody has taken after this long is put to the on-call manager.
    cover_ask_manager_after: Duration = timedelta(minutes=15)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Asia/Seoul)") from None
        return value

    @field_validator("engineers", "managers")
    @classmethod
    def _once_each(cls, people: list[str]) -> list[str]:
        # Week n's primary is engineers[n] and its secondary engineers[n + 1]: someone listed twice would be
        # on call twice as often, or primary and secondary at once (nobody to escalate to).
        twice = sorted({p for p in people if people.count(p) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} listed more than once: list each person once")
        return people

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

    channel: ChannelName = "#zzik-support"
    severities: list[Severity] = [Severity.P1, Severity.P2]
    # An incident of these severities with no stakeholder update for `remind_after`: the manager is reminded.
    remind_severities: list[Severity] = [Severity.P1]
    remind_after: Duration = timedelta(minutes=30)
    status_page_title: str = Field(default="ZZIK LIVE status", min_length=1, max_length=100)


class PagerDuty(Section):
    """Paging through PagerDuty (Events API v2), beside the Slack DM, when a routing key is set."""

    # Declaring an incident of these severities triggers a PagerDuty incident.
    severities: list[Severity] = [Severity.P1, Severity.P2]
    severity_map: dict[Severity, Literal["critical", "error", "warning", "info"]] = {
        Severity.P1: "critical",
        Severity.P2: "error",
        Severity.P3: "warning",
        Severity.P4: "info",
    }
    # Per-severity integration keys overriding ZZIK_PAGERDUTY_ROUTING_KEY (e.g. P1 to a louder service).
    routing_keys: dict[Severity, str] = {}
    source: str = Field(default="zzik-ops-bot", min_length=1, max_length=255)
    # PagerDuty user id -> Slack user (id or email): who acknowledged or resolved in PagerDuty, in Slack's terms.
    users: dict[str, Member] = {}
