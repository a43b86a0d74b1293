"""The public status page as HTML, JSON and an Atom feed, from plain values (no I/O).

Every piece of user text goes through `html.escape` (or ElementTree / JSON encoding) exactly once, after being
decoded from Slack's encoding: a title with `<script>` shows as text and runs nothing. No JavaScript is needed.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from bot.opsconfig import Component
from bot.status import text as slacktext
from bot.status import uptime
from bot.status.ids import Impact, Public
from bot.status.models import Published, Update


@dataclass(frozen=True)
class ComponentView:
    component: Component
    status: Impact
    bar: uptime.Bar


@dataclass(frozen=True)
class IncidentView:
    incident: Published
    impact: Impact
    components: list[str]  # names
    updates: list[Update]  # newest first


@dataclass(frozen=True)
class StatusPage:
    title: str
    base_url: str  # absolute, no trailing slash ("" if unknown: links stay relative)
    now: datetime
    zone: ZoneInfo
    components: list[ComponentView]
    active: list[IncidentView]
    recent: list[IncidentView]

    @property
    def overall(self) -> Impact:
        return uptime.worst([c.status for c in self.components] + [i.impact for i in self.active])


SUMMARY = {
    Impact.OPERATIONAL: "All systems operational",
    Impact.DEGRADED: "Some systems are degraded",
    Impact.PARTIAL: "Partial outage",
    Impact.MAJOR: "Major outage",
}
ICON = {Impact.OPERATIONAL: "✓", Impact.DEGRADED: "!", Impact.PARTIAL: "!", Impact.MAJOR: "✕"}


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _when(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return local.strftime("%d %b %Y %H:%M ") + (local.tzname() or zone.key)


def _time(at: datetime, zone: ZoneInfo) -> str:
    return f'<time datetime="{_e(at.isoformat())}">{_e(_when(at, zone))}</time>'


def _rich(body: str) -> str:
    """A Slack-encoded update as HTML: plain text escaped, links kept (http, https and mailto only)."""
    out = []
    for piece in slacktext.pieces(body):
        if piece.href:
            out.append(f'<a href="{_e(piece.href)}" rel="nofollow noopener">{_e(piece.text)}</a>')
        else:
            out.append(_e(piece.text))
    return "".join(out)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def day_text(day: uptime.Day) -> str:
    """The words a bar day stands for (its text alternative and tooltip)."""
    label = day.day.strftime("%a %d %b %Y")
    if day.impact == Impact.OPERATIONAL:
        return f"{label}: no incidents"
    what = uptime.LABEL[day.impact].lower()
    down = f", {_duration(day.down.total_seconds())} down" if day.down.total_seconds() >= 60 else ""
    return f"{label}: {what}{down} ({'; '.join(day.titles)})"


CSS = """
:root { color-scheme: light; --ink: #1b1f24; --muted: #4a5260; --line: #d5d9e0; --bg: #ffffff;
  --operational: #1f7a3a; --degraded: #8a5a00; --partial: #b4410e; --major: #b3261e; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 16px/1.5 system-ui, -apple-system, "Segoe UI",
  "Noto Sans", "Apple SD Gothic Neo", "Malgun Gothic", "NanumGothic", sans-serif; }
