"""The weekly and monthly reviews: when such a checklist is posted, the period's figures follow in its thread
(alerts by rule, incidents by severity, deploys and rollbacks, and the error-rate and p95 trend from Prometheus)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta, tzinfo

from bot import log
from bot.alerts import api as alerts
from bot.deploys import api as deploys
from bot.incidents import api as incidents
from bot.incidents.models import Incident
from bot.maintenance import api as maintenance
from bot.maintenance.events import ChecklistPosted
from bot.prom import PrometheusError, with_window
from bot.reviews import messages, store
from bot.reviews.models import Period, Review, Severity, Trend
from bot.services import Services, zone

logger = log.get("zzik.reviews")
# The checklist items the figures serve: "Review performance trends", "Performance audit", "SLO review" ...
REVIEWED = re.compile(r"\b(review|audit|performance)\b", re.IGNORECASE)
NO_PROMETHEUS = "no Prometheus is configured (`prometheus.url`)"


def period_of(kind: str, due_at: datetime, tz: tzinfo) -> Period | None:
    """The 7 days before a weekly checklist; the calendar month before a monthly one; None for others. Both on the
    team's calendar (`tz`, config oncall.timezone: a month starts at its local midnight), returned in UTC."""
    local = due_at.astimezone(tz)
    if kind == "weekly":  # wall-clock days: a week across a clock change is 167 or 169 hours
        return Period(kind, _utc(local - timedelta(days=7)), _utc(local), _utc(local - timedelta(days=14)))
    if kind == "monthly":
        ends = datetime(local.year, local.month, 1, tzinfo=tz)
        starts = _month_before(ends)
        return Period(kind, _utc(starts), _utc(ends), _utc(_month_before(starts)))
    return None


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC)


def _month_before(first: datetime) -> datetime:
    return first.replace(year=first.year - 1, month=12) if first.month == 1 else first.replace(month=first.month - 1)


async def checklist_posted(services: Services, posted: ChecklistPosted) -> None:
    """A checklist was recorded (the Job.POST subscriber): a weekly or monthly one with a review gets its figures."""
    items = [item for item in posted.items if REVIEWED.search(item)]
    record = await maintenance.get(services.db, posted.post_id)
    period = None if record is None else period_of(posted.kind, record.due_at, zone(services))
    if record is None or period is None or not items:
        return
    if record.ts is None or record.channel is None:  # both are set together when it is posted
        raise RuntimeError("the checklist is not posted yet; its review follows it")
    daily = services.config.maintenance.checklists.get("daily")  # type: ignore[call-overload]
    served = [item for item in daily.items if REVIEWED.search(item)] if daily and posted.kind == "weekly" else []
    review = await gather(services, period, items, served)
    text, blocks = messages.review(review, zone(services))
    async with services.db.transaction() as conn:
        if await store.claim_post(conn, f"{posted.kind}:{posted.post_id}", services.clock.now()):
            await services.slack.chat_postMessage(channel=record.channel, thread_ts=record.ts, text=text, blocks=blocks)


async def gather(services: Services, period: Period, items: list[str], daily_items: list[str]) -> Review:
    """The period's figures from the database, and the trend from Prometheus when it answers."""
    starts, ends = period.starts, period.ends
    declared = [i for i in await incidents.declared_between(services.db, starts, ends) if starts <= i.declared_at]
    trends, not_measured = await _trends(services, period)
    return Review(
        period=period,
        items=items,
        daily_items=daily_items,
        alerts=await alerts.by_rule_between(services.db, starts, ends),
        incidents=by_severity([i for i in declared if i.declared_at < ends]),
        deploys=await deploys.outcomes_between(services.db, starts, ends),
        trends=trends,
        not_measured=not_measured,
    )


def by_severity(declared: list[Incident]) -> list[Severity]:
    out = []
    for severity in sorted({i.severity for i in declared}):
        these = [i for i in declared if i.severity == severity]
        out.append(
            Severity(
                severity=str(severity),
                declared=len(these),
                still_open=sum(1 for i in these if i.resolved_at is None),
                to_acknowledge=[i.acknowledged_at - i.declared_at for i in these if i.acknowledged_at],
                to_resolve=[i.resolved_at - i.declared_at for i in these if i.resolved_at],
            )
        )
    return out


async def _trends(services: Services, period: Period) -> tuple[list[Trend], str | None]:
    """The error rate and p95 over the period and over the one before it (None: why not measured)."""
    prom = services.prometheus
    if prom is None:
        return [], NO_PROMETHEUS
    config = services.config.prometheus
    # This period, then the one before (a month before may be shorter).
    spans = ((period.ends, period.ends - period.starts), (period.starts, period.starts - period.previous_starts))
    queries = (("error rate", "%", config.error_ratio), ("p95", "s", config.latency_p95))
    try:
        async with asyncio.timeout(prom.timeout.total_seconds()):
            values = await asyncio.gather(
                *(prom.value(with_window(query, window), at) for _, _, query in queries for at, window in spans),
                return_exceptions=True,
            )
    except TimeoutError:
        values = [PrometheusError(f"Prometheus did not answer within {prom.timeout.total_seconds():g} s")]
    failed = next((v for v in values if isinstance(v, BaseException)), None)
    if failed is not None and not isinstance(failed, PrometheusError):
        raise failed
    if failed is not None:
        logger.warning("review trend not measured", error=str(failed))
        return [], f"Prometheus is unavailable ({failed})"
    numbers = [v for v in values if not isinstance(v, BaseException)]
    return [Trend(name, unit, numbers[2 * i], numbers[2 * i + 1]) for i, (name, unit, _) in enumerate(queries)], None
