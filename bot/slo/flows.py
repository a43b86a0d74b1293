"""/slo and the monthly SLO report: the manual's objectives measured in Prometheus."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import log
from bot.errors import Invalid
from bot.jobs import JobRun
from bot.maintenance import api as maintenance
from bot.maintenance.events import ChecklistPosted
from bot.prom import PrometheusError
from bot.services import Services
from bot.slack.blocks import Blocks
from bot.slo import measure, messages, store
from bot.slo.ids import Job

logger = log.get("zzik.slo")
NO_PROMETHEUS = "Not measured: no Prometheus is configured (`prometheus.url` in the ops config)."


async def live(services: Services) -> tuple[str, Blocks]:
    groups = services.config.slos
    if services.prometheus is None:
        return "Service level objectives", messages.tables(groups, NO_PROMETHEUS)
    at = services.clock.now()
    try:
        rows = await measure.now(services.prometheus, services.config.prometheus, groups, at)
    except PrometheusError as exc:
        return messages.unavailable(groups, str(exc))
    return messages.live(rows, at)


def month_of(year: int, month: int) -> tuple[datetime, datetime]:
    starts = datetime(year, month, 1, tzinfo=UTC)
    ends = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return starts, ends


def previous_month(at: datetime) -> tuple[int, int]:
    at = at.astimezone(UTC)
    return (at.year - 1, 12) if at.month == 1 else (at.year, at.month - 1)


async def report(services: Services, year: int | None, month: int | None) -> tuple[str, Blocks]:
    """The SLOs over one calendar month (UTC); by default the month before this one."""
    now = services.clock.now()
    if year is None or month is None:
        year, month = previous_month(now)
    starts, ends = month_of(year, month)
    label = f"{year:04d}-{month:02d}"
    if starts >= now:
        raise Invalid(f"{label} has not started yet: name a past month.")
    if services.prometheus is None:
        return f"SLO report {label}", messages.tables(services.config.slos, NO_PROMETHEUS)
    try:
        config = services.config
        rows = await measure.month(services.prometheus, config.prometheus, config.slos, starts, min(ends, now))
    except PrometheusError as exc:
        return messages.unavailable(services.config.slos, str(exc))
    return messages.report(rows, label, partial=ends > now)


# -- the monthly checklist's "SLO review" ------------------------------------------------------------------------


async def review_due(services: Services, posted: ChecklistPosted) -> None:
    """A maintenance checklist was recorded (the Job.REVIEW_DUE subscriber): an SLO review gets its report."""
    if posted.kind != "monthly" or services.prometheus is None:
        return
    if not any("slo" in item.lower() for item in posted.items):
        return
    async with services.db.transaction() as conn:
        payload = {"post_id": posted.post_id}
        await services.jobs.schedule_once(conn, Job.MONTHLY_REPORT, str(posted.post_id), services.clock.now(), payload)


async def post_monthly_report(services: Services, run: JobRun, final_attempt: bool) -> None:
    """The past month's SLO report in the thread of the monthly checklist (once)."""
    post_id = int(run.payload["post_id"])
    record = await maintenance.get(services.db, post_id)
    if record is None or services.prometheus is None:
        return
    if record.ts is None or record.channel is None:  # both are set together when it is posted
        raise RuntimeError("the monthly checklist is not posted yet; its report follows it")
    year, month = previous_month(record.due_at)
    starts, ends = month_of(year, month)
    label = f"{year:04d}-{month:02d}"
    try:
        rows = await measure.month(services.prometheus, services.config.prometheus, services.config.slos, starts, ends)
        text, blocks = messages.report(rows, label, partial=False)
    except PrometheusError as exc:
        if not final_attempt:
            raise
        text, blocks = messages.unavailable(services.config.slos, f"{exc} (for the {label} SLO review)")
    async with services.db.transaction() as conn:
        if await store.claim_post(conn, f"monthly:{post_id}", services.clock.now()):
            await services.slack.chat_postMessage(channel=record.channel, thread_ts=record.ts, text=text, blocks=blocks)
