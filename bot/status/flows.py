"""Status stories: publish from an incident channel, build the public page, post to the stakeholders."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot import audit, log, policy
from bot.errors import Invalid, NotFound
from bot.incidents import api as incidents
from bot.incidents import channel as incident_channel
from bot.incidents.models import Incident
from bot.policy import Do, Subject
from bot.rota.lookup import who_is_on_call
from bot.services import Services, zone
from bot.slack.failures import SLACK_FAILURES
from bot.status import messages, store, uptime
from bot.status import page as statuspage
from bot.status import text as slacktext
from bot.status.hooks import schedule_reminder
from bot.status.ids import MAX_BUTTON_VALUE, NOT_A_PREVIEW, Confirmation, Job, Public, Told
from bot.status.models import Draft, Published, Update
from bot.status.parse import PublicUpdate

logger = log.get("zzik.status")
RECENT = timedelta(days=14)
FEED_ENTRIES = 50


def base_url(services: Services) -> str:
    return (services.settings.zzik_public_url or "").rstrip("/")


def page_url(services: Services) -> str:
    return f"{base_url(services)}/status"


def component_names(services: Services, ids: list[str]) -> list[str]:
    names = {c.id: c.name for c in services.config.components}
    return [names.get(i, i) for i in ids]


# -- who may publish -------------------------------------------------------------------------------------------


async def may_publish(services: Services, incident: Incident, actor: str) -> None:
    """The commander, whoever is on call now, or a manager (bot/policy.py)."""
    await policy.require(services, Do.INCIDENT_PUBLISH, actor, Subject(commander=incident.commander))


# -- what the public may read ------------------------------------------------------------------------------------


async def display_name(services: Services, user: str) -> str | None:
    """The name Slack shows for a user (display name, else real name); None when Slack knows nobody by that id or
    cannot say now (then the mention's own label is shown, else nothing: never the id)."""
    try:
        info = await services.users.info(user)
    except SLACK_FAILURES as exc:
        logger.warning("no name for a mention in a public update", user=user, error=repr(exc))
        return None
    if not info:
        return None
    profile = info.get("profile") or {}
    found = profile.get("display_name") or profile.get("real_name") or info.get("real_name") or info.get("name")
    return " ".join(slacktext.without_controls(str(found or "")).split()) or None


async def public_text(services: Services, slack_text: str) -> str:
    """An update as the public may read it (bot/status/text.py `public`), the people it mentions by name."""
    users = slacktext.mentioned(slack_text)
    names = await asyncio.gather(*(display_name(services, u) for u in users))
    return slacktext.public(slack_text, dict(zip(users, names, strict=True)))


NOTHING_LEFT = "Nothing is left of that update once the Slack mentions are taken out; say it in words."


# -- publishing -------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What `/incident public` did: a form opened (the first update) or a preview to confirm (every later one);
    nothing is published yet either way."""

    opened_form: bool = False
    preview: tuple[str, list[dict[str, Any]]] | None = None


async def public_command(
    services: Services, incident: Incident, actor: str, request: PublicUpdate, *, key: str, trigger_id: str | None
) -> Outcome:
    await may_publish(services, incident, actor)
    body = await public_text(services, request.text)
    if not slacktext.plain(body).strip():
        raise Invalid(NOTHING_LEFT)
    current = await store.published(services.db, incident.id)
    if current is None:
        status = request.status or Public.INVESTIGATING.value
        view = messages.publish_modal(incident, services.config, body, status, incident.channel_id)
        if len(view["private_metadata"]) > 3000:
            raise Invalid("That update is too long for the form; shorten it.")
        await services.slack.views_open(trigger_id=trigger_id, view=view)
        return Outcome(opened_form=True)
    status = request.status or current.status
    confirmation = Confirmation(incident.id, status, body, key)
    if len(confirmation.value()) > MAX_BUTTON_VALUE:
        raise Invalid("That update is too long to confirm; shorten it.")
    return Outcome(preview=messages.update_preview(current, confirmation))


async def publish_confirmed(services: Services, actor: str, value: str | None) -> str:
    """*Publish* pressed under an update's preview: published once (the key is the command's), however often
    it is pressed. Returns the answer for the person who pressed it."""
    confirmation = Confirmation.parse(value)
    incident = await incidents.get(services.db, confirmation.incident)
    if incident is None:
        raise NotFound("That incident does not exist.")
    await may_publish(services, incident, actor)
    if await store.published(services.db, incident.id) is None:
        # Only the first update's form sets the public title; this button cannot have come from the bot.
        raise NotFound(NOT_A_PREVIEW)
    draft = Draft(confirmation.key, confirmation.status, confirmation.body)
    notice = await publish(services, incident, actor, draft)
    if notice is None:
        return "That update is published already."
    if incident.channel_id:
        await services.slack.chat_postMessage(channel=incident.channel_id, text=notice, unfurl_links=False)
    return "Published."


async def publish(services: Services, incident: Incident, actor: str, draft: Draft) -> str | None:
    """One public update in one transaction: the page's record, the timeline, the kickoff tick, the stakeholders'
    post (durable work). Returns the notice for the incident channel; None if this key was already published.
    The text is cleaned here, on its way in, whatever brought it (a form, a button value anyone could forge)."""
    draft = replace(
        draft,
        body=await public_text(services, draft.body),
        title=slacktext.without_controls(draft.title) if draft.title is not None else None,
    )
    if not slacktext.plain(draft.body).strip():
        raise Invalid(NOTHING_LEFT)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        update = await store.publish(conn, incident.id, now, actor, draft)
        if update is None:
            return None
        published = await store.published(conn, incident.id)
        if published is None:  # store.publish wrote it above, in this transaction
            raise LookupError(f"incident {incident.id}: no status page record right after publishing")
        await incidents.add_event(
            conn, incident.id, now, actor, "public", f"published on the status page ({draft.status}): {draft.body}"
        )
        await _tick_kickoff_item(services, conn, incident, "status page", actor, now)
        if incident.severity in services.config.stakeholders.severities:
            await services.jobs.schedule_once(
                conn,
                Job.STAKEHOLDERS,
                f"{incident.id}:update:{update.id}",
                now,
                {"incident_id": incident.id, "what": Told.UPDATE, "update_id": update.id},
            )
        detail = {"incident": incident.ref, "status": draft.status, "update": update.id}
        await audit.ok(conn, "status", "publish", actor, incident.channel_id, detail)
    await incident_channel.refresh_kickoff(services, incident)
    return messages.published_notice(
        incident, published, update, component_names(services, published.components), page_url(services)
    )


async def publish_from_form(
    services: Services, actor: str, *, key: str, metadata: str, title: str, status: str, components: list[str]
) -> None:
    try:
        data = json.loads(metadata)
        incident_id, body = int(data["incident"]), str(data["body"])
    except (ValueError, KeyError, TypeError):
        raise NotFound("That form does not belong to an incident any more.") from None
    incident = await incidents.get(services.db, incident_id)
    if incident is None:
        raise NotFound("That incident does not exist.")
    await may_publish(services, incident, actor)
    notice = await publish(services, incident, actor, Draft(key, status, body, title, components))
    if notice and incident.channel_id:
        await services.slack.chat_postMessage(channel=incident.channel_id, text=notice, unfurl_links=False)


async def _tick_kickoff_item(
    services: Services, conn: Any, incident: Incident, words: str, actor: str, now: datetime
) -> None:
    """Tick the kickoff checklist's item that mentions `words` ("status page"), once."""
    for s, stage in enumerate(services.config.incidents.stages):
        for i, item in enumerate(stage.items):
            if words in item.lower() and await incidents.tick(conn, incident.id, s, i, actor, now):
                await incidents.add_event(conn, incident.id, now, actor, "check", f"✓ {stage.name}: {item}")


