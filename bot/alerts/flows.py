"""Alert stories: a delivery stored, processed into firing episodes, posted at Slack's pace; and the buttons.

Receiving only stores (the sender gets its 2xx once the delivery is in PostgreSQL). The job runner processes it:
one row per episode (fingerprint + startsAt), so repeats, HA duplicates and stale firings change nothing. What
Slack must show is a version number on the row; the sender posts or edits the oldest due message of a channel,
one per `ZZIK_ALERT_PACE_SECONDS`, and a refusal (429, outage) leaves it due and comes back later.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import audit, log, policy
from bot.alerts import messages, payloads, rules, silences, store
from bot.alerts.ids import Job
from bot.alerts.store import Alert
from bot.deploys import flows as deploy_flows
from bot.deploys import store as deploys
from bot.errors import Refused, UsageError
from bot.incidents import flows as incident_flows
from bot.incidents import messages as incident_messages
from bot.incidents import store as incidents
from bot.oncall.lookup import who_is_on_call
from bot.pagerduty import alert_pages as pd_alerts
from bot.pagerduty import flows as pagerduty
from bot.runbooks import flows as runbook_flows
from bot.services import Services
from bot.slack.blocks import when
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.text import escape, mention

logger = log.get("zzik.alerts")
SEND_BUDGET = 8.0  # seconds one sender run may spend waiting for the pace before it hands over to a later run
MAX_BACKOFF = timedelta(minutes=5)
SWEEP_EVERY = timedelta(seconds=10)
SWEEP_GRACE = timedelta(seconds=30)  # a delivery older than this and unprocessed: its run's replica died


def zone(services: Services):
    return services.config.oncall.zone


def wall() -> datetime:
    """Real time, for Slack's pace and Alertmanager's silences: they run on the world's clock, not ours."""
    return datetime.now(UTC)


# -- receiving ------------------------------------------------------------------------------------------------


async def receive(services: Services, source: str, body: str, group_key: str | None, count: int) -> int:
    """Store one delivery and the job that processes it, in one transaction. Raises when it could not be stored."""
    now = services.clock.now()
    async with services.db.transaction() as conn:
        delivery_id = await store.add_delivery(conn, source, now, group_key, count, body)
        await services.jobs.schedule_once(conn, Job.PROCESS, str(delivery_id), now, {"delivery_id": delivery_id})
    services.metrics.requests.labels("webhook", f"hooks/{source}", "stored").inc()
    return delivery_id


# -- processing -----------------------------------------------------------------------------------------------


def escalation_plan(priority: str, response_time: timedelta) -> list[tuple[str, timedelta]]:
    """Who is paged, and when, while nobody acknowledges: a P1 has DMed the primary already."""
    roles = ["secondary", "manager"] if priority == "P1" else ["primary", "secondary", "manager"]
    return [(role, response_time * step) for step, role in enumerate(roles, start=1)]


