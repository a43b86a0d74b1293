"""Processing a stored delivery into firing episodes: one row per episode (fingerprint + startsAt), so repeats,
HA duplicates and stale firings change nothing; a stormy group goes into a digest; each new episode brings its
durable follow-ups (pages, escalations, the deploy's thread, an auto-declared incident); a resolved episode is
announced (AlertResolved) in the same transaction."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from bot import log
from bot.alerts import payloads, rules, store
from bot.alerts.events import AlertResolved
from bot.alerts.ids import Job, Status
from bot.alerts.models import Alert
from bot.deploys import api as deploys
from bot.events import Published
from bot.opsconfig import Severity
from bot.rota.lookup import who_is_on_call
from bot.services import Services

logger = log.get("zzik.alerts")


def escalation_plan(priority: str, response_time: timedelta) -> list[tuple[str, timedelta]]:
    """Who is paged, and when, while nobody acknowledges: a P1 has DMed the primary already."""
    roles = ["secondary", "manager"] if priority == Severity.P1 else ["primary", "secondary", "manager"]
    return [(role, response_time * step) for step, role in enumerate(roles, start=1)]


@dataclass(frozen=True)
class Processed:
    """What processing a delivery left due: the channels with messages to send, and the event runs to start once
    it committed (`services.events.after_commit`)."""

    channels: set[str] = field(default_factory=set)
    published: Published = field(default_factory=Published)


async def process(services: Services, delivery_id: int) -> Processed:
    """Turn a stored delivery into episodes and due messages, and say what resolved (events)."""
    now = services.clock.now()
    config = services.config
    channel = config.channels.alerts
    on_call = await who_is_on_call(services, now)
    primary = on_call.primary.user if on_call.primary.user and "@" not in on_call.primary.user else None
    async with services.db.transaction() as conn:
        claimed = await store.claim_delivery(conn, delivery_id)
        if claimed is None:
            return Processed()
        source, body = claimed
        published = Published()
        fresh: list[Alert] = []
        digests: set[int] = set()
        group_labels: dict[str, dict[str, str]] = {}
        for item in _readable(delivery_id, source, body):
            group_labels[item.group_key] = item.group_labels
            existing = await store.episode(conn, source, item.fingerprint, item.starts_at)
            if existing is None:
                created = await _new_episode(services, conn, source, item, now, channel, primary)
                if created is not None and created.firing:
                    fresh.append(created)
            elif item.status == Status.RESOLVED and existing.firing:
                published += await _resolved(services, conn, existing, item.ends_at or now, now)
                if existing.digest_id:
                    digests.add(existing.digest_id)
            # Otherwise a repeat, the HA twin's copy, or a stale firing after the resolve: nothing changes.
        own = await _storms(services, conn, fresh, now, channel, digests, group_labels)
        for alert in own:
            await _follow_ups(services, conn, alert, now)
        for digest_id in digests:
            await store.touch_digest(conn, digest_id, now)
        await store.delivery_done(conn, delivery_id, now)
        await services.jobs.schedule_once(conn, Job.SEND, f"{channel}:d{delivery_id}", now, {"channel": channel})
    return Processed({channel}, published)


def _readable(delivery_id: int, source: str, body: Any) -> list[payloads.Incoming]:
    """A stored delivery's alerts. Only readable ones are stored since ingest reads each on its own; one stored
    before that (or by a release that read differently) loses only its unreadable alerts, never the rest."""
    try:
        _, readable, unreadable = payloads.read(source, body)
    except ValidationError as exc:
        logger.error("stored alert delivery unreadable", delivery=delivery_id, error=payloads.problem(exc))
        return []
    for item in unreadable:
        logger.error("stored alert unreadable", delivery=delivery_id, error=item.reason)
    return readable


async def _new_episode(
    services: Services,
    conn: Any,
    source: str,
    item: payloads.Incoming,
    now: datetime,
    channel: str,
    primary: str | None,
) -> Alert | None:
    config = services.config
    meaning = rules.meaning(config, item.labels)
    previous = await store.previous_episode(conn, source, item.fingerprint, item.starts_at)
    in_window = await store.episodes_since(conn, source, item.fingerprint, item.starts_at - config.alerting.flap_window)
    flapping = previous is not None and in_window + 1 >= config.alerting.flap_episodes
    deploy = await deploys.watching(conn, item.starts_at) if item.status == Status.FIRING else None
    firing = item.status == Status.FIRING
    alert = await store.insert(
        conn,
        source=source,
        **item.as_received(),
        resolved_seen_at=None if firing else now,
        priority=meaning.priority,
        response_time=meaning.response_time,
        rule=meaning.rule.name if meaning.rule else None,
        runbook=meaning.runbooks[0].slug if meaning.runbooks else None,
        runbook_url=item.annotations.get("runbook_url") or item.labels.get("runbook_url"),
        channel=channel,
        root_id=(previous.root_id or previous.id) if previous else None,
        previous_id=previous.id if previous else None,
        episode=previous.episode + 1 if previous else 1,
        flapping=flapping,
        primary_user=primary,
        deploy_id=deploy.id if deploy else None,
        version=1,
        # An episode first seen already resolved (its firing was never delivered) is recorded, not announced.
        sent_version=0 if firing else 1,
        dirty_at=now,
        created_at=now,
    )
    if alert is not None and flapping and previous is not None:
        root = await store.get(conn, previous.root_id or previous.id, for_update=True)
        if root is not None:
            await store.change(conn, root.id, now, flapping=True)  # the thread's head shows the label and count
    return alert


async def _resolved(services: Services, conn: Any, alert: Alert, ends_at: datetime, now: datetime) -> Published:
    await store.change(conn, alert.id, now, status=Status.RESOLVED, ends_at=ends_at, resolved_seen_at=now)
    await services.jobs.cancel_prefix(conn, Job.ESCALATE, f"{alert.id}:")
    if alert.incident_id:
        await services.jobs.schedule_once(conn, Job.INCIDENT_NOTE, str(alert.id), now, {"alert_id": alert.id})
    return await services.events.publish(conn, AlertResolved(alert_id=alert.id, priority=alert.priority, at=ends_at))


async def _storms(
    services: Services,
    conn: Any,
    fresh: list[Alert],
    now: datetime,
    channel: str,
    digests: set[int],
    group_labels: dict[str, dict[str, str]],
) -> list[Alert]:
    """Put the new alerts of a stormy group into its digest; the others keep their own message."""
    settings = services.config.alerting
    by_group: dict[str, list[Alert]] = defaultdict(list)
    for alert in fresh:
        by_group[alert.group_key or ""].append(alert)
    own: list[Alert] = []
    for key, group in by_group.items():
        digest = await store.current_digest(conn, key)
        stormy = await store.recent_in_group(conn, key, now - settings.storm_window) > settings.digest_after
        if digest is None and stormy:
            digest = await store.open_digest(conn, key, group_labels.get(key, {}), channel, now)
            await _digest_follow_ups(services, conn, digest.id, group, now)
        if digest is None:
            own += group
            continue
        await store.absorb(conn, key, digest.id, now)
        digests.add(digest.id)
    return own


async def _follow_ups(services: Services, conn: Any, alert: Alert, now: datetime) -> None:
    """The durable work a new episode implies: pages, escalations, the deploy's thread, an auto-declared incident."""
    jobs = services.jobs
    if alert.priority == Severity.P1:
        await jobs.schedule_once(conn, Job.PAGE, str(alert.id), now, {"alert_id": alert.id})
    for step, (role, after) in enumerate(escalation_plan(alert.priority, alert.response_time), start=1):
        await jobs.schedule_once(
            conn, Job.ESCALATE, f"{alert.id}:{step}", now + after, {"alert_id": alert.id, "role": role}
        )
    if alert.deploy_id:
        await jobs.schedule_once(conn, Job.DEPLOY_NOTE, str(alert.id), now, {"alert_id": alert.id})
    if alert.priority in services.config.alerting.auto_declare:
        await jobs.schedule_once(conn, Job.DECLARE, str(alert.id), now, {"alert_id": alert.id})


async def _digest_follow_ups(services: Services, conn: Any, digest_id: int, group: list[Alert], now: datetime) -> None:
    top = min(group, key=lambda a: (a.priority, a.response_time))
    if top.priority == Severity.P1:
        await services.jobs.schedule_once(conn, Job.PAGE, f"d{digest_id}", now, {"digest_id": digest_id})
    for step, (role, after) in enumerate(escalation_plan(top.priority, top.response_time), start=1):
        await services.jobs.schedule_once(
            conn, Job.ESCALATE, f"d{digest_id}:{step}", now + after, {"digest_id": digest_id, "role": role}
        )