# -- scheduled ---------------------------------------------------------------------------------------------------


async def post_to_stakeholders(
    services: Services, incident_id: int, what: str, update_id: int | None, at: str | None = None
) -> bool:
    """One plain-language post in the stakeholders' channel; recorded, so a run that repeats posts nothing twice.
    `at` tells one resolution or reopening from the next."""
    key = f"{incident_id}:{what}" + (f":{update_id}" if update_id else "") + (f":{at}" if at else "")
    if await store.stakeholder_post(services.db, key):
        return False
    incident = await incidents.get(services.db, incident_id)
    if incident is None:
        return False
    published = await store.published(services.db, incident_id)
    url = page_url(services) if base_url(services) else ""
    if what == Told.DECLARED:
        text = messages.stakeholders_declared(incident, services.config, zone(services), url)
    elif what == Told.RESOLVED:  # as it was resolved then: it may have been reopened since
        resolved_at = datetime.fromisoformat(at) if at else incident.resolved_at
        text = messages.stakeholders_resolved(incident, published, services.config, url, resolved_at)
    elif what == Told.REOPENED:
        text = messages.stakeholders_reopened(incident, published, services.config, url)
    else:
        update = await store.update(services.db, update_id or 0)
        if update is None or published is None:
            return False
        text = messages.stakeholders_update(published, update, component_names(services, published.components), url)
    channel = services.config.stakeholders.channel
    response = await services.slack.chat_postMessage(channel=channel, text=text, unfurl_links=False)
    now = services.clock.now()
    async with services.db.transaction() as conn:
        await store.record_stakeholder_post(conn, key, incident_id, response["channel"], response["ts"], now)
        await incidents.add_event(
            conn, incident_id, now, None, "stakeholders", f"stakeholders told ({what}) in {channel}"
        )
    return True


