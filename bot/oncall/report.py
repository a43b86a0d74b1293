"""`/oncall report [YYYY-MM]`: one month's figures behind "on-call compensation per company policy", per person
and role: hours on call (overrides included), of those the hours outside working time (config
`oncall.working_hours`, on the team's wall clock), pages received (the incidents' page DMs and the alerts' pages
and escalations, as each domain recorded them) and incidents worked (open in the month, and the person was its
commander, acknowledged it or resolved it; counted under the role they held when it was declared, or the month
began, else under "not on call").

Managers only (`Do.ONCALL_REPORT`). Answered after the ack; the CSV is uploaded to the asker's DM with the bot
(files.uploadV2: files.getUploadURLExternal, the upload, files.completeUploadExternal). Default month: the last
complete one; the current month gives the figures so far.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from slack_sdk.errors import SlackRequestError

from bot import policy
from bot.alerts import api as alerts
from bot.errors import Invalid
from bot.incidents import api as incidents
from bot.incidents.models import Incident
from bot.oncall import messages_calendar as messages
from bot.oncall.shifts import TICK, Shift, shifts
from bot.opsconfig.sections import WorkingHours
from bot.policy import Do
from bot.rota import store as rota_store
from bot.rota.lookup import rotation
from bot.rota.rotation import ROLES
from bot.services import Services
from bot.services import zone as team_zone
from bot.slack.failures import attempt

NOBODY = ""  # the user of the hours a role had nobody in it
NOT_ON_CALL = "-"  # the role of an incident worked by someone not on call when it was declared
CSV_COLUMNS = ("month", "user_id", "name", "role", "hours_on_call", "hours_out_of_hours", "pages", "incidents_worked")


@dataclass
class Line:
    user: str  # a Slack user id (an email Slack does not know, as configured); NOBODY: nobody held the role
    role: str
    hours: float = 0.0
    out_of_hours: float = 0.0
    pages: int = 0
    incidents: list[int] = field(default_factory=list)  # incident numbers


@dataclass(frozen=True)
class Report:
    month: date  # its first day
    starts_at: datetime
    ends_at: datetime  # the month's end, or now for the month so far
    so_far: bool
    zone: ZoneInfo
    working: WorkingHours
    lines: list[Line]
    names: dict[str, str]

    @property
    def hours(self) -> float:
        # In UTC: two times on the same zone subtract on the wall clock (March in Berlin would be 744 h, not 743).
        return (self.ends_at.astimezone(UTC) - self.starts_at.astimezone(UTC)).total_seconds() / 3600

    def role_hours(self, role: str) -> float:
        return sum(line.hours for line in self.lines if line.role == role)


def month_bounds(month: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The month's first and the next month's first midnight on the team's wall clock."""
    first = datetime.combine(month.replace(day=1), time(0), tzinfo=zone)
    nxt = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, datetime.combine(nxt, time(0), tzinfo=zone)


def previous_month(now: datetime, zone: ZoneInfo) -> date:
    return (now.astimezone(zone).date().replace(day=1) - timedelta(days=1)).replace(day=1)


def working_spans(
    working: WorkingHours, zone: ZoneInfo, starts: datetime, ends: datetime
) -> list[tuple[datetime, datetime]]:
    """Working time in [starts, ends), as absolute spans (each working day's start to end, on the wall clock)."""
    spans = []
    day = starts.astimezone(zone).date()
    while datetime.combine(day, time(0), tzinfo=zone) < ends:
        if day.weekday() in working.weekdays:
            a = datetime.combine(day, working.start, tzinfo=zone)
            b = datetime.combine(day, working.end, tzinfo=zone)
            if a < ends and b > starts:
                spans.append((max(a, starts), min(b, ends)))
        day += timedelta(days=1)
    return spans


def _overlap_hours(shift: Shift, spans: Iterable[tuple[datetime, datetime]]) -> float:
    seconds = 0.0
    for a, b in spans:
        lo, hi = max(a, shift.starts_at), min(b, shift.ends_at)
        if lo < hi:
            seconds += (hi - lo).total_seconds()
    return seconds / 3600


def _is_user(who: str | None) -> bool:
    return bool(who) and str(who)[:1] in "UW" and "@" not in str(who)


