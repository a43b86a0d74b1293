"""The timeline from the conversation: a 📌 reaction (config `incidents.timeline_emoji`) on a message in an
incident channel, or the message shortcut *Add to timeline*, puts the message (author, time, link, its text as
Slack sent it) into the incident's timeline, and so into the post-mortem draft; taking the reaction off takes it
out. The bot says both in the message's thread.

The rule: a message stays in the timeline while anyone still pins it. Each person's 📌 reaction is one pin, each
person's *Add to timeline* another; taking a reaction off ends only that person's reaction pin (a shortcut pin
stays: there is no shortcut to take it out, the reaction is the way). The same message pinned twice, by reaction
and shortcut, by two people, or by Slack redelivering the event, is one timeline entry.

An event is acked before its handler runs, so the handler only stores a job (`Job.TIMELINE_PIN`) and runs it here:
the job reads the message (reactions.get: an event carries only the channel and ts), stores the pin and its
timeline entry, and schedules the thread reply (`Job.TIMELINE_PIN_REPLY`) in the same transaction. The runs of one
message are applied in the order they arrived (`in_order`), and a late delivery of an older event changes nothing
(Slack's event_ts is kept per pinner)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot import log
from bot.errors import NotFound
from bot.incidents import records, refusals, store
from bot.incidents.ids import Job
from bot.incidents.models import Incident, Pin
from bot.incidents.reports import reported_text
from bot.services import Services
from bot.slack.client import SLACK_FAILURES, slack_error
from bot.slack.failures import SlackErrorCode, code
from bot.slack.text import from_slack

logger = log.get("zzik.incidents")

REACTION, SHORTCUT = "reaction", "shortcut"
# Why reactions.get finds no message to pin: it was deleted, or the bot cannot see it. Nothing to add, no retry.
NO_MESSAGE = frozenset({SlackErrorCode.MESSAGE_NOT_FOUND, SlackErrorCode.CHANNEL_NOT_FOUND, "bad_timestamp"})


async def reacted(services: Services, event: dict[str, Any], *, added: bool) -> bool:
    """A reaction_added / reaction_removed event: the timeline's reaction on a message of an incident channel is
    stored as a job and applied now. False when it is none of the bot's business (another emoji, another
    channel, not a message)."""
    item = event.get("item") or {}
    if event.get("reaction") != services.config.incidents.timeline_emoji or item.get("type") != "message":
        return False
    channel, ts, user = str(item.get("channel") or ""), str(item.get("ts") or ""), str(event.get("user") or "")
    incident = await store.by_channel(services.db, channel) if channel else None
    if incident is None or not ts or not user:
        return False
    change = {"channel": channel, "ts": ts, "user": user, "via": REACTION, "pinned": added}
    await _apply_durably(services, incident, change, str(event.get("event_ts") or _now_ts(services)))
    return True


async def from_shortcut(
    services: Services, actor: str, channel: str | None, message: dict[str, Any], action_ts: str | None
) -> str:
    """The message shortcut *Add to timeline*: the payload carries the message. Only in an incident channel."""
    incident = await store.by_channel(services.db, channel) if channel else None
    ts = str(message.get("ts") or "")
    if incident is None or channel is None:
        raise NotFound(refusals.TIMELINE_ONLY_IN_INCIDENTS)
    if not ts:
        raise NotFound(refusals.NO_MESSAGE_TO_PIN)
    before = await store.pin(services.db, incident.id, ts)
    if before is not None and before.event_id is not None:
        return records.already_pinned(incident)
    change = {"channel": channel, "ts": ts, "user": actor, "via": SHORTCUT, "pinned": True, "message": message}
    await _apply_durably(services, incident, change, action_ts or _now_ts(services))
    return records.shortcut_pinned(incident)


def _now_ts(services: Services) -> str:
    return f"{services.clock.now().timestamp():.6f}"


async def _apply_durably(services: Services, incident: Incident, change: dict[str, Any], event_ts: str) -> None:
    """Store the change as a job (committed before anything else happens), then apply it here."""
    key = ":".join([change["channel"], change["ts"], change["user"], change["via"], event_ts])
    payload = {**change, "incident_id": incident.id, "event_ts": event_ts, "message_key": _message_key(change)}
    async with services.db.transaction() as conn:
        await services.jobs.schedule_once(conn, Job.TIMELINE_PIN, key, services.clock.now(), payload)
    await services.jobs.run_now(Job.TIMELINE_PIN, key)


def _message_key(change: dict[str, Any]) -> str:
    return f"{change['channel']}:{change['ts']}"


async def apply(services: Services, change: dict[str, Any]) -> None:
    """Job TIMELINE_PIN: one pin or unpin. The message is read (reactions.get) only when it is pinned the first
    time; a Slack failure there is retried, a message that is gone is left be."""
    incident = await store.get(services.db, int(change["incident_id"]))
    if incident is None:
        return
    channel, ts = str(change["channel"]), str(change["ts"])
    if change["pinned"] and await store.pin(services.db, incident.id, ts) is None:
        message = change.get("message") or await _message(services, channel, ts)
        if message is None:
            return
        permalink = await _permalink(services, channel, ts)
        fields = _pin_fields(message, ts, permalink, services.clock.now())
        async with services.db.transaction() as conn:
            await store.add_pin(conn, incident.id, channel, ts, **fields)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        pin = await store.pin(conn, incident.id, ts, for_update=True)
        if pin is None:
            return  # taken off a message that was never in the timeline
        before = await store.pinners(conn, pin.id)
        await store.set_pinner(conn, pin.id, change["user"], change["via"], change["pinned"], change["event_ts"])
        after = await store.pinners(conn, pin.id)
        if after and pin.event_id is None:
            entry = records.pin_entry(pin.text, pin.permalink)
            detail = {"pin": pin.id, "channel": pin.channel, "ts": pin.message_ts, "pinned_by": change["user"]}
            event_id = await store.pin_entry(conn, pin, pin.posted_at, pin.author, entry, detail)
            key = await _reply_later(services, conn, pin, event_id, added=True, by=change["user"], at=now)
        elif before and not after and pin.event_id is not None:
            await store.drop_pin_entry(conn, pin)
            key = await _reply_later(services, conn, pin, pin.event_id, added=False, by=change["user"], at=now)
        else:
            return  # another pin of a message already in, or one of several pins taken off
    await services.jobs.run_now(Job.TIMELINE_PIN_REPLY, key)


async def _reply_later(
    services: Services, conn: Any, pin: Pin, event_id: int, *, added: bool, by: str, at: datetime
) -> str:
    """The thread reply, due with the change that calls for it (its key: one reply per entry added or removed)."""
    key = f"{pin.id}:{event_id}:{'added' if added else 'removed'}"
    payload = {"pin_id": pin.id, "added": added, "by": by}
    await services.jobs.schedule_once(conn, Job.TIMELINE_PIN_REPLY, key, at, payload)
    return key


async def reply(services: Services, pin_id: int, added: bool, by: str) -> bool:
    """Job TIMELINE_PIN_REPLY: the bot says in the message's thread that it went in (or out); retried on failure."""
    pin = await store.pin_by_id(services.db, pin_id)
    incident = await store.get(services.db, pin.incident_id) if pin else None
    if pin is None or incident is None:
        return False
    text = records.pinned_reply(incident, by) if added else records.unpinned_reply(incident, by)
    await services.slack.chat_postMessage(channel=pin.channel, thread_ts=pin.reply_ts, text=text)
    return True


