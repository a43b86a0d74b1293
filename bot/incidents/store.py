"""Every SQL statement of the incidents domain."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from bot.db import Conn, assignments, columns, from_row
from bot.incidents import ids
from bot.incidents.enums import CommandAnswer, Severity, Status
from bot.incidents.models import ActionItem, CommandRequest, Event, Incident, Page, Pin

_COLUMNS = columns(Incident)


async def declare(
    conn: asyncpg.Connection,
    *,
    key: str,
    title: str,
    description: str | None,
    severity: Severity,
    stage: str,
    commander: str,
    reporter: str,
    origin_channel: str | None,
    at: datetime,
) -> tuple[Incident, bool]:
    """Insert the incident numbered INC-<n>; (existing, False) if this declaration key was seen."""
    row = await conn.fetchrow(
        f"""INSERT INTO incidents (number, declare_key, title, description, severity, stage, commander, reporter,
                                   origin_channel, declared_at, last_update_at)
            VALUES (nextval('incident_numbers'), $1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
            ON CONFLICT (declare_key) DO NOTHING RETURNING {_COLUMNS}""",
        key,
        title,
        description,
        severity,
        stage,
        commander,
        reporter,
        origin_channel,
        at,
    )
    if row is not None:
        return Incident.of(row), True
    existing = await conn.fetchrow(f"SELECT {_COLUMNS} FROM incidents WHERE declare_key = $1", key)
    return Incident.of(existing), False


async def by_declare_key(conn: Conn, key: str) -> Incident | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM incidents WHERE declare_key = $1", key)
    return Incident.of(row) if row else None


async def get(conn: Conn, incident_id: int, *, for_update: bool = False) -> Incident | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM incidents WHERE id = $1{lock}", incident_id)
    return Incident.of(row) if row else None


async def by_channel(conn: Conn, channel_id: str) -> Incident | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM incidents WHERE channel_id = $1", channel_id)
    return Incident.of(row) if row else None


async def open_incidents(conn: Conn) -> list[Incident]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM incidents WHERE status = $1 ORDER BY severity, declared_at", Status.OPEN
    )
    return [Incident.of(r) for r in rows]


async def update(conn: asyncpg.Connection, incident_id: int, **values: Any) -> Incident:
    sets, args = assignments(values, set(_COLUMNS.split(", ")) - {"id", "number"})
    row = await conn.fetchrow(f"UPDATE incidents SET {sets} WHERE id = $1 RETURNING {_COLUMNS}", incident_id, *args)
    return Incident.of(row)


async def resolve(
    conn: asyncpg.Connection, incident_id: int, by: str, summary: str | None, stage: str, at: datetime
) -> Incident:
    """Resolved at its last stage; open escalations and nudges are the caller's to cancel."""
    return await update(
        conn, incident_id, status=Status.RESOLVED, resolved_at=at, resolved_by=by, summary=summary, stage=stage
    )


async def reopen(conn: asyncpg.Connection, incident_id: int, stage: str, at: datetime) -> Incident:
    """Open again at `stage`, as if an update came in now (the nudges count from here)."""
    return await update(
        conn, incident_id, status=Status.OPEN, resolved_at=None, resolved_by=None, stage=stage, last_update_at=at
    )


async def release_setup(conn: Conn, incident_id: int, error: str | None) -> None:
    """What the last set-up left undone (None: nothing), for the Retry button and the audit."""
    await conn.execute("UPDATE incidents SET setup_error = $2 WHERE id = $1", incident_id, error)


async def add_event(
    conn: Conn,
    incident_id: int,
    at: datetime,
    actor: str | None,
    kind: str,
    text: str,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO incident_events (incident_id, at, actor, kind, text, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        incident_id,
        at,
        actor,
        kind,
        text,
        json.dumps(detail or {}, default=str),
    )


async def last_activity(conn: Conn, incident_id: int, since: datetime) -> datetime | None:
    """When someone last did something to the incident after `since`: the latest timeline entry with an actor
    (the bot's own entries, pages, escalations, nudges, have none)."""
    return await conn.fetchval(
        "SELECT max(at) FROM incident_events WHERE incident_id = $1 AND at > $2 AND actor IS NOT NULL",
        incident_id,
        since,
    )


async def events(conn: Conn, incident_id: int) -> list[Event]:
    rows = await conn.fetch(
        "SELECT at, actor, kind, text FROM incident_events WHERE incident_id = $1 ORDER BY at, id", incident_id
    )
    return [Event(r["at"], r["actor"], r["kind"], r["text"]) for r in rows]


async def checks(conn: Conn, incident_id: int) -> dict[tuple[int, int], tuple[str, datetime]]:
    rows = await conn.fetch(
        "SELECT stage, item, ticked_by, ticked_at FROM incident_checks WHERE incident_id = $1", incident_id
    )
    return {(r["stage"], r["item"]): (r["ticked_by"], r["ticked_at"]) for r in rows}


async def tick(conn: asyncpg.Connection, incident_id: int, stage: int, item: int, by: str, at: datetime) -> bool:
    status = await conn.execute(
        """INSERT INTO incident_checks (incident_id, stage, item, ticked_by, ticked_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT DO NOTHING""",
        incident_id,
        stage,
        item,
        by,
        at,
    )
    return status.endswith(" 1")


async def untick(conn: asyncpg.Connection, incident_id: int, stage: int, item: int) -> bool:
    status = await conn.execute(
        "DELETE FROM incident_checks WHERE incident_id = $1 AND stage = $2 AND item = $3", incident_id, stage, item
    )
    return status.endswith(" 1")


_ACTION_COLUMNS = "id, text, owner, created_by, created_at, done_at, due_on, done_by, incident_id"


async def add_action(
    conn: asyncpg.Connection,
    incident_id: int,
    text: str,
    owner: str | None,
    by: str,
    at: datetime,
    due_on: date | None = None,
) -> ActionItem:
    row = await conn.fetchrow(
        f"""INSERT INTO incident_actions (incident_id, text, owner, created_by, created_at, due_on)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_ACTION_COLUMNS}""",
        incident_id,
        text,
        owner,
        by,
        at,
        due_on,
    )
    return from_row(ActionItem, row)


async def add_keyed_action(
    conn: asyncpg.Connection, incident_id: int, text: str, owner: str | None, by: str, at: datetime, key: str
) -> tuple[ActionItem, bool]:
    """An action item the bot makes for something that happened, once per `key`: (item, made now)."""
    row = await conn.fetchrow(
        f"""INSERT INTO incident_actions (incident_id, text, owner, created_by, created_at, source_key)
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (source_key) WHERE source_key IS NOT NULL DO NOTHING
            RETURNING {_ACTION_COLUMNS}""",
        incident_id,
        text,
        owner,
        by,
        at,
        key,
    )
    if row is not None:
        return from_row(ActionItem, row), True
    row = await conn.fetchrow(f"SELECT {_ACTION_COLUMNS} FROM incident_actions WHERE source_key = $1", key)
    return from_row(ActionItem, row), False


async def actions(conn: Conn, incident_id: int) -> list[ActionItem]:
    rows = await conn.fetch(
        f"SELECT {_ACTION_COLUMNS} FROM incident_actions WHERE incident_id = $1 ORDER BY id", incident_id
    )
    return [from_row(ActionItem, r) for r in rows]


async def action(conn: Conn, action_id: int, *, for_update: bool = False) -> ActionItem | None:
    row = await conn.fetchrow(
        f"SELECT {_ACTION_COLUMNS} FROM incident_actions WHERE id = $1" + (" FOR UPDATE" if for_update else ""),
        action_id,
    )
    return from_row(ActionItem, row) if row else None


async def close_action(conn: Conn, action_id: int, by: str, at: datetime) -> ActionItem:
    row = await conn.fetchrow(
        f"""UPDATE incident_actions SET done_at = $2, done_by = $3 WHERE id = $1 RETURNING {_ACTION_COLUMNS}""",
        action_id,
        at,
        by,
    )
    return from_row(ActionItem, row)


async def set_reminded(conn: Conn, action_id: int, at: datetime) -> None:
    await conn.execute("UPDATE incident_actions SET reminded_at = $2 WHERE id = $1", action_id, at)


async def declared_between(conn: Conn, starts: datetime, ends: datetime) -> list[Incident]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM incidents WHERE declared_at >= $1 AND declared_at < $2
            OR (resolved_at >= $1 AND resolved_at < $2) ORDER BY declared_at""",
        starts,
        ends,
    )
    return [Incident.of(r) for r in rows]


async def open_actions(conn: Conn) -> list[tuple[str, ActionItem]]:
    rows = await conn.fetch(
        """SELECT i.number, a.id, a.text, a.owner, a.created_by, a.created_at, a.done_at, a.due_on, a.done_by,
                  a.incident_id
           FROM incident_actions a JOIN incidents i ON i.id = a.incident_id
           WHERE a.done_at IS NULL ORDER BY a.id"""
    )
    return [(f"INC-{r['number']}", from_row(ActionItem, r)) for r in rows]


async def ask_command(
    conn: asyncpg.Connection, incident_id: int, requested_by: str, commander: str, at: datetime
) -> tuple[CommandRequest, bool]:
    """A request for command; (the open one, False) if this person already asked and is waiting."""
    row = await conn.fetchrow(
        """INSERT INTO incident_command_requests (incident_id, requested_by, requested_at, commander)
           VALUES ($1, $2, $3, $4) ON CONFLICT (incident_id, requested_by) WHERE answer IS NULL DO NOTHING
           RETURNING id, incident_id, requested_by, commander, answer""",
        incident_id,
        requested_by,
        at,
        commander,
    )
    if row is not None:
        return from_row(CommandRequest, row, answer=CommandAnswer), True
    row = await conn.fetchrow(
        """SELECT id, incident_id, requested_by, commander, answer FROM incident_command_requests
           WHERE incident_id = $1 AND requested_by = $2 AND answer IS NULL""",
        incident_id,
        requested_by,
    )
    return from_row(CommandRequest, row, answer=CommandAnswer), False


async def command_request(conn: Conn, request_id: int) -> CommandRequest | None:
    row = await conn.fetchrow(
        "SELECT id, incident_id, requested_by, commander, answer FROM incident_command_requests WHERE id = $1",
        request_id,
    )
    return from_row(CommandRequest, row, answer=CommandAnswer) if row else None


async def answer_command(
    conn: asyncpg.Connection, request_id: int, answer: CommandAnswer, by: str, at: datetime
) -> bool:
    status = await conn.execute(
        """UPDATE incident_command_requests SET answer = $2, answered_by = $3, answered_at = $4
           WHERE id = $1 AND answer IS NULL""",
        request_id,
        answer,
        by,
        at,
    )
    return status.endswith(" 1")


async def answer_open_command_requests(conn: asyncpg.Connection, incident_id: int, at: datetime) -> None:
    """Command changed hands: the requests still waiting are moot."""
    await conn.execute(
        """UPDATE incident_command_requests SET answer = $3, answered_at = $2
           WHERE incident_id = $1 AND answer IS NULL""",
        incident_id,
        at,
        CommandAnswer.MOOT,
    )


_PAGE_COLUMNS = "id, page_key, user_id, role, reason, attempts, last_error, delivered_at, created_at, sending_since"


async def add_pages(
    conn: asyncpg.Connection,
    incident_id: int,
    reason_key: str,
    reason: str,
    people: list[tuple[str, str]],
    at: datetime,
) -> None:
    """Record who is to be paged (user, role), once per person and reason, before anyone is paged."""
    for user, role in people:
        unreachable = None if user[:1] in "UW" and "@" not in user else "not a Slack user anyone can page"
        await conn.execute(
            """INSERT INTO incident_pages (incident_id, page_key, user_id, role, reason, last_error, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (page_key) DO NOTHING""",
            incident_id,
            ids.key(incident_id, reason_key, user),
            user,
            role,
            reason,
            unreachable,
            at,
        )


async def pages(conn: Conn, incident_id: int, *, undelivered: bool = False) -> list[Page]:
    only = " AND delivered_at IS NULL" if undelivered else ""
    rows = await conn.fetch(
        f"SELECT {_PAGE_COLUMNS} FROM incident_pages WHERE incident_id = $1{only} ORDER BY id", incident_id
    )
    return [from_row(Page, r) for r in rows]


async def claim_undelivered_pages(conn: Conn, incident_id: int, at: datetime, stale: timedelta) -> list[Page]:
    """The incident's undelivered pages that no one else is sending now (no claim, or one older than `stale`),
    claimed at `at` in one statement: two senders (the page job and a severity change's own send) never DM the
    same person at once, and no connection is held while Slack is called."""
    rows = await conn.fetch(
        f"""UPDATE incident_pages SET sending_since = $2
            WHERE id IN (SELECT id FROM incident_pages
                         WHERE incident_id = $1 AND delivered_at IS NULL
                           AND (sending_since IS NULL OR sending_since < $3::timestamptz)
                         ORDER BY id FOR UPDATE SKIP LOCKED)
            RETURNING {_PAGE_COLUMNS}""",
        incident_id,
        at,
        at - stale,
    )
    return sorted((from_row(Page, r) for r in rows), key=lambda p: p.id)


async def page_tried(conn: Conn, page_id: int, error: str | None, at: datetime) -> None:
    await conn.execute(
        """UPDATE incident_pages SET attempts = attempts + 1, last_error = $2, sending_since = NULL,
                  delivered_at = CASE WHEN $2::text IS NULL THEN $3::timestamptz END
           WHERE id = $1 AND delivered_at IS NULL""",
        page_id,
        error,
        at,
    )


async def mark_answered(conn: Conn, incident_id: int, at: datetime) -> bool:
    """The reporter got the declaration's answer: once."""
    status = await conn.execute(
        "UPDATE incidents SET reporter_answered_at = $2 WHERE id = $1 AND reporter_answered_at IS NULL",
        incident_id,
        at,
    )
    return status.endswith(" 1")


async def pages_delivered(conn: Conn, starts: datetime, ends: datetime) -> list[Page]:
    """The pages delivered in [starts, ends), any incident (the on-call report's figures)."""
    rows = await conn.fetch(
        f"""SELECT {_PAGE_COLUMNS} FROM incident_pages WHERE delivered_at >= $1 AND delivered_at < $2
            ORDER BY delivered_at, id""",
        starts,
        ends,
    )
    return [from_row(Page, r) for r in rows]


async def open_during(conn: Conn, starts: datetime, ends: datetime) -> list[Incident]:
    """The incidents open at some time in [starts, ends), in number order."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM incidents WHERE declared_at < $2 AND (resolved_at IS NULL OR resolved_at >= $1)
            ORDER BY number""",
        starts,
        ends,
    )
    return [Incident.of(r) for r in rows]


# -- messages pinned into the timeline ------------------------------------------------------------------------

_PIN_COLUMNS = columns(Pin)


async def pin(conn: Conn, incident_id: int, message_ts: str, *, for_update: bool = False) -> Pin | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_PIN_COLUMNS} FROM incident_pins WHERE incident_id = $1 AND message_ts = $2{lock}",
        incident_id,
        message_ts,
    )
    return from_row(Pin, row) if row else None


async def pin_by_id(conn: Conn, pin_id: int) -> Pin | None:
    row = await conn.fetchrow(f"SELECT {_PIN_COLUMNS} FROM incident_pins WHERE id = $1", pin_id)
    return from_row(Pin, row) if row else None


async def add_pin(
    conn: Conn,
    incident_id: int,
    channel: str,
    message_ts: str,
    *,
    thread_ts: str | None,
    author: str | None,
    posted_at: datetime,
    permalink: str | None,
    text: str,
) -> None:
    """The message, once per incident (a second pin of it, by reaction or shortcut, adds nothing here)."""
    await conn.execute(
        """INSERT INTO incident_pins (incident_id, channel, message_ts, thread_ts, author, posted_at, permalink, text)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (incident_id, message_ts) DO NOTHING""",
        incident_id,
        channel,
        message_ts,
        thread_ts,
        author,
        posted_at,
        permalink,
        text,
    )


async def set_pinner(conn: Conn, pin_id: int, pinner: str, via: str, pinned: bool, event_ts: str) -> None:
    """Who pins it, and how, as of Slack's `event_ts`: an older event than the one recorded changes nothing."""
    await conn.execute(
        """INSERT INTO incident_pinners (pin_id, pinner, via, pinned, event_ts) VALUES ($1, $2, $3, $4, $5::numeric)
           ON CONFLICT (pin_id, pinner, via) DO UPDATE SET pinned = EXCLUDED.pinned, event_ts = EXCLUDED.event_ts
           WHERE incident_pinners.event_ts < EXCLUDED.event_ts""",
        pin_id,
        pinner,
        via,
        pinned,
        event_ts,
    )


async def pinners(conn: Conn, pin_id: int) -> list[str]:
    """Who pins the message now (each once, however they pinned it)."""
    rows = await conn.fetch(
        "SELECT DISTINCT pinner FROM incident_pinners WHERE pin_id = $1 AND pinned ORDER BY pinner", pin_id
    )
    return [r["pinner"] for r in rows]


async def pin_entry(conn: Conn, pin: Pin, at: datetime, actor: str | None, text: str, detail: dict[str, Any]) -> int:
    """The pin's timeline entry (at the message's time), remembered on the pin; its id."""
    event_id = await conn.fetchval(
        """INSERT INTO incident_events (incident_id, at, actor, kind, text, detail)
           VALUES ($1, $2, $3, 'pinned', $4, $5) RETURNING id""",
        pin.incident_id,
        at,
        actor,
        text,
        json.dumps(detail, default=str),
    )
    await conn.execute("UPDATE incident_pins SET event_id = $2 WHERE id = $1", pin.id, event_id)
    return int(event_id)


async def drop_pin_entry(conn: Conn, pin: Pin) -> None:
    """Nobody pins it any more: its timeline entry goes."""
    if pin.event_id is not None:
        await conn.execute("DELETE FROM incident_events WHERE id = $1 AND kind = 'pinned'", pin.event_id)
    await conn.execute("UPDATE incident_pins SET event_id = NULL WHERE id = $1", pin.id)
