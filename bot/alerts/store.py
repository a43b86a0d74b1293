"""Every SQL statement of the alerts domain."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from bot.alerts.ids import Message, Source, Status
from bot.alerts.models import Alert, AlertPage, Digest, IngestNote, RuleCount
from bot.db import Conn, assignments, columns, from_row, json_value
from bot.opsconfig import Severity

_ALERT = columns(Alert)
_DIGEST = columns(Digest)


def _alert(row: asyncpg.Record) -> Alert:
    return from_row(
        Alert, row, labels=json_value, annotations=json_value, status=Status, source=Source, priority=Severity
    )


def _digest(row: asyncpg.Record) -> Digest:
    return from_row(Digest, row, group_labels=json_value)


# -- deliveries ---------------------------------------------------------------------------------------------


async def add_delivery(conn: Conn, source: str, at: datetime, group_key: str | None, count: int, body: str) -> int:
    return await conn.fetchval(
        """INSERT INTO alert_deliveries (source, received_at, group_key, alert_count, body)
           VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id""",
        source,
        at,
        group_key,
        count,
        body,
    )


async def claim_delivery(conn: Conn, delivery_id: int) -> tuple[str, Any] | None:
    """(source, body) of an unprocessed delivery, locked for this transaction; None if done or gone."""
    row = await conn.fetchrow(
        "SELECT source, body FROM alert_deliveries WHERE id = $1 AND processed_at IS NULL FOR UPDATE", delivery_id
    )
    return (row["source"], json.loads(row["body"])) if row else None


async def delivery_done(conn: Conn, delivery_id: int, at: datetime) -> None:
    await conn.execute("UPDATE alert_deliveries SET processed_at = $2 WHERE id = $1", delivery_id, at)


# -- what a delivery left out: unreadable alerts, alerts past the limits -------------------------------------


_NOTE = columns(IngestNote)


async def add_note(conn: Conn, **values: Any) -> int:
    names = list(values)
    params = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    return await conn.fetchval(
        f"INSERT INTO alert_ingest_notes ({', '.join(names)}) VALUES ({params}) RETURNING id", *values.values()
    )


async def add_rejects(conn: Conn, note_id: int, rejects: list[tuple[int, str, str]]) -> None:
    """(position, reason, raw JSON) of each unreadable alert of a note's delivery."""
    await conn.executemany(
        "INSERT INTO alert_rejects (note_id, position, reason, raw) VALUES ($1, $2, $3, $4)",
        [(note_id, *r) for r in rejects],
    )


async def said_lately(conn: Conn, repeat_key: str, since: datetime) -> bool:
    """Whether the same trouble of the same group was said in the channel since `since`. Locks the key for the
    transaction: an HA pair delivers the same group at once, and only one of them may say it."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('zzik.alerts.note.' || $1))", repeat_key)
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM alert_ingest_notes WHERE repeat_key = $1 AND said AND received_at >= $2)",
        repeat_key,
        since,
    )


async def note(conn: Conn, note_id: int, *, for_update: bool = False) -> IngestNote | None:
    row = await conn.fetchrow(
        f"SELECT {_NOTE} FROM alert_ingest_notes WHERE id = $1" + (" FOR UPDATE" if for_update else ""), note_id
    )
    return from_row(IngestNote, row) if row else None


async def rejects(conn: Conn, note_id: int) -> list[tuple[int, str]]:
    """(position, reason) of a note's unreadable alerts, in delivery order."""
    rows = await conn.fetch("SELECT position, reason FROM alert_rejects WHERE note_id = $1 ORDER BY position", note_id)
    return [(r["position"], r["reason"]) for r in rows]


async def note_sent(conn: Conn, note_id: int, where: tuple[str, str] | None, error: str | None = None) -> None:
    channel, ts = where or (None, None)
    await conn.execute(
        "UPDATE alert_ingest_notes SET message_channel = $2, message_ts = $3, send_error = $4 WHERE id = $1",
        note_id,
        channel,
        ts,
        error,
    )


# -- episodes -----------------------------------------------------------------------------------------------


