"""Sending at Slack's pace: what Slack must show is a version number on the row; the sender posts or edits the
oldest due message of a channel, one per `ZZIK_ALERT_PACE_SECONDS`, and a refusal (429, outage) leaves it due
and comes back later. The sweep finishes what a replica that died mid-way left."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import log
from bot.alerts import messages, rules, store
from bot.alerts.ids import Job, Message, Source
from bot.alerts.models import Alert
from bot.alerts.processing import process
from bot.deploys import api as deploys
from bot.deploys.models import Deploy
from bot.incidents import api as incidents
from bot.runbooks import api as runbooks
from bot.services import Services, zone
from bot.slack.blocks import section
from bot.slack.failures import SLACK_FAILURES, TRANSIENT, code, slack_error

logger = log.get("zzik.alerts")
SEND_BUDGET = 8.0  # seconds one sender run may spend waiting for the pace before it hands over to a later run
MAX_BACKOFF = timedelta(minutes=5)
SWEEP_EVERY = timedelta(seconds=10)
SWEEP_GRACE = timedelta(seconds=30)  # a delivery older than this and unprocessed: its run's replica died


def wall() -> datetime:
    """Real time, for Slack's pace and Alertmanager's silences: they run on the world's clock, not ours."""
    return datetime.now(UTC)


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
        if code(exc) in TRANSIENT:
            return 10.0
        return None
    return 10.0  # timeouts and connection errors


async def _send_later(services: Services, conn: Any, channel: str, wait: float) -> None:
    wait = min(max(wait, 0.0), MAX_BACKOFF.total_seconds())
    due = services.clock.now() + timedelta(seconds=wait)
    # Runs for the same second collapse into one (the key), so a queue of due messages keeps one run waiting.
    second = int(wall().timestamp() + wait)
    await services.jobs.schedule_once(conn, Job.SEND, f"{channel}:t{second}", due, {"channel": channel})


async def _render_and_send(services: Services, conn: Any, kind: Message, item_id: int) -> tuple[str, str]:
    if kind == Message.DIGEST:
        return await _send_digest(services, conn, item_id)
    alert = await store.get(conn, item_id)
    if alert is None:  # next_unsent found it in this transaction: it cannot have gone
        raise LookupError(f"alert {item_id} is due but missing")
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


async def _send_digest(services: Services, conn: Any, digest_id: int) -> tuple[str, str]:
    digest = await store.digest(conn, digest_id)
    if digest is None:  # next_unsent found it in this transaction: it cannot have gone
        raise LookupError(f"alert digest {digest_id} is due but missing")
    alerts = await store.digest_alerts(conn, digest_id)
    text, blocks = messages.digest_message(digest, alerts, services.clock.now(), zone(services))
    return await _post_or_update(services, digest.channel, digest.message_channel, digest.message_ts, text, blocks)


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
    meaning = rules.meaning(config, alert.labels)
    # Service Down / High Error Rate with no prod deploy before it: the recovery runbook too (config recovery).
    row = meaning.rule.name if meaning.rule else None
    recovery = await runbooks.recovery_for_alert(services, conn, row, alert.labels, alert.starts_at)
    return messages.Context(
        now=services.clock.now(),
        zone=zone(services),
        runbooks=meaning.runbooks + ((recovery,) if recovery and recovery not in meaning.runbooks else ()),
        deploy=note,
        incident_ref=incident_ref,
        can_silence=bool(services.settings.zzik_alertmanager_url) and alert.source == Source.ALERTMANAGER,
        flap_count=max(flap_count, 2),
        flap_window=config.alerting.flap_window,
    )


def deploy_note(alert: Alert, deploy: Deploy) -> messages.DeployNote:
    finished = deploy.finished_at or deploy.created_at
    return messages.DeployNote(
        ref=deploy.ref,
        version=deploy.version,
        who=deploy.started_by or deploy.requested_by,
        minutes_after=max(0, int((alert.starts_at - finished).total_seconds() // 60)),
    )


async def changed(services: Services, channel: str, key: str) -> None:
    """After a click changed an alert: its edit is due; send now if the pace allows, else a run comes back."""
    async with services.db.transaction() as conn:
        await services.jobs.schedule_once(
            conn, Job.SEND, f"{channel}:{key}", services.clock.now(), {"channel": channel}
        )
    await send(services, channel, budget=0)


async def process_and_send(services: Services, delivery_id: int) -> None:
    """A delivery's job: process it, then post at once what the pace allows (the rest is a scheduled send run,
    committed with the episodes), and beside that start what its events bring (PagerDuty hears of a resolve)."""
    processed = await process(services, delivery_id)
    await asyncio.gather(services.events.after_commit(processed.published), _send_now(services, processed.channels))


async def _send_now(services: Services, channels: set[str]) -> None:
    for channel in channels:
        await send(services, channel, budget=0)


async def sweep(services: Services) -> int:
    """Finish what a replica that died mid-way left: deliveries not processed, messages not sent. Each step is
    idempotent (a delivery is claimed FOR UPDATE and processed once; a message is due until Slack took it)."""
    channels: set[str] = set()
    for delivery_id in await store.stale_deliveries(services.db, services.clock.now() - SWEEP_GRACE):
        processed = await process(services, delivery_id)
        channels |= processed.channels
        await services.events.after_commit(processed.published)
    channels |= set(await store.channels_with_unsent(services.db))
    calls = 0
    for channel in sorted(channels):
        calls += await send(services, channel)
    return calls


async def post_note(services: Services, note_id: int) -> None:
    """Say in the alerts channel what a delivery left out, once. It takes its turn in the channel's pace like the
    alerts' messages; a refusal that may pass (429, outage) schedules a later run, so it is never dropped."""
    async with services.db.transaction() as conn:
        note = await store.note(conn, note_id, for_update=True)
        if note is None or note.message_ts or note.send_error:
            return
        next_at, retry_at = await store.pace(conn, note.channel, wall())
        if retry_at is not None and retry_at > services.clock.now():  # backing off after an outage
            await _note_later(services, conn, note_id, (retry_at - services.clock.now()).total_seconds())
            return
        wait = (next_at - wall()).total_seconds()
        if wait > SEND_BUDGET:
            await _note_later(services, conn, note_id, wait)
            return
        if wait > 0:
            await asyncio.sleep(wait)
        text = messages.ingest_note(note, await store.rejects(conn, note_id))
        try:
            response = await services.slack.chat_postMessage(
                channel=note.channel, text=text, blocks=[section(text)], unfurl_links=False, unfurl_media=False
            )
        except SLACK_FAILURES as exc:
            retry = _retry_after(exc)
            if retry is None:
                logger.error("alert ingest note refused by Slack", note=note_id, error=slack_error(exc))
                await store.note_sent(conn, note_id, None, slack_error(exc))
                return
            if _rate_limited(exc):
                await store.set_pace(conn, note.channel, wall() + timedelta(seconds=retry))
            await _note_later(services, conn, note_id, retry)
            return
        await store.note_sent(conn, note_id, (str(response["channel"]), str(response["ts"])))
        await store.set_pace(conn, note.channel, wall() + timedelta(seconds=services.settings.zzik_alert_pace_seconds))


async def _note_later(services: Services, conn: Any, note_id: int, wait: float) -> None:
    wait = min(max(wait, 0.0), MAX_BACKOFF.total_seconds())
    second = int(wall().timestamp() + wait)
    due = services.clock.now() + timedelta(seconds=wait)
    await services.jobs.schedule_once(conn, Job.INGEST_NOTE, f"{note_id}:t{second}", due, {"note_id": note_id})