class _Tally:
    """The report's lines as they are counted, one per (person, role)."""

    def __init__(self, held: list[Shift], ids: dict[str, str]) -> None:
        self.held = held
        self.ids = ids
        self.lines: dict[tuple[str, str], Line] = {}

    def line(self, user: str, role: str) -> Line:
        return self.lines.setdefault((user, role), Line(user, role))

    def hours(self, spans: list[tuple[datetime, datetime]]) -> None:
        for s in self.held:
            entry = self.line(self.ids[s.member] if s.member else NOBODY, s.role)
            entry.hours += s.hours
            entry.out_of_hours += s.hours - _overlap_hours(s, spans)

    def role_at(self, person: str, at: datetime) -> str:
        """The role `person` held at `at`, or NOT_ON_CALL."""
        for s in self.held:
            if s.member and self.ids[s.member] == person and s.starts_at <= at < s.ends_at:
                return s.role
        return NOT_ON_CALL

    def incident(self, incident: Incident, starts: datetime, ends: datetime) -> None:
        at = min(max(incident.declared_at, starts), ends - TICK)
        people = {incident.commander, incident.acknowledged_by, incident.resolved_by}
        for person in sorted(p for p in people if p and _is_user(p)):
            self.line(person, self.role_at(person, at)).incidents.append(incident.number)


async def build(services: Services, month: date | None) -> Report:
    zone = team_zone(services)
    now = services.clock.now()
    month = month or previous_month(now, zone)
    starts, ends = month_bounds(month, zone)
    if starts > now:
        raise Invalid(messages.report_not_begun(month))
    so_far = ends > now
    ends = min(ends, now)
    overrides = await rota_store.overlapping(services.db, starts, ends)
    held = [c for s in shifts(rotation(services), overrides, starts, ends) if (c := s.clipped(starts, ends))]
    tally = _Tally(held, {m: await services.users.resolve(m) or m for m in {s.member for s in held if s.member}})
    working = services.config.oncall.working_hours
    tally.hours(working_spans(working, zone, starts, ends))
    for page in await incidents.pages_delivered(services.db, starts, ends):
        tally.line(page.user_id, page.role).pages += 1
    for alert_page in await alerts.pages_sent(services.db, starts, ends):
        tally.line(alert_page.user_id, alert_page.role).pages += 1
    for incident in await incidents.open_during(services.db, starts, ends):
        tally.incident(incident, starts, ends)
    names = {u: await services.users.name(u) or u for u, _ in tally.lines if _is_user(u)}
    order = {r: i for i, r in enumerate((*ROLES, NOT_ON_CALL))}
    ordered = sorted(
        tally.lines.values(),
        key=lambda x: (x.user == NOBODY, names.get(x.user, x.user).lower(), order.get(x.role, 9)),
    )
    return Report(month, starts, ends, so_far, zone, working, ordered, names)


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for x in report.lines:
        name = "nobody" if x.user == NOBODY else report.names.get(x.user, x.user)
        writer.writerow(
            [
                report.month.strftime("%Y-%m"),
                _cell(x.user),
                _cell(name),
                x.role,
                f"{x.hours:.2f}",
                f"{x.out_of_hours:.2f}",
                x.pages,
                len(x.incidents),
            ]
        )
    return out.getvalue()


def _cell(text: str) -> str:
    """A spreadsheet reads a cell starting with = + - @ as a formula: a name never runs as one."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def report(services: Services, viewer: str, month: date | None) -> tuple[str, list]:
    """The month's report for a manager: the figures as the answer, and the CSV in their DM with the bot."""
    await policy.require(services, Do.ONCALL_REPORT, viewer)
    built = await build(services, month)
    filename = f"oncall-report-{built.month:%Y-%m}.csv"
    upload = services.slack.files_upload_v2(
        channels=[viewer],
        filename=filename,
        title=messages.report_title(built),
        content=to_csv(built),
        initial_comment=messages.report_title(built),
    )
    try:
        failed = await attempt("on-call report CSV not uploaded", upload)
        why = failed.reason if failed else None
    except SlackRequestError as exc:  # the upload itself (step 2) refused
        why = str(exc)[:200]
    return messages.report(built, filename, why)