async def episode(conn: Conn, source: str, fingerprint: str, starts_at: datetime) -> Alert | None:
    row = await conn.fetchrow(
        f"""SELECT {_ALERT} FROM alerts WHERE source = $1 AND fingerprint = $2 AND starts_at = $3 FOR UPDATE""",
        source,
        fingerprint,
        starts_at,
    )
    return _alert(row) if row else None


async def previous_episode(conn: Conn, source: str, fingerprint: str, before: datetime) -> Alert | None:
    row = await conn.fetchrow(
        f"""SELECT {_ALERT} FROM alerts WHERE source = $1 AND fingerprint = $2 AND starts_at < $3
            ORDER BY starts_at DESC LIMIT 1""",
        source,
        fingerprint,
        before,
    )
    return _alert(row) if row else None


async def episodes_since(conn: Conn, source: str, fingerprint: str, since: datetime) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM alerts WHERE source = $1 AND fingerprint = $2 AND starts_at >= $3",
        source,
        fingerprint,
        since,
    )


async def insert(conn: Conn, **values: Any) -> Alert | None:
    """A new episode; None if a concurrent delivery inserted it first."""
    values = dict(values)
    values["labels"] = json.dumps(values["labels"])
    values["annotations"] = json.dumps(values["annotations"])
    names = list(values)
    params = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    row = await conn.fetchrow(
        f"""INSERT INTO alerts ({", ".join(names)}) VALUES ({params})
            ON CONFLICT (source, fingerprint, starts_at) DO NOTHING RETURNING {_ALERT}""",
        *values.values(),
    )
    return _alert(row) if row else None


_UPDATABLE = {
    "status",
    "ends_at",
    "resolved_seen_at",
    "digest_id",
    "flapping",
    "acknowledged_at",
    "acknowledged_by",
    "silence_id",
    "silenced_until",
    "silenced_by",
    "incident_id",
    "ack_since",
    "ack_expires_at",
    "snoozed_until",
    "snoozed_by",
    "ack_reminder_ts",
}


async def change(conn: Conn, alert_id: int, at: datetime, **values: Any) -> Alert:
    """Change an episode and mark its message due for an edit (version bump)."""
    sets, args = assignments(values, _UPDATABLE, first=3)
    row = await conn.fetchrow(
        f"""UPDATE alerts SET {sets}{"," if sets else ""} version = version + 1, dirty_at = COALESCE(
                CASE WHEN version > sent_version THEN dirty_at END, $2)
            WHERE id = $1 RETURNING {_ALERT}""",
        alert_id,
        at,
        *args,
    )
    return _alert(row)


async def reminded(conn: Conn, alert_id: int, ts: str) -> None:
    """The acknowledgement's reminder was posted (its ts): a retried run does not post it again. No edit is due."""
    await conn.execute("UPDATE alerts SET ack_reminder_ts = $2 WHERE id = $1", alert_id, ts)


async def get(conn: Conn, alert_id: int, *, for_update: bool = False) -> Alert | None:
    row = await conn.fetchrow(
        f"SELECT {_ALERT} FROM alerts WHERE id = $1" + (" FOR UPDATE" if for_update else ""), alert_id
    )
    return _alert(row) if row else None


async def firing(conn: Conn) -> list[Alert]:
    rows = await conn.fetch(f"SELECT {_ALERT} FROM alerts WHERE status = 'firing' ORDER BY priority, starts_at")
    return [_alert(r) for r in rows]


async def recent(conn: Conn, limit: int) -> list[Alert]:
    rows = await conn.fetch(f"SELECT {_ALERT} FROM alerts ORDER BY created_at DESC, id DESC LIMIT $1", limit)
    return [_alert(r) for r in rows]


async def for_incident(conn: Conn, incident_id: int) -> list[Alert]:
    rows = await conn.fetch(f"SELECT {_ALERT} FROM alerts WHERE incident_id = $1 ORDER BY id", incident_id)
    return [_alert(r) for r in rows]


# -- digests ------------------------------------------------------------------------------------------------


async def recent_in_group(conn: Conn, group_key: str, since: datetime) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM alerts WHERE group_key = $1 AND created_at >= $2", group_key, since
    )


