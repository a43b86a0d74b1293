"""The incidents domain's records: what its store returns and the other domains may import (never its store)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

import asyncpg

from bot.db import from_row
from bot.incidents.enums import CommandAnswer, Severity, Status


@dataclass(frozen=True)
class Incident:
    id: int
    number: int
    title: str
    description: str | None
    severity: Severity
    status: Status
    stage: str
    commander: str
    reporter: str
    origin_channel: str | None
    channel_id: str | None
    channel_name: str | None
    kickoff_ts: str | None
    announcement_channel: str | None
    announcement_ts: str | None
    paged_at: datetime | None
    setup_error: str | None
    declared_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    last_update_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    summary: str | None
    reporter_answered_at: datetime | None = None
    # The acknowledgement's expiry (ack_expiry.py): when its window began and runs out, a snooze, the reminder.
    ack_since: datetime | None = None
    ack_expires_at: datetime | None = None
    snoozed_until: datetime | None = None
    snoozed_by: str | None = None
    ack_reminder_ts: str | None = None

    @property
    def slack_channel(self) -> str:
        """The incident channel, for the Slack calls made in it (they run once the set-up has created it; were
        one made before, the missing channel goes out as before and Slack refuses the call)."""
        return cast(str, self.channel_id)

    @property
    def announced_in(self) -> str:
        """The announcement's channel, for the Slack calls about it (made only once `announcement_ts` is set)."""
        return cast(str, self.announcement_channel)

    @property
    def ref(self) -> str:
        return f"INC-{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status == Status.OPEN

    @classmethod
    def of(cls, row: asyncpg.Record) -> Incident:
        return from_row(cls, row, severity=Severity, status=Status)


@dataclass(frozen=True)
class Event:
    at: datetime
    actor: str | None
    kind: str
    text: str


@dataclass(frozen=True)
class ActionItem:
    id: int
    text: str
    owner: str | None
    created_by: str
    created_at: datetime
    done_at: datetime | None
    due_on: date | None = None
    done_by: str | None = None
    incident_id: int | None = None


@dataclass(frozen=True)
class Pin:
    """A message of an incident channel pinned into the incident's timeline (a 📌 reaction, *Add to timeline*).
    `event_id`: its timeline entry, while someone still pins it."""

    id: int
    incident_id: int
    channel: str
    message_ts: str
    thread_ts: str | None
    author: str | None
    posted_at: datetime
    permalink: str | None
    text: str  # safe mrkdwn: the message as Slack sent it
    event_id: int | None

    @property
    def reply_ts(self) -> str:
        """Where the bot's replies about it go: the message's thread."""
        return self.thread_ts or self.message_ts


def duration(start: datetime, end: datetime) -> str:
    minutes = int((end - start) / timedelta(minutes=1))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


@dataclass(frozen=True)
class CommandRequest:
    id: int
    incident_id: int
    requested_by: str
    commander: str
    answer: CommandAnswer | None


@dataclass(frozen=True)
class Page:
    id: int
    page_key: str
    user_id: str
    role: str
    reason: str
    attempts: int
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    sending_since: datetime | None = None  # a sender's claim (claim_undelivered_pages), cleared when it is tried

    @property
    def reachable(self) -> bool:
        """A Slack user the bot can DM (not an email Slack does not know, not nobody)."""
        return self.user_id[:1] in "UW" and "@" not in self.user_id