async def process(services: Services, delivery_id: int) -> set[str]:
    """Turn a stored delivery into episodes and due messages. Returns the channels with something due."""
    now = services.clock.now()
    config = services.config
    channel = config.channels.alerts
    on_call = await who_is_on_call(services, now)
    primary = on_call.primary.user if on_call.primary.user and "@" not in on_call.primary.user else None
    async with services.db.transaction() as conn:
        claimed = await store.claim_delivery(conn, delivery_id)
        if claimed is None:
            return set()
        source, body = claimed
        fresh: list[Alert] = []
        digests: set[int] = set()
        group_labels: dict[str, dict[str, str]] = {}
        for item in payloads.parse(source, body):
            group_labels[item.group_key] = item.group_labels
            existing = await store.episode(conn, source, item.fingerprint, item.starts_at)
            if existing is None:
                created = await _new_episode(services, conn, source, item, now, channel, primary)
                if created is not None and created.firing:
                    fresh.append(created)
            elif item.status == "resolved" and existing.firing:
                await _resolved(services, conn, existing, item.ends_at or now, now)
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
    return {channel}


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
    deploy = await deploys.watching(conn, item.starts_at) if item.status == "firing" else None
    firing = item.status == "firing"
    alert = await store.insert(
        conn,
        source=source,
        fingerprint=item.fingerprint,
        starts_at=item.starts_at,
        alertname=item.alertname,
        labels=item.labels,
        annotations=item.annotations,
        generator_url=item.generator_url,
        values_text=item.values_text,
        group_key=item.group_key,
        status=item.status,
        ends_at=item.ends_at,
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


async def _resolved(services: Services, conn: Any, alert: Alert, ends_at: datetime, now: datetime) -> None:
    await store.change(conn, alert.id, now, status="resolved", ends_at=ends_at, resolved_seen_at=now)
    await services.jobs.cancel_prefix(conn, Job.ESCALATE, f"{alert.id}:")
    await pd_alerts.resolved(services, conn, alert, now)
    if alert.incident_id:
        await services.jobs.schedule_once(conn, Job.INCIDENT_NOTE, str(alert.id), now, {"alert_id": alert.id})


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
    if alert.priority == "P1":
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
    if top.priority == "P1":
        await services.jobs.schedule_once(conn, Job.PAGE, f"d{digest_id}", now, {"digest_id": digest_id})
    for step, (role, after) in enumerate(escalation_plan(top.priority, top.response_time), start=1):
        await services.jobs.schedule_once(
            conn, Job.ESCALATE, f"d{digest_id}:{step}", now + after, {"digest_id": digest_id, "role": role}
        )


# -- sending at Slack's pace ----------------------------------------------------------------------------------


async def send(services: Services, channel: str, *, budget: float = SEND_BUDGET) -> int:
    """Post or edit what is due in one channel, oldest first, one call per pace interval. Returns calls made.

    The channel's pace row is locked for each call, so replicas take turns. When the wait would exceed `budget`,
    or Slack refuses (429, outage), a later run is scheduled and nothing due is dropped."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + budget
    pace = timedelta(seconds=services.settings.zzik_alert_pace_seconds)
    calls = 0
    while True:
        async with services.db.transaction() as conn:
            next_at, retry_at = await store.pace(conn, channel, wall())
            if retry_at is not None and retry_at > services.clock.now():
                return calls  # backing off after an outage; the run scheduled for retry_at resumes
            due = await store.next_unsent(conn, channel)
            if due is None:
                return calls
            wait = (next_at - wall()).total_seconds()
            if wait > 0:
                if loop.time() + wait > give_up_at:
                    await _send_later(services, conn, channel, wait)
                    return calls
                await asyncio.sleep(wait)
            kind, item_id, version = due
            try:
                where = await _render_and_send(services, conn, kind, item_id)
            except SLACK_FAILURES as exc:
                retry = _retry_after(exc)
                if retry is None:  # Slack refused this message for good: say so in the log, do not retry forever
                    logger.error("alert message refused by Slack", kind=kind, id=item_id, error=slack_error(exc))
                    await store.sent(conn, kind, item_id, version, None, slack_error(exc))
                    continue
                logger.warning("alert message delayed", kind=kind, id=item_id, error=slack_error(exc), retry=retry)
                if _rate_limited(exc):  # Slack said how long this channel must wait
                    await store.set_pace(conn, channel, wall() + timedelta(seconds=retry))
                else:
                    await store.set_retry(conn, channel, services.clock.now() + timedelta(seconds=retry))
                await _send_later(services, conn, channel, retry)
                return calls
            calls += 1
            await store.sent(conn, kind, item_id, version, where)
            await store.set_pace(conn, channel, wall() + pace)


def _rate_limited(exc: BaseException) -> bool:
    return isinstance(exc, SlackApiError) and exc.response.status_code == 429


def _retry_after(exc: BaseException) -> float | None:
    """Seconds to wait before trying again, or None when trying again cannot help."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        if status == 429:
            return float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)) or 1)
        if status >= 500:
            return 10.0
        error = slack_error(exc)
        if error in ("ratelimited", "fatal_error", "internal_error", "service_unavailable", "request_timeout"):
            return 10.0
        return None
    return 10.0  # timeouts and connection errors


