"""Prometheus metrics, one registry per app (tests run several apps in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = self._counter(
            "zzik_requests", "Slack requests and webhooks handled, by kind, name and outcome", "kind", "name", "outcome"
        )
        self.latency = self._histogram(
            "zzik_request_seconds",
            "Time from a Slack request's arrival to its HTTP answer (the ack)",
            (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 3, 5, 10),
            "kind",
            "name",
        )
        self.slack_api_errors = self._counter(
            "zzik_slack_api_errors",
            "Slack Web API calls that failed after retries, by method and error",
            "method",
            "error",
        )
        self.answer_fallbacks = self._counter(
            "zzik_answer_fallbacks",
            "Answers response_url could not carry (expired, spent, refused), by how they went instead "
            "(ephemeral, channel, dm, none)",
            "kind",
            "name",
            "route",
        )
        self.audit_rows_lost = self._counter(
            "zzik_audit_rows_lost",
            "Audit rows never written, by reason: overflow (the database was away and the rows waiting passed the "
            "writer's limit; the oldest go), refused (PostgreSQL refused the row), shutdown (unwritten when the "
            "process stopped)",
            "reason",
        )
        self.slack_signature_refusals = self._counter(
            "zzik_slack_signature_refusals",
            "Requests to the Slack URL refused with 401 (signature missing, stale or wrong), by route and reason",
            "route",
            "reason",
        )
        self.webhook_refusals = self._counter(
            "zzik_webhook_refusals",
            "Webhooks refused with 401 (no credentials, wrong ones, a stale timestamp, no secret set on the bot), "
            "by route and reason",
            "route",
            "reason",
        )
        self.jobs = self._counter("zzik_jobs_run", "Scheduled job runs, by job and outcome", "job", "outcome")
        self.job_lag = self._histogram(
            "zzik_job_lag_seconds",
            "Time from a job run's due time (a retry's: when it was due again) to its start, by job",
            (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
            "job",
        )
        self.database_up = Gauge(
            "zzik_database_up", "1 when the last health check reached PostgreSQL", registry=self.registry
        )

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(name, documentation, list(labels), registry=self.registry)

    def _histogram(self, name: str, documentation: str, buckets: tuple[float, ...], *labels: str) -> Histogram:
        return Histogram(name, documentation, list(labels), buckets=buckets, registry=self.registry)

    def job_finished(self, job: str, outcome: str) -> None:
        self.jobs.labels(job, outcome).inc()

    def job_started(self, job: str, lag_seconds: float) -> None:
        self.job_lag.labels(job).observe(lag_seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