async def _message(services: Services, channel: str, ts: str) -> dict[str, Any] | None:
    """The message a reaction is on, with its text (reactions.get: the scope reactions:read, no history scope)."""
    try:
        found = await services.slack.reactions_get(channel=channel, timestamp=ts, full=True)
    except SLACK_FAILURES as exc:
        if code(exc) in NO_MESSAGE:
            logger.info("pinned message not found", channel=channel, ts=ts, error=slack_error(exc))
            return None
        raise
    message = found.get("message")
    return message if isinstance(message, dict) else None


async def _permalink(services: Services, channel: str, ts: str) -> str | None:
    try:
        return (await services.slack.chat_getPermalink(channel=channel, message_ts=ts))["permalink"]
    except SLACK_FAILURES as exc:  # the entry still has the author, time and text: the link is a nicety
        logger.warning("no permalink for the pinned message", channel=channel, ts=ts, error=slack_error(exc))
        return None


def _pin_fields(message: dict[str, Any], ts: str, permalink: str | None, now: datetime) -> dict[str, Any]:
    """What the timeline keeps of a message: its text as Slack sent it (already Slack-encoded: kept, never
    escaped again; broadcasts neutralised), its author, time and thread."""
    thread_ts = message.get("thread_ts")
    return {
        "thread_ts": str(thread_ts) if thread_ts and thread_ts != ts else None,
        "author": message.get("user") or message.get("bot_id"),
        "posted_at": _at(ts, now),
        "permalink": permalink,
        "text": from_slack(reported_text(message)),
    }


def _at(ts: str, now: datetime) -> datetime:
    """A Slack ts is the message's time in seconds since the epoch."""
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (ValueError, OverflowError, OSError):
        return now