async def _send_later(services: Services, conn: Any, channel: str, wait: float) -> None:
    wait = min(max(wait, 0.0), MAX_BACKOFF.total_seconds())
    due = services.clock.now() + timedelta(seconds=wait)
    # Runs for the same second collapse into one (the key), so a queue of due messages keeps one run waiting.
    second = int(wall().timestamp() + wait)
    await services.jobs.schedule_once(conn, Job.SEND, f"{channel}:t{second}", due, {"channel": channel})


async def _render_and_send(services: Services, conn: Any, kind: str, item_id: int) -> tuple[str, str]:
    if kind == "digest":
        digest = await store.digest(conn, item_id)
        assert digest is not None
        text, blocks = messages.digest_message(
            digest, await store.digest_alerts(conn, item_id), services.clock.now(), zone(services)
        )
        return await _post_or_update(services, digest.channel, digest.message_channel, digest.message_ts, text, blocks)
    alert = await store.get(conn, item_id)
    assert alert is not None
    text, blocks = messages.alert_message(alert, await _context(services, conn, alert))
    thread = None
    if not alert.message_ts and alert.root_id:
        root = await store.get(conn, alert.root_id)
        thread = root.message_ts if root else None
    return await _post_or_update(
        services,
        alert.channel,
        alert.message_channel,
        alert.message_ts,
        text,
        blocks,
        thread_ts=thread,
        broadcast=thread is not None and not alert.flapping,
    )


async def _post_or_update(
    services: Services,
    channel: str,
    message_channel: str | None,
    ts: str | None,
    text: str,
    blocks: list,
    *,
    thread_ts: str | None = None,
    broadcast: bool = False,
) -> tuple[str, str]:
    if ts and message_channel:
        await services.slack.chat_update(channel=message_channel, ts=ts, text=text, blocks=blocks)
        return message_channel, ts
    kwargs: dict[str, Any] = {"thread_ts": thread_ts, "reply_broadcast": True} if thread_ts and broadcast else {}
    if thread_ts and not broadcast:
        kwargs = {"thread_ts": thread_ts}
    response = await services.slack.chat_postMessage(
        channel=channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False, **kwargs
    )
    return str(response["channel"]), str(response["ts"])


async def _context(services: Services, conn: Any, alert: Alert) -> messages.Context:
    config = services.config
    note = None
    if alert.deploy_id:
        deploy = await deploys.get(conn, alert.deploy_id)
        if deploy is not None:
            note = deploy_note(alert, deploy)
    incident_ref = None
    if alert.incident_id:
        incident = await incidents.get(conn, alert.incident_id)
        incident_ref = incident.ref if incident else None
    flap_count = 0
    if alert.flapping:
        flap_count = await store.episodes_since(
            conn, alert.source, alert.fingerprint, services.clock.now() - config.alerting.flap_window
        )
    return messages.Context(
        now=services.clock.now(),
        zone=zone(services),
        runbooks=rules.meaning(config, alert.labels).runbooks,
        deploy=note,
        incident_ref=incident_ref,
        can_silence=bool(services.settings.zzik_alertmanager_url) and alert.source == "alertmanager",
        flap_count=max(flap_count, 2),
        flap_window=config.alerting.flap_window,
    )


