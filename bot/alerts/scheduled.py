"""The alerts domain's durable follow-ups: pages and escalations to the people on call, the incident declared
for an alert, and the notes its incident channel and its deploy's thread hear."""

from __future__ import annotations

import asyncio

from bot import log
from bot.alerts import messages, store
from bot.alerts.events import AlertPaged
from bot.alerts.flows import link_incident, record
from bot.alerts.models import Alert
from bot.alerts.sending import deploy_note, wall
from bot.deploys import api as deploys
from bot.events import Published
from bot.incidents import api as incidents
from bot.incidents import flows as incident_flows
from bot.incidents.enums import Severity as IncidentSeverity
from bot.incidents.events import IncidentDeclared
from bot.rota.lookup import who_is_on_call
from bot.services import Services
from bot.slack.failures import attempt
from bot.slack.text import escape

logger = log.get("zzik.alerts")


async def _dm_role(services: Services, role: str, text: str) -> tuple[str | None, str | None]:
    """DM whoever holds `role` now: (user, None), or (None, why nobody). A Slack failure raises, so the job that
    pages is retried by the runner (with backoff) rather than counted as done."""
    user = (await who_is_on_call(services, services.clock.now())).shift(role).user
    if not user or "@" in user:
        return None, messages.say(messages.NOBODY_ON_CALL, role=role)
    await services.slack.chat_postMessage(channel=user, text=text)
    return user, None


async def page_primary(services: Services, alert_id: int | None, digest_id: int | None) -> bool:
    """A P1 alert (or storm) DMs the on-call primary at once."""
    if digest_id is not None:
        alerts = await store.digest_alerts(services.db, digest_id)
        firing = [a for a in alerts if a.firing]
        if not firing:
            return False
        text = messages.page_text(firing[0], messages.say(messages.STORM_REASON, count=len(firing)))
        published = await _paged(services, firing[0], digest_id)
    else:
        alert = await store.get(services.db, alert_id or 0)
        if alert is None or not alert.firing or alert.acknowledged_at:
            return False
        text = messages.page_text(alert, "You are the on-call primary")
        published = await _paged(services, alert, None)
    # The page's subscribers (PagerDuty) and the DM side by side: neither waits on the other. A subscriber's run
    # records and retries its own failures; a DM that fails raises after both are done, so this job retries it
    # (the page, already published, is not published twice).
    _, dm = await asyncio.gather(
        services.events.after_commit(published), _dm_role(services, "primary", text), return_exceptions=True
    )
    if isinstance(dm, BaseException):
        raise dm
    user, why = dm
    if why:
        logger.error("P1 alert page not delivered", alert=alert_id, digest=digest_id, error=why)
    await record(
        services.db,
        "page",
        outcome="ok" if user else "error",
        detail={"alert": alert_id, "digest": digest_id, "paged": user, "error": why},
    )
    return user is not None


async def _paged(services: Services, alert: Alert, digest_id: int | None) -> Published:
    """Say that the primary is being paged for `alert` (committed before the DM goes out)."""
    async with services.db.transaction() as conn:
        return await services.events.publish(
            conn, AlertPaged(alert_id=alert.id, priority=alert.priority, digest_id=digest_id)
        )


async def escalate(services: Services, alert_id: int | None, digest_id: int | None, role: str) -> bool:
    now = services.clock.now()
    if digest_id is not None:
        digest = await store.digest(services.db, digest_id)
        alerts = [a for a in await store.digest_alerts(services.db, digest_id) if a.firing]
        if digest is None or digest.acknowledged_at or not alerts:
            return False
        subject, since = alerts[0], digest.opened_at
        thread = (digest.message_channel, digest.message_ts)
    else:
        alert = await store.get(services.db, alert_id or 0)
        if alert is None or not alert.firing or alert.acknowledged_at:
            return False
        if alert.silenced_until and alert.silenced_until > wall():
            return False  # someone silenced it: they are on it
        subject, since = alert, alert.created_at
        thread = (alert.message_channel, alert.message_ts)
    waited = messages.duration(now - since)
    text = messages.page_text(subject, messages.say(messages.ESCALATION_REASON, waited=waited, role=role))
    user, why = await _dm_role(services, role, text)
    note = messages.escalation_note(waited, role, user, why)
    await record(
        services.db,
        "escalate",
        outcome="ok" if user else "error",
        detail={"alert": alert_id, "digest": digest_id, "role": role, "paged": user, "error": why},
    )
    if thread[0] and thread[1]:  # the page went out; a failure only leaves the note in the thread missing
        await attempt(
            "escalation note not posted",
            services.slack.chat_postMessage(channel=thread[0], thread_ts=thread[1], text=note),
        )
    return user is not None


async def auto_declare(services: Services, alert_id: int) -> bool:
    alert = await store.get(services.db, alert_id)
    if alert is None or not alert.firing or alert.incident_id:
        return False
    reporter = alert.primary_user or (await who_is_on_call(services, services.clock.now())).primary.user
    if not reporter or "@" in reporter:
        logger.error("incident not auto-declared: nobody is on call as primary", alert=alert_id)
        return False
    result = await incident_flows.declare(
        services,
        key=f"alert:{alert.id}",
        # Incident text is stored as mrkdwn; the alert's is raw webhook text: escaped once here.
        title=escape(alert.summary[:140]),
        severity=IncidentSeverity(alert.priority),
        reporter=reporter,
        description=escape(messages.declare_prefill(alert, None)["description"]),
        origin_channel=None,
    )
    await link_incident(services, alert.id, result.incident.id, None)
    return True


async def incident_declared(services: Services, event: IncidentDeclared) -> None:
    """An incident declared from an alert (its Declare incident button): the two are linked."""
    if event.alert_id is not None:
        await link_incident(services, event.alert_id, event.incident_id, event.actor)


async def incident_note(services: Services, alert_id: int) -> None:
    """The incident channel hears that an alert of its incident resolved."""
    alert = await store.get(services.db, alert_id)
    if alert is None or alert.incident_id is None or alert.firing:
        return
    incident = await incidents.get(services.db, alert.incident_id)
    if incident is None:
        return
    lasted = messages.duration((alert.ends_at or services.clock.now()) - alert.starts_at)
    text = messages.resolved_entry(alert, lasted)
    await incidents.add_event(services.db, incident.id, services.clock.now(), None, "alert", text)
    if incident.channel_id:
        await services.slack.chat_postMessage(
            channel=incident.channel_id,
            text=messages.say(messages.RESOLVED_NOTE, alert, lasted=lasted),
        )


async def deploy_thread(services: Services, alert_id: int) -> None:
    """The deploy's thread hears of an alert that started in its watch window."""
    alert = await store.get(services.db, alert_id)
    if alert is None or alert.deploy_id is None:
        return
    deploy = await deploys.get(services.db, alert.deploy_id)
    if deploy is None or not deploy.message_ts:
        return
    await services.slack.chat_postMessage(
        channel=deploy.channel or services.config.channels.deployments,
        thread_ts=deploy.message_ts,
        text=messages.deploy_thread_note(alert, deploy_note(alert, deploy)),
    )