async def open_digest(conn: Conn, group_key: str, group_labels: dict[str, str], channel: str, at: datetime) -> Digest:
    await conn.execute(
        """INSERT INTO alert_digests (group_key, group_labels, channel, opened_at, dirty_at)
           VALUES ($1, $2::jsonb, $3, $4, $4) ON CONFLICT (group_key) WHERE closed_at IS NULL DO NOTHING""",
        group_key,
        json.dumps(group_labels),
        channel,
        at,
    )
    row = await conn.fetchrow(
        f"SELECT {_DIGEST} FROM alert_digests WHERE group_key = $1 AND closed_at IS NULL FOR UPDATE", group_key
    )
    return _digest(row)


async def current_digest(conn: Conn, group_key: str) -> Digest | None:
    row = await conn.fetchrow(
        f"SELECT {_DIGEST} FROM alert_digests WHERE group_key = $1 AND closed_at IS NULL", group_key
    )
    return _digest(row) if row else None


async def digest(conn: Conn, digest_id: int, *, for_update: bool = False) -> Digest | None:
    row = await conn.fetchrow(
        f"SELECT {_DIGEST} FROM alert_digests WHERE id = $1" + (" FOR UPDATE" if for_update else ""), digest_id
    )
    return _digest(row) if row else None


async def digest_alerts(conn: Conn, digest_id: int) -> list[Alert]:
    rows = await conn.fetch(
        f"SELECT {_ALERT} FROM alerts WHERE digest_id = $1 ORDER BY status, priority, starts_at, id", digest_id
    )
    return [_alert(r) for r in rows]


async def touch_digest(conn: Conn, digest_id: int, at: datetime, **values: Any) -> None:
    """Mark a digest due for an edit; close it when nothing in it fires any more."""
    allowed = {"acknowledged_at", "acknowledged_by"}
    if set(values) - allowed:
        raise ValueError("not updatable")
    sets = "".join(f", {k} = ${i}" for i, k in enumerate(values, start=3))
    await conn.execute(
        f"""UPDATE alert_digests SET version = version + 1,
                dirty_at = COALESCE(CASE WHEN version > sent_version THEN dirty_at END, $2){sets},
                closed_at = CASE WHEN EXISTS (SELECT 1 FROM alerts WHERE digest_id = $1 AND status = 'firing')
                                 THEN NULL ELSE $2 END
            WHERE id = $1""",
        digest_id,
        at,
        *values.values(),
    )


async def acknowledge_digest_alerts(conn: Conn, digest_id: int, at: datetime, by: str) -> list[int]:
    rows = await conn.fetch(
        """UPDATE alerts SET acknowledged_at = $2, acknowledged_by = $3
           WHERE digest_id = $1 AND acknowledged_at IS NULL RETURNING id""",
        digest_id,
        at,
        by,
    )
    return [r["id"] for r in rows]


# -- what is due to be posted, one channel at a time ------------------------------------------------------


async def pace(conn: Conn, channel: str, at: datetime) -> tuple[datetime, datetime | None]:
    """Lock the channel's pace row for this transaction (one writer per channel): (next_at, retry_at)."""
    await conn.execute(
        "INSERT INTO alert_channels (channel, next_at) VALUES ($1, $2) ON CONFLICT (channel) DO NOTHING", channel, at
    )
    row = await conn.fetchrow("SELECT next_at, retry_at FROM alert_channels WHERE channel = $1 FOR UPDATE", channel)
    return row["next_at"], row["retry_at"]


async def set_pace(conn: Conn, channel: str, next_at: datetime) -> None:
    await conn.execute("UPDATE alert_channels SET next_at = $2, retry_at = NULL WHERE channel = $1", channel, next_at)


async def set_retry(conn: Conn, channel: str, retry_at: datetime) -> None:
    await conn.execute("UPDATE alert_channels SET retry_at = $2 WHERE channel = $1", channel, retry_at)