def deploy_note(alert: Alert, deploy: deploys.Deploy) -> messages.DeployNote:
    finished = deploy.finished_at or deploy.created_at
    return messages.DeployNote(
        ref=deploy.ref,
        version=deploy.version,
        who=deploy.started_by or deploy.requested_by,
        minutes_after=max(0, int((alert.starts_at - finished).total_seconds() // 60)),
    )


async def _changed(services: Services, channel: str, key: str) -> None:
    """After a click changed an alert: its edit is due; send now if the pace allows, else a run comes back."""
    async with services.db.transaction() as conn:
        await services.jobs.schedule_once(
            conn, Job.SEND, f"{channel}:{key}", services.clock.now(), {"channel": channel}
        )
    await send(services, channel, budget=0)


async def sweep(services: Services) -> int:
    """Finish what a replica that died mid-way left: deliveries not processed, messages not sent. Each step is
    idempotent (a delivery is claimed FOR UPDATE and processed once; a message is due until Slack took it)."""
    channels: set[str] = set()
    for delivery_id in await store.stale_deliveries(services.db, services.clock.now() - SWEEP_GRACE):
        channels |= await process(services, delivery_id)
    channels |= set(await store.channels_with_unsent(services.db))
    calls = 0
    for channel in sorted(channels):
        calls += await send(services, channel)
    return calls


# -- the people: pages and escalation ------------------------------------------------------------------------


async def _dm_role(services: Services, role: str, text: str) -> tuple[str | None, str | None]:
    """DM whoever holds `role` now: (user, None), or (None, why nobody). A Slack failure raises, so the job that
    pages is retried by the runner (with backoff) rather than counted as done."""
    user = (await who_is_on_call(services, services.clock.now())).shift(role).user
    if not user or "@" in user:
        return None, f"nobody reachable is on call as {role}"
    await services.slack.chat_postMessage(channel=user, text=text)
    return user, None


async def page_primary(services: Services, alert_id: int | None, digest_id: int | None) -> bool:
    """A P1 alert (or storm) DMs the on-call primary at once."""
    if digest_id is not None:
        alerts = await store.digest_alerts(services.db, digest_id)
        firing = [a for a in alerts if a.firing]
        if not firing:
            return False
        text = messages.page_text(firing[0], f"Part of an alert storm: {len(firing)} alerts firing in its group")
        await pd_alerts.paged(services, firing[0])
    else:
        alert = await store.get(services.db, alert_id or 0)
        if alert is None or not alert.firing or alert.acknowledged_at:
            return False
        text = messages.page_text(alert, "You are the on-call primary")
        await pd_alerts.paged(services, alert)
    user, why = await _dm_role(services, "primary", text)
    if why:
        logger.error("P1 alert page not delivered", alert=alert_id, digest=digest_id, error=why)
    await _audit(
        services.db,
        "page",
        outcome="ok" if user else "error",
        detail={"alert": alert_id, "digest": digest_id, "paged": user, "error": why},
    )
    return user is not None


async def escalate(services: Services, alert_id: int | None, digest_id: int | None, role: str) -> bool:
    now = services.clock.now()
    if digest_id is not None:
        digest = await store.digest(services.db, digest_id)
        alerts = [a for a in await store.digest_alerts(services.db, digest_id) if a.firing]
        if digest is None or digest.acknowledged_at or not alerts:
            return False
        subject, since = alerts[0], digest.opened_at
        thread = (digest.message_channel, digest.message_ts)
    else:
        alert = await store.get(services.db, alert_id or 0)
        if alert is None or not alert.firing or alert.acknowledged_at:
            return False
        if alert.silenced_until and alert.silenced_until > wall():
            return False  # someone silenced it: they are on it
        subject, since = alert, alert.created_at
        thread = (alert.message_channel, alert.message_ts)
    waited = messages.duration(now - since)
    text = messages.page_text(subject, f"Not acknowledged after {waited}; escalating to you ({role})")
    user, why = await _dm_role(services, role, text)
    note = (
        f":arrow_up: Not acknowledged after {waited}: escalated to the {role} {mention(user)}."
        if user
        else f":warning: Not acknowledged after {waited}; the {role} could not be paged: {why}"
    )
    await _audit(
        services.db,
        "escalate",
        outcome="ok" if user else "error",
        detail={"alert": alert_id, "digest": digest_id, "role": role, "paged": user, "error": why},
    )
    if thread[0] and thread[1]:
        try:
            await services.slack.chat_postMessage(channel=thread[0], thread_ts=thread[1], text=note)
        except SLACK_FAILURES as exc:  # the page went out; only the note in the thread is missing
            logger.warning("escalation note not posted", alert=alert_id, digest=digest_id, error=slack_error(exc))
    return user is not None


# -- buttons --------------------------------------------------------------------------------------------------


async def _alert(services: Services, alert_id: int) -> Alert:
    alert = await store.get(services.db, alert_id)
    if alert is None:
        raise UsageError("That alert does not exist.", usage=False)
    return alert


async def acknowledge(services: Services, value: str, actor: str, request_id: str) -> str:
    await policy.require(services, policy.Do.ALERT_ACKNOWLEDGE, actor)
    now = services.clock.now()
    if value.startswith("d"):
        return await _acknowledge_digest(services, int(value[1:]), actor, request_id)
    async with services.db.transaction() as conn:
        alert = await store.get(conn, int(value), for_update=True)
        if alert is None:
            raise UsageError("That alert does not exist.", usage=False)
        if alert.acknowledged_at:
            return f"Already acknowledged by {mention(alert.acknowledged_by or '?')}."
        if not alert.firing:
            return f"{escape(alert.alertname)} has already resolved."
        alert = await store.change(conn, alert.id, now, acknowledged_at=now, acknowledged_by=actor)
        await services.jobs.cancel_prefix(conn, Job.ESCALATE, f"{alert.id}:")
        pd_run = await pd_alerts.acknowledged(services, conn, alert, now)
        await _audit(
            conn,
            "acknowledge",
            actor=actor,
            request_id=request_id,
            detail={"alert": alert.id, "alertname": alert.alertname},
        )
    await pagerduty.send_now(services, pd_run)
    await _changed(services, alert.channel, f"ack:{alert.id}")
    after = messages.duration(now - alert.starts_at)
    return f"You acknowledged {escape(alert.alertname)} ({alert.priority}) after {after}."


async def _acknowledge_digest(services: Services, digest_id: int, actor: str, request_id: str) -> str:
    now = services.clock.now()
    async with services.db.transaction() as conn:
        digest = await store.digest(conn, digest_id, for_update=True)
        if digest is None:
            raise UsageError("That alert storm does not exist.", usage=False)
        if digest.acknowledged_at:
            return f"Already acknowledged by {mention(digest.acknowledged_by or '?')}."
        acked = await store.acknowledge_digest_alerts(conn, digest_id, now, actor)
        for alert_id in acked:
            await services.jobs.cancel_prefix(conn, Job.ESCALATE, f"{alert_id}:")
        await services.jobs.cancel_prefix(conn, Job.ESCALATE, f"d{digest_id}:")
        await store.touch_digest(conn, digest_id, now, acknowledged_at=now, acknowledged_by=actor)
        await _audit(
            conn, "acknowledge", actor=actor, request_id=request_id, detail={"digest": digest_id, "alerts": len(acked)}
        )
    await _changed(services, digest.channel, f"ackd:{digest_id}")
    return f"You acknowledged the {len(acked)} alerts of this storm."


async def declare_form(services: Services, alert_id: int, reporter: str, channel: str | None) -> dict[str, Any]:
    alert = await _alert(services, alert_id)
    if alert.incident_id:
        incident = await incidents.get(services.db, alert.incident_id)
        raise UsageError(f"This alert is already part of {incident.ref if incident else 'an incident'}.", usage=False)
    link = None
    if alert.message_channel and alert.message_ts:
        link = f"https://slack.com/archives/{alert.message_channel}/p{alert.message_ts.replace('.', '')}"
    prefill = messages.declare_prefill(alert, link)
    return incident_messages.declare_modal(
        services.config,
        reporter,
        channel,
        title=prefill["title"],
        description=prefill["description"],
        source=link,
        severity=alert.priority,
        alert=alert.id,
    )


def declared_for(private_metadata: str) -> int | None:
    """The alert a Declare incident form was opened for, if any (see incidents.messages.declare_modal)."""
    if not private_metadata.startswith("{"):
        return None
    try:
        value = json.loads(private_metadata).get("alert")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None


async def link_incident(services: Services, alert_id: int, incident_id: int, actor: str | None) -> None:
    """An incident was declared from this alert: its timeline gets the alert, the alert's message links it."""
    now = services.clock.now()
    async with services.db.transaction() as conn:
        alert = await store.get(conn, alert_id, for_update=True)
        if alert is None or alert.incident_id == incident_id:
            return
        alert = await store.change(conn, alert_id, now, incident_id=incident_id)
        await incidents.add_event(
            conn,
            incident_id,
            now,
            actor,
            "alert",
            f"alert {alert.priority} {alert.alertname}: {alert.summary} (firing since "
            f"{alert.starts_at:%d %b %H:%M} UTC" + (", resolved" if not alert.firing else "") + ")",
        )
    await _changed(services, alert.channel, f"inc:{alert_id}:{incident_id}")


async def auto_declare(services: Services, alert_id: int) -> bool:
    alert = await store.get(services.db, alert_id)
    if alert is None or not alert.firing or alert.incident_id:
        return False
    reporter = alert.primary_user or (await who_is_on_call(services, services.clock.now())).primary.user
    if not reporter or "@" in reporter:
        logger.error("incident not auto-declared: nobody is on call as primary", alert=alert_id)
        return False
    result = await incident_flows.declare(
        services,
        key=f"alert:{alert.id}",
        # Incident text is stored as mrkdwn; the alert's is raw webhook text: escaped once here.
        title=escape(alert.summary[:140]),
        severity=alert.priority,
        reporter=reporter,
        description=escape(messages.declare_prefill(alert, None)["description"]),
        origin_channel=None,
    )
    await link_incident(services, alert.id, result.incident.id, None)
    return True


async def incident_note(services: Services, alert_id: int) -> None:
    """The incident channel hears that an alert of its incident resolved."""
    alert = await store.get(services.db, alert_id)
    if alert is None or alert.incident_id is None or alert.firing:
        return
    incident = await incidents.get(services.db, alert.incident_id)
    if incident is None:
        return
    lasted = messages.duration((alert.ends_at or services.clock.now()) - alert.starts_at)
    text = f"alert {alert.alertname} resolved after {lasted}"
    await incidents.add_event(services.db, incident.id, services.clock.now(), None, "alert", text)
    if incident.channel_id:
        await services.slack.chat_postMessage(
            channel=incident.channel_id,
            text=f":white_check_mark: Alert *{escape(alert.alertname)}* ({escape(alert.summary)}) "
            f"resolved after {lasted}.",
        )


async def deploy_thread(services: Services, alert_id: int) -> None:
    """The deploy's thread hears of an alert that started in its watch window."""
    alert = await store.get(services.db, alert_id)
    if alert is None or alert.deploy_id is None:
        return
    deploy = await deploys.get(services.db, alert.deploy_id)
    if deploy is None or not deploy.message_ts:
        return
    await services.slack.chat_postMessage(
        channel=deploy.channel or services.config.channels.deployments,
        thread_ts=deploy.message_ts,
        text=messages.deploy_thread_note(alert, deploy_note(alert, deploy)),
    )


async def start_runbook(services: Services, value: str, actor: str) -> str:
    alert_part, _, slug = value.partition(":")
    if not alert_part.isdigit() or not slug:
        raise UsageError("That button does not belong to an alert.", usage=False)
    alert = await _alert(services, int(alert_part))
    runbook = next((r for r in services.config.runbooks if r.slug == slug), None)
    if runbook is None:
        raise UsageError(f"There is no runbook `{escape(slug)}` any more.", usage=False)
    channel = alert.message_channel or alert.channel
    if alert.incident_id:
        incident = await incidents.get(services.db, alert.incident_id)
        if incident and incident.channel_id:
            channel = incident.channel_id
    said = await runbook_flows.start(services, actor, channel, runbook, f"alert:{alert.id}:{slug}")
    return said or f"{escape(runbook.name)} started."


async def rollback_offer(services: Services, alert_id: int, actor: str) -> list[dict[str, Any]]:
    alert = await _alert(services, alert_id)
    deploy = await deploys.get(services.db, alert.deploy_id) if alert.deploy_id else None
    if deploy is None:
        raise UsageError("This alert did not start in a deploy's watch window.", usage=False)
    shown = [f"{alert.alertname}: {alert.summary}"]
    if alert.values_text:
        shown.append(f"values {alert.values_text}")
    elif alert.annotations.get("description"):
        shown.append(alert.annotations["description"])
    return await deploy_flows.rollback_offer(
        services,
        actor,
        deploy.environment,
        None,
        preselect=rules.rollback_criterion(services.config, alert.labels),
        note="Alert " + " · ".join(shown),
    )


async def silence(services: Services, alert_id: int, hours: int, actor: str, request_id: str) -> str:
    base = services.settings.zzik_alertmanager_url
    if not base:
        raise UsageError("Silences need ZZIK_ALERTMANAGER_URL to be set on the bot.", usage=False)
    if hours not in (1, 4):
        raise UsageError("Silence for 1 or 4 hours.", usage=False)
    await policy.require(services, policy.Do.ALERT_SILENCE, actor)
    alert = await _alert(services, alert_id)
    if alert.source != "alertmanager":
        raise UsageError("Only Alertmanager's alerts can be silenced from here.", usage=False)
    if not alert.firing:
        return f"{escape(alert.alertname)} has already resolved."
    if alert.silence_id and alert.silenced_until and alert.silenced_until > wall():
        return f"Already silenced until {when(alert.silenced_until, zone(services))}."
    starts = wall()
    ends = starts + timedelta(hours=hours)
    try:
        silence_id = await silences.create(
            base, alert.labels, starts, ends, actor, f"Silenced from Slack for {hours} h (alert #{alert.id})"
        )
    except silences.SilenceError as exc:
        await _audit(
            services.db,
            "silence",
            outcome="error",
            actor=actor,
            request_id=request_id,
            detail={"alert": alert.id, "error": str(exc)},
        )
        raise Refused(f"Not silenced: {escape(str(exc))}") from None
    async with services.db.transaction() as conn:
        alert = await store.change(
            conn, alert.id, services.clock.now(), silence_id=silence_id, silenced_until=ends, silenced_by=actor
        )
        await _audit(
            conn,
            "silence",
            actor=actor,
            request_id=request_id,
            detail={"alert": alert.id, "silence": silence_id, "hours": hours},
        )
    await _changed(services, alert.channel, f"silence:{silence_id}")
    return f"Silenced {escape(alert.alertname)} for {hours} h (silence `{silence_id}`)."


async def unsilence(services: Services, alert_id: int, actor: str, request_id: str) -> str:
    base = services.settings.zzik_alertmanager_url
    if not base:
        raise UsageError("Silences need ZZIK_ALERTMANAGER_URL to be set on the bot.", usage=False)
    await policy.require(services, policy.Do.ALERT_SILENCE, actor)
    alert = await _alert(services, alert_id)
    if not alert.silence_id:
        return f"{escape(alert.alertname)} is not silenced."
    try:
        await silences.expire(base, alert.silence_id)
    except silences.SilenceError as exc:
        raise Refused(f"Silence not expired: {escape(str(exc))}") from None
    async with services.db.transaction() as conn:
        await store.change(conn, alert.id, services.clock.now(), silence_id=None, silenced_until=None, silenced_by=None)
        await _audit(
            conn,
            "unsilence",
            actor=actor,
            request_id=request_id,
            detail={"alert": alert.id, "silence": alert.silence_id},
        )
    await _changed(services, alert.channel, f"unsilence:{alert.silence_id}")
    return f"Silence `{alert.silence_id}` expired: {escape(alert.alertname)} notifies again."


async def _audit(
    db: Any, action: str, *, outcome: str = "ok", actor: str = "bot", request_id: str | None = None, detail: dict
) -> None:
    """One audit row of the alerts domain (kind `alert`)."""
    await audit.record(
        db, kind="alert", action=action, outcome=outcome, actor=actor, request_id=request_id, detail=detail
    )


# -- /alerts -------------------------------------------------------------------------------------------------


async def firing_now(services: Services) -> str:
    return messages.listing(await store.firing(services.db), services.clock.now())


async def history(services: Services, limit: int) -> str:
    return messages.history(await store.recent(services.db, limit), zone(services))
