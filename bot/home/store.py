"""The Home tab's own reads (it writes nothing): a person's incidents and action items, the maintenance
checklists still open. Deploys and watch windows come from the deploys domain's api."""

from __future__ import annotations

import json

from bot.db import Database
from bot.home.models import MyAction, MyIncident, OpenChecklist


async def my_incidents(db: Database, user: str) -> list[MyIncident]:
    rows = await db.fetch(
        """SELECT number, severity, title, stage, channel_id, declared_at,
                  CASE WHEN commander = $1 THEN 'commander' ELSE 'reporter' END AS role
           FROM incidents WHERE status = 'open' AND (commander = $1 OR reporter = $1)
           ORDER BY severity, declared_at""",
        user,
    )
    return [MyIncident(**dict(r)) for r in rows]


async def my_actions(db: Database, user: str) -> list[MyAction]:
    rows = await db.fetch(
        """SELECT a.id, i.number, a.text, i.channel_id FROM incident_actions a JOIN incidents i ON i.id = a.incident_id
           WHERE a.owner = $1 AND a.done_at IS NULL ORDER BY a.id""",
        user,
    )
    return [MyAction(**dict(r)) for r in rows]


async def open_checklists(db: Database) -> list[OpenChecklist]:
    """The latest post of each maintenance checklist, if some of its items are still open."""
    rows = await db.fetch(
        """SELECT DISTINCT ON (p.kind) p.kind, p.posted_at, p.deadline_at, p.channel, p.ts, p.items,
                  ARRAY(SELECT m.item FROM maintenance_items m WHERE m.post_id = p.id AND m.done_at IS NOT NULL)
                      AS done
           FROM maintenance_posts p
           ORDER BY p.kind, p.due_at DESC"""
    )
    found = []
    for r in rows:
        items = json.loads(r["items"])
        done = set(r["done"])
        still_open = [text for i, text in enumerate(items) if i not in done]
        if still_open:
            found.append(OpenChecklist(r["kind"], r["posted_at"], r["deadline_at"], r["channel"], r["ts"], still_open))
    return found
