"""The PagerDuty domain's durable work: sending the events the incidents owe PagerDuty, hearing the incidents'
events (a subscriber), and applying a stored webhook delivery."""

from __future__ import annotations

from datetime import timedelta

from bot.events import E, Subscriber
from bot.incidents import events
from bot.jobs import PAGING_LEASE, PAGING_RETRY, JobRun, JobRunner, call, cron_next
from bot.pagerduty import alert_pages, flows, inbound, store
from bot.pagerduty.ids import Job
from bot.services import PagingProvider, Services

KEEP_WEBHOOKS = timedelta(days=30)  # PagerDuty retries a delivery for 48 h: a month of event ids is plenty


def _paging(services: Services, event: type[E], job: Job, handler: Subscriber[E]) -> None:
    services.events.subscribe(services, event, job, handler, urgent=True, lease=PAGING_LEASE, retry=PAGING_RETRY)


def register(runner: JobRunner, services: Services) -> None:
    alert_pages.register(runner, services)
    services.paging_providers.append(PagingProvider(flows.paging_state, flows.paging_settled))
    runner.declare(
        services,
        {
            # A page: retried within seconds (1, 2, 4, 8, 16 s, then every 30 s), or after PagerDuty's Retry-After.
            Job.SEND: call(flows.run_send, lambda run: run, lease=flows.SEND_LEASE, retry=PAGING_RETRY, urgent=True),
            Job.WEBHOOK: call(inbound.process, "event_id"),
        },
    )
    # What pages (or stops a page) runs at once after the incident's commit, in the urgent slots, side by side
    # with the incident's page round; a run a crash left pending is done by the next tick, on any replica.
    _paging(services, events.IncidentDeclared, Job.INCIDENT_DECLARED, flows.on_declared)
    _paging(services, events.SeverityChanged, Job.SEVERITY_CHANGED, flows.on_severity_changed)
    _paging(services, events.IncidentAcknowledged, Job.INCIDENT_ACKNOWLEDGED, flows.on_acknowledged)
    _paging(services, events.IncidentResolved, Job.INCIDENT_RESOLVED, flows.on_resolved)

    @runner.recurring(Job.PRUNE, spec="daily 03:23 UTC", next_due=cron_next("23 3 * * *", "UTC"))
    async def prune(run: JobRun) -> None:
        await store.prune_deliveries(services.db, run.now - KEEP_WEBHOOKS)
