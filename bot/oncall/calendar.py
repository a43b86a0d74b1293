"""The on-call calendar: `GET /oncall.ics?token=…` (an iCalendar feed Google Calendar and Outlook subscribe to) and
`/oncall calendar [rotate]`, which DMs a person their two secret links: their own shifts, and the whole team's.

The feed covers WINDOW_BACK before now to WINDOW_AHEAD after it (the longest schedule and override the bot takes),
in UTC, one event per shift (bot/oncall/shifts.py: overrides replace the rotation for their span; each event's UID
comes from its shift's key, so a moved shift updates in the calendar instead of appearing twice).

A link is `secrets.token_urlsafe(32)`; only its sha256 is stored. It is shown once, in the DM: asking again says
where it went, and `/oncall calendar rotate` revokes the old links and sends new ones.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vDuration

from bot import audit, log
from bot.errors import Invalid
from bot.oncall import messages_calendar as messages
from bot.oncall import store
from bot.oncall.shifts import Shift, shifts
from bot.rota import store as rota_store
from bot.rota.lookup import rotation
from bot.services import Services
from bot.services import zone as team_zone
from bot.slack.failures import SLACK_FAILURES, attempt

logger = log.get("zzik.oncall")

WINDOW_BACK = timedelta(weeks=4)
WINDOW_AHEAD = timedelta(weeks=26)
SCOPES = ("person", "team")
PRODID = "-//ZZIK Ops//On-call calendar//EN"
UID_DOMAIN = "oncall.zzik-ops"
REFRESH = timedelta(hours=1)  # how often a calendar should fetch the feed again (a hint; Google decides itself)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$", re.ASCII)
TOKEN_BYTES = 32


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def feed_url(services: Services, token: str) -> str:
    return f"{(services.settings.zzik_public_url or '').rstrip('/')}/oncall.ics?token={token}"


# -- /oncall calendar -----------------------------------------------------------------------------------------


async def send_links(services: Services, user: str, request_id: str, *, rotate: bool) -> str:
    """Issue the person's two links and DM them; without `rotate`, links already sent are not issued again (only
    their hashes are kept: the DM is where they are)."""
    if not services.settings.zzik_public_url:
        raise Invalid(messages.CALENDAR_NO_PUBLIC_URL)
    now = services.clock.now()
    tokens = {scope: secrets.token_urlsafe(TOKEN_BYTES) for scope in SCOPES}
    hashes = [token_hash(t) for t in tokens.values()]
    async with services.db.transaction() as conn:
        await store.lock_calendar(conn, user)
        live = await store.live_links(conn, user)
        if live and not rotate and all(link.sent_at for link in live):
            sent = min(link.sent_at for link in live if link.sent_at)
            return messages.calendar_already_sent(sent, team_zone(services))
        revoked = await store.revoke_links(conn, user, now)
        for scope, token in tokens.items():
            await store.add_link(conn, user, scope, token_hash(token), now)
        action = "calendar.rotate" if rotate else "calendar.issue"
        await audit.ok(conn, "oncall", action, user, detail={"revoked": revoked}, request_id=request_id)
    text = messages.calendar_links(feed_url(services, tokens["person"]), feed_url(services, tokens["team"]))
    failed = await attempt("calendar links not sent", services.slack.chat_postMessage(channel=user, text=text))
    if failed is not None:
        # A link nobody holds is no use: withdrawn, so the next `/oncall calendar` issues fresh ones.
        async with services.db.transaction() as conn:
            await store.revoke_links(conn, user, services.clock.now(), hashes)
        return messages.calendar_not_sent(failed.reason, revoked=bool(revoked))
    await store.links_sent(services.db, hashes, services.clock.now())
    return messages.calendar_sent(rotated=bool(revoked))


# -- GET /oncall.ics ------------------------------------------------------------------------------------------


async def feed_owner(services: Services, token: str) -> tuple[str, str] | None:
    """(user id, scope) of a live link's token; None for anything else (malformed, unknown, revoked)."""
    if not _TOKEN.match(token):
        return None
    return await store.link_owner(services.db, token_hash(token))


async def _names(services: Services, members: set[str]) -> dict[str, tuple[str | None, str]]:
    """Each member as (user id or None, the name to show). A name Slack cannot give now is shown as the id; an
    email Slack cannot resolve now raises (the feed answers 503): a feed missing someone's shifts would make
    their calendar delete them."""
    found: dict[str, tuple[str | None, str]] = {}
    for member in members:
        uid = await services.users.resolve(member)
        try:
            name = await services.users.name(uid) if uid else None
        except SLACK_FAILURES:
            name = None
        found[member] = (uid, name or member)
    return found


async def feed(services: Services, owner: str, scope: str) -> bytes:
    """The iCalendar feed of `owner`'s link: their own shifts (`person`) or everyone's (`team`)."""
    now = services.clock.now()
    starts, ends = now - WINDOW_BACK, now + WINDOW_AHEAD
    overrides = await rota_store.overlapping(services.db, starts, ends)
    plan = [s for s in shifts(rotation(services), overrides, starts, ends) if s.member]
    names = await _names(services, {s.member for s in plan if s.member})
    if scope == "person":
        plan = [s for s in plan if s.member and names[s.member][0] == owner]
    title = "On call: the team"
    if scope == "person":
        title = f"On call: {(await _names(services, {owner}))[owner][1]}"
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"ZZIK {title}")
    cal.add("name", f"ZZIK {title}")
    cal.add("x-wr-caldesc", messages.CALENDAR_DESCRIPTION)
    cal.add("x-wr-timezone", team_zone(services).key)
    cal.add("refresh-interval", vDuration(REFRESH), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", vDuration(REFRESH))
    stamp = now.astimezone(UTC).replace(microsecond=0)
    for shift in plan:
        cal.add_component(_event(services, shift, names, scope, stamp))
    return cal.to_ical()


def _event(
    services: Services, shift: Shift, names: dict[str, tuple[str | None, str]], scope: str, stamp: datetime
) -> Event:
    name = names[shift.member][1] if shift.member else "nobody"
    event = Event()
    # One UID per shift and feed: a personal feed's event is not the team feed's (a calendar may hold both).
    event.add("uid", f"{shift.key}{'.me' if scope == 'person' else ''}@{UID_DOMAIN}")
    event.add("dtstamp", stamp)
    event.add("dtstart", shift.starts_at.astimezone(UTC))
    event.add("dtend", shift.ends_at.astimezone(UTC))
    event.add("summary", messages.calendar_summary(shift.role, name))
    event.add("description", messages.calendar_event_text(shift, services.config.oncall.roles))
    event.add("categories", ["On call", shift.role])
    event.add("transp", "TRANSPARENT")  # on call is not busy: it does not block meetings
    return event
