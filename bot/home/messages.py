"""The Home tab's Block Kit, from plain values (no I/O). Each list is one section, cut at MAX_LINES with a
count of the rest, so the view stays far inside Slack's 100-block and 3,000-character limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.deploys.models import Deploy
from bot.home.models import MyAction, MyIncident, OpenChecklist
from bot.oncall.messages import shift_line
from bot.opsconfig import Runbook
from bot.rota.lookup import OnCall
from bot.slack.blocks import TEXT_LIMIT, clock_time, context, section, when
from bot.slack.text import escape, mrkdwn, shorten

Blocks = list[dict[str, Any]]
MAX_BLOCKS = 100
MAX_LINES = 10
LINE = 280  # characters of user text on one line


@dataclass(frozen=True)
class Home:
    user: str
    now: datetime
    team: ZoneInfo
    viewer: ZoneInfo | None
    on_call: OnCall
    next_on_call: OnCall
    next_handoff: datetime
    incidents: list[MyIncident]
    actions: list[MyAction]
    deploys: list[Deploy]
    watches: list[Deploy]
    checklists: list[OpenChecklist]
    runbooks: list[Runbook]
    status_url: str | None
    pins: list[str] = field(default_factory=list)  # environments a rollback pinned, in words (deploys' pin_line)


def _lines(items: list[str], empty: str) -> str:
    if not items:
        return f"_{empty}_"
    shown = items[:MAX_LINES]
    more = len(items) - len(shown)
    text = "\n".join(shown) + (f"\n_…and {more} more_" if more else "")
    while len(text) > TEXT_LIMIT and len(shown) > 1:  # never cut a line (a mention or link) in half
        shown = shown[:-1]
        more += 1
        text = "\n".join(shown) + f"\n_…and {more} more_"
    return text


def _channel(channel_id: str | None, number: int) -> str:
    return f"<#{channel_id}>" if channel_id else f"INC-{number}"


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def home_view(home: Home) -> dict[str, Any]:
    tz = home.team
    on_now = "\n".join(shift_line(s, tz, home.viewer) for s in home.on_call.shifts())
    on_next = "\n".join(shift_line(s, tz, home.viewer) for s in home.next_on_call.shifts())
    incidents = [
        f"*INC-{i.number}* {i.severity} · {shorten(mrkdwn(i.title), LINE)} · {escape(i.stage)} · you are "
        f"{i.role} · {_channel(i.channel_id, i.number)}"
        for i in home.incidents
    ]
    actions = [f"#{a.id} {shorten(mrkdwn(a.text), LINE)} · {_channel(a.channel_id, a.number)}" for a in home.actions]
    deploys = [
        f"{escape(d.ref)} · {d.status}" + (f" since {clock_time(d.started_at, tz)}" if d.started_at else "")
        for d in home.deploys
    ]
    watches = [f"{escape(d.ref)} · watch until {clock_time(d.watch_until, tz)}" for d in home.watches if d.watch_until]
    checklists = [
        f"*{c.kind.capitalize()}* (posted {when(c.posted_at, tz)}, due {when(c.deadline_at, tz)}): "
        + "; ".join(escape(t) for t in c.open_items[:5])
        + (f" _and {len(c.open_items) - 5} more_" if len(c.open_items) > 5 else "")
        for c in home.checklists
    ]
    runbooks = [f"`/runbook {r.slug}` {escape(r.name)}" for r in home.runbooks]
    links = []
    if home.status_url:
        links.append(f"<{home.status_url}|Public status page>")
    blocks: Blocks = [
        _header("ZZIK Ops"),
        context(f"Updated {when(home.now, tz)} · opens fresh each time you come here"),
        section(f"*On call now*\n{on_now}"),
        section(f"*Next, from {when(home.next_handoff, tz)}*\n{on_next}"),
        {"type": "divider"},
        section("*Your open incidents*\n" + _lines(incidents, "none: you command or reported no open incident")),
        section("*Your open action items*\n" + _lines(actions, "none")),
        {"type": "divider"},
        *([section("*Pinned environments*\n" + _lines(home.pins, "none"))] if home.pins else []),
        section("*Deploys in progress*\n" + _lines(deploys, "none")),
        section("*Watch windows open*\n" + _lines(watches, "none")),
        section("*Maintenance checklists with open items*\n" + _lines(checklists, "all done")),
        {"type": "divider"},
        section("*Runbooks*\n" + _lines(runbooks, "none configured")),
    ]
    if links:
        blocks.append(section(" · ".join(links)))
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}