async def remind_manager(services: Services, incident_id: int, due: datetime) -> bool:
    """A P1 with no stakeholder update for `remind_after`: the on-call manager is told (the channel if none)."""
    incident = await incidents.get(services.db, incident_id)
    rules = services.config.stakeholders
    if incident is None or not incident.is_open or incident.severity not in rules.remind_severities:
        return False
    now = services.clock.now()
    last = await store.last_update_at(services.db, incident_id) or incident.declared_at
    if now - last < rules.remind_after:
        async with services.db.transaction() as conn:
            await schedule_reminder(services, conn, incident, last, now)
        return False
    text = messages.manager_reminder(incident, last, now, rules.remind_after, zone(services))
    manager = (await who_is_on_call(services, now)).manager.user
    if manager and manager[:1] in "UW" and "@" not in manager:
        await services.slack.chat_postMessage(channel=manager, text=text)
        told = f"reminded @{manager} to update the stakeholders"
    else:
        await services.slack.chat_postMessage(
            channel=incident.channel_id or services.config.channels.incidents,
            text=text + "\n_Nobody is on call as manager, so this goes to the channel._",
        )
        told = "reminded the channel to update the stakeholders (no manager on call)"
    async with services.db.transaction() as conn:
        await incidents.add_event(conn, incident_id, now, None, "reminder", told)
        await schedule_reminder(services, conn, incident, last, now)
    return True


# -- the public page ---------------------------------------------------------------------------------------------


async def status_page(services: Services) -> statuspage.StatusPage:
    now = services.clock.now()
    tz = zone(services)
    since = min(uptime.window_start(now, tz), now - RECENT)
    published = await store.for_page(services.db, since)
    shown = [p for p in published if not p.is_resolved or (p.resolved_at and p.resolved_at >= now - RECENT)]
    updates = await store.updates(services.db, [p.incident_id for p in shown])
    by_incident: dict[int, list[Update]] = {}
    for u in updates:
        by_incident.setdefault(u.incident_id, []).append(u)

    def view(p: Published) -> statuspage.IncidentView:
        return statuspage.IncidentView(
            p, uptime.impact(p), component_names(services, p.components), by_incident.get(p.incident_id, [])
        )

    components = [
        statuspage.ComponentView(c, uptime.component_status(c.id, published), uptime.bar(c.id, published, now, tz))
        for c in services.config.components
    ]
    return statuspage.StatusPage(
        title=services.config.stakeholders.status_page_title,
        base_url=base_url(services),
        now=now,
        zone=tz,
        components=components,
        active=[view(p) for p in shown if not p.is_resolved],
        recent=[view(p) for p in shown if p.is_resolved],
    )


async def feed(services: Services, base: str) -> bytes:
    updates = await store.recent_updates(services.db, FEED_ENTRIES)
    ids = list(dict.fromkeys(u.incident_id for u in updates))
    found = await asyncio.gather(*(store.published(services.db, i) for i in ids))
    published = {p.incident_id: p for p in found if p is not None}
    entries = [(u, published[u.incident_id]) for u in updates if u.incident_id in published]
    # With nothing published yet, the feed changes once a day at most (so its ETag holds).
    updated = updates[0].at if updates else services.clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    return statuspage.render_atom(services.config.stakeholders.status_page_title, base, updated, entries)