main { max-width: 56rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.75rem; margin: 0 0 1rem; }
h2 { font-size: 1.25rem; margin: 2rem 0 0.75rem; border-bottom: 1px solid var(--line); padding-bottom: 0.25rem; }
h3 { font-size: 1.05rem; margin: 0; }
p, li, h1, h2, h3, td { overflow-wrap: anywhere; word-break: keep-all; }
a { color: #0b57d0; }
a:focus, a:hover { outline: 2px solid #0b57d0; outline-offset: 2px; }
.sr-only { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;
  clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0; }
.banner { padding: 0.75rem 1rem; border-radius: 6px; color: #fff; font-weight: 600; font-size: 1.1rem; }
.banner.operational { background: var(--operational); } .banner.degraded { background: var(--degraded); }
.banner.partial { background: var(--partial); } .banner.major { background: var(--major); }
.components { list-style: none; padding: 0; margin: 0; }
.component { border: 1px solid var(--line); border-radius: 6px; padding: 0.75rem 1rem; margin-bottom: 0.75rem; }
.component-head { display: flex; justify-content: space-between; gap: 1rem; flex-wrap: wrap; align-items: baseline; }
.status { font-weight: 600; }
.status.operational { color: var(--operational); } .status.degraded { color: var(--degraded); }
.status.partial { color: var(--partial); } .status.major { color: var(--major); }
.description, .meta { color: var(--muted); font-size: 0.9rem; margin: 0.1rem 0; }
.bars { display: flex; gap: 2px; list-style: none; padding: 0; margin: 0.5rem 0 0.25rem; height: 2rem; }
.bars li { flex: 1 1 0; min-width: 2px; border-radius: 1px; }
.day-operational { background: var(--operational); } .day-degraded { background: var(--degraded); }
.day-partial { background: var(--partial); } .day-major { background: var(--major); }
.legend { display: flex; justify-content: space-between; color: var(--muted); font-size: 0.85rem; }
.incident { border-left: 4px solid var(--line); padding: 0.25rem 0 0.25rem 1rem; margin-bottom: 1.5rem; }
.incident.major { border-color: var(--major); } .incident.partial { border-color: var(--partial); }
.incident.degraded { border-color: var(--degraded); }
.updates { list-style: none; padding: 0; margin: 0.5rem 0 0; }
.updates li { margin-bottom: 0.75rem; }
.update-status { font-weight: 600; }
footer { margin-top: 2.5rem; color: var(--muted); font-size: 0.9rem; }
"""


def _component(view: ComponentView, zone: ZoneInfo) -> str:
    c = view.component
    label = uptime.LABEL[view.status]
    days = "".join(
        f'<li class="day day-{d.impact}" title="{_e(day_text(d))}"><span class="sr-only">{_e(day_text(d))}</span></li>'
        for d in view.bar.days
    )
    first, last = view.bar.days[0].day, view.bar.days[-1].day
    n = view.bar.incident_days
    with_incidents = f"{n} day{'s' if n != 1 else ''} with incidents"
    description = f'<p class="description">{_e(c.description)}</p>' if c.description else ""
    return f"""<li class="component" id="component-{_e(c.id)}" data-component="{_e(c.id)}">
<div class="component-head"><h3>{_e(c.name)}</h3>
<p class="status {view.status}" data-status="{view.status}">
<span aria-hidden="true">{ICON[view.status]}</span> {label}</p></div>
{description}
<ol class="bars" aria-label="{_e(c.name)}: each day of the last {uptime.DAYS} days, oldest first">{days}</ol>
<div class="legend"><span>{_e(first.strftime("%d %b"))}</span>
<span class="uptime">{view.bar.uptime:.2f}% uptime over {uptime.DAYS} days · {with_incidents}</span>
<span>Today</span></div>
<span class="sr-only">Last day shown: {_e(last.strftime("%d %b %Y"))}.</span>
</li>"""


def _incident(view: IncidentView, zone: ZoneInfo) -> str:
    i = view.incident
    status = Public(i.status).label
    updates = "".join(
        f"""<li><span class="update-status">{_e(Public(u.status).label)}</span> · {_time(u.at, zone)}
<p>{_rich(u.body)}</p></li>"""
        for u in view.updates
    )
    affected = ", ".join(_e(name) for name in view.components) or "no component named"
    span = f"Started {_time(i.declared_at, zone)}"
    if i.resolved_at:
        span += f" · resolved {_time(i.resolved_at, zone)}"
    anchor = f"incident-{i.public_id}"
    return f"""<article class="incident {view.impact}" id="{anchor}" aria-labelledby="{anchor}-title">
<h3 id="{anchor}-title">{_e(i.public_title)}</h3>
<p class="meta"><span class="incident-status">{_e(status)}</span> · {_e(uptime.LABEL[view.impact])} ·
Affects: {affected}</p>
<p class="meta">{span}</p>
<ol class="updates" aria-label="Updates, newest first">{updates}</ol>
</article>"""


def render_html(page: StatusPage) -> str:
    overall = page.overall
    components = "".join(_component(c, page.zone) for c in page.components) or "<li>No components are configured.</li>"
    active = "".join(_incident(i, page.zone) for i in page.active) or "<p>No incidents right now.</p>"
    recent = "".join(_incident(i, page.zone) for i in page.recent) or "<p>No incidents in the last 14 days.</p>"
    base = page.base_url
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(page.title)}</title>
<link rel="alternate" type="application/atom+xml" title="{_e(page.title)}" href="{_e(base)}/status/feed.atom">
<link rel="alternate" type="application/json" href="{_e(base)}/status.json">
<style>{CSS}</style>
</head>
<body>
<main>
<h1>{_e(page.title)}</h1>
<p class="banner {overall}" role="status" id="overall">
<span aria-hidden="true">{ICON[overall]}</span> {SUMMARY[overall]}</p>
<section aria-labelledby="components-heading">
<h2 id="components-heading">Components</h2>
<ul class="components">{components}</ul>
</section>
<section aria-labelledby="current-heading" id="current">
<h2 id="current-heading">Current incidents</h2>
{active}
</section>
<section aria-labelledby="recent-heading" id="recent">
<h2 id="recent-heading">Recent incidents</h2>
{recent}
</section>
<footer><p>Times are in {_e(page.zone.key)}. Subscribe: <a href="{_e(base)}/status/feed.atom">Atom feed</a> ·
<a href="{_e(base)}/status.json">JSON</a></p></footer>
</main>
</body>
</html>
"""


def _incident_json(view: IncidentView) -> dict[str, Any]:
    i = view.incident
    return {
        "id": i.public_id,
        "title": i.public_title,
        "status": i.status,
        "impact": view.impact,
        "components": [c for c in i.components],
        "started_at": i.declared_at.isoformat(),
        "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
        "updates": [
            {"at": u.at.isoformat(), "status": u.status, "text": slacktext.plain(u.body)} for u in view.updates
        ],
    }


def render_json(page: StatusPage) -> dict[str, Any]:
    return {
        "page": {"name": page.title, "url": f"{page.base_url}/status"},
        "status": {"indicator": page.overall, "description": SUMMARY[page.overall]},
        "components": [
            {
                "id": c.component.id,
                "name": c.component.name,
                "status": c.status,
                "uptime_90d": round(c.bar.uptime, 4),
                "days": [
                    {"date": d.day.isoformat(), "impact": d.impact, "down_seconds": int(d.down.total_seconds())}
                    for d in c.bar.days
                ],
            }
            for c in page.components
        ],
        "incidents": [_incident_json(i) for i in page.active + page.recent],
    }


ATOM = "http://www.w3.org/2005/Atom"


def render_atom(title: str, base_url: str, updated: datetime, entries: list[tuple[Update, Published]]) -> bytes:
    ET.register_namespace("", ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        node = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
        if text is not None:
            node.text = text
        return node

    feed = ET.Element(f"{{{ATOM}}}feed")
    sub(feed, "id", f"{base_url}/status")
    sub(feed, "title", title)
    sub(feed, "updated", updated.isoformat())
    sub(feed, "link", href=f"{base_url}/status", rel="alternate", type="text/html")
    sub(feed, "link", href=f"{base_url}/status/feed.atom", rel="self", type="application/atom+xml")
    author = sub(feed, "author")
    sub(author, "name", title)
    for update, incident in entries:
        entry = sub(feed, "entry")
        # Public names only: the incident's slug, and the update's row id (a count of public updates alone).
        sub(entry, "id", f"{base_url}/status#incident-{incident.public_id}-update-{update.id}")
        sub(entry, "title", f"{incident.public_title}: {Public(update.status).label}")
        sub(entry, "updated", update.at.isoformat())
        sub(entry, "link", href=f"{base_url}/status#incident-{incident.public_id}", rel="alternate")
        sub(entry, "content", slacktext.plain(update.body), type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)