async def next_unsent(conn: Conn, channel: str) -> tuple[Message, int, int] | None:
    """('alert'|'digest', id, version) of the oldest message due in a channel."""
    row = await conn.fetchrow(
        """SELECT kind, id, version FROM (
               SELECT 'alert' AS kind, id, version, dirty_at FROM alerts
                WHERE channel = $1 AND version > sent_version AND digest_id IS NULL
               UNION ALL
               SELECT 'digest', id, version, dirty_at FROM alert_digests
                WHERE channel = $1 AND version > sent_version
           ) due ORDER BY dirty_at, id LIMIT 1""",
        channel,
    )
    return (Message(row["kind"]), row["id"], row["version"]) if row else None


async def sent(
    conn: Conn, kind: str, item_id: int, version: int, where: tuple[str, str] | None, error: str | None = None
) -> None:
    """Record what Slack took (or, with `error`, refused for good): this version is no longer due."""
    table = "alerts" if kind == Message.ALERT else "alert_digests"
    channel, ts = where or (None, None)
    await conn.execute(
        f"""UPDATE {table} SET sent_version = GREATEST(sent_version, $2), message_ts = COALESCE(message_ts, $3),
                message_channel = COALESCE(message_channel, $4), send_error = $5 WHERE id = $1""",
        item_id,
        version,
        ts,
        channel,
        error,
    )


async def absorb(conn: Conn, group_key: str, digest_id: int, at: datetime) -> list[int]:
    """Firing alerts of a group whose own message was not posted yet go into the group's digest instead."""
    rows = await conn.fetch(
        """UPDATE alerts SET digest_id = $2, sent_version = version
           WHERE group_key = $1 AND digest_id IS NULL AND message_ts IS NULL AND status = 'firing' RETURNING id""",
        group_key,
        digest_id,
    )
    return [r["id"] for r in rows]


async def unsent_count(conn: Conn) -> int:
    return await conn.fetchval(
        """SELECT (SELECT count(*) FROM alerts WHERE version > sent_version AND digest_id IS NULL)
                + (SELECT count(*) FROM alert_digests WHERE version > sent_version)"""
    )


async def stale_deliveries(conn: Conn, received_before: datetime) -> list[int]:
    rows = await conn.fetch(
        "SELECT id FROM alert_deliveries WHERE processed_at IS NULL AND received_at < $1 ORDER BY id LIMIT 100",
        received_before,
    )
    return [r["id"] for r in rows]


async def channels_with_unsent(conn: Conn) -> list[str]:
    rows = await conn.fetch(
        """SELECT DISTINCT channel FROM alerts WHERE version > sent_version AND digest_id IS NULL
           UNION SELECT DISTINCT channel FROM alert_digests WHERE version > sent_version"""
    )
    return [r["channel"] for r in rows]


async def pages_sent(conn: Conn, starts: datetime, ends: datetime) -> list[AlertPage]:
    """The pages that reached someone in [starts, ends): each page's and escalation's audit row (its record), a
    resumed escalation's (an acknowledgement that ran out) included."""
    rows = await conn.fetch(
        """SELECT at, action, detail FROM audit_log
           WHERE kind = 'alert' AND action IN ('page', 'escalate', 'ack_escalate') AND outcome = 'ok'
             AND at >= $1 AND at < $2
           ORDER BY at, id""",
        starts,
        ends,
    )
    found = []
    for row in rows:
        detail = json_value(row["detail"]) or {}
        if detail.get("paged"):
            role = "primary" if row["action"] == "page" else str(detail.get("role") or "primary")
            found.append(AlertPage(str(detail["paged"]), role, row["at"]))
    return found


async def by_rule_between(conn: Conn, starts: datetime, ends: datetime) -> list[RuleCount]:
    """The alerts received in [starts, ends) by the row they matched, the noisiest first."""
    rows = await conn.fetch(
        """SELECT COALESCE(rule, alertname) AS rule, count(*) AS alerts,
                count(DISTINCT (source, fingerprint)) FILTER (WHERE flapping) AS flapping
            FROM alerts WHERE created_at >= $1 AND created_at < $2 GROUP BY 1 ORDER BY 2 DESC, 1""",
        starts,
        ends,
    )
    return [RuleCount(r["rule"], r["alerts"], r["flapping"]) for r in rows]
