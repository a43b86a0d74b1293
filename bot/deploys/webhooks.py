"""POST /hooks/deploy: CI's callback when a deploy or rollback it was asked to run has finished (bot/web/hooks.py
receives it: ZZIK_WEBHOOK_SECRET, 1 MiB, DeployCallback)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from bot import audit
from bot.deploys import flows
from bot.deploys.ids import Finished, Status
from bot.services import Services
from bot.slack.text import escape
from bot.web.hooks import Answer, Hook, shared_secret


class DeployCallback(BaseModel):
    """What CI posts to /hooks/deploy when a deploy or rollback it was asked to run has finished."""

    model_config = ConfigDict(extra="ignore")
    deploy_id: int = Field(gt=0)
    status: str = Field(pattern=r"^(succeeded|failed)$")
    url: AnyHttpUrl | None = None
    detail: str | None = Field(default=None, max_length=2000)


def finish(services: Services) -> Callable[[DeployCallback], Awaitable[Answer]]:
    async def finished(callback: DeployCallback) -> Answer:
        deploy, outcome = await flows.finish(
            services,
            callback.deploy_id,
            Status(callback.status),
            "pipeline",
            str(callback.url) if callback.url else None,
            escape(callback.detail) if callback.detail else None,  # raw from the pipeline: stored as mrkdwn
        )
        await audit.record(
            services.db,
            kind="webhook",
            action=DEPLOY.name,
            outcome=outcome,
            actor="pipeline",
            detail=callback.model_dump(mode="json"),
        )
        services.metrics.requests.labels("webhook", DEPLOY.name, outcome).inc()
        if deploy is None:
            return Answer({"error": f"deploy_id: no deploy {callback.deploy_id}"}, 404)
        if outcome == Finished.CONFLICT:
            return Answer({"error": f"deploy {deploy.id} is {deploy.status}, not running"}, 409)
        return Answer(
            {"ok": True, "deploy_id": deploy.id, "status": deploy.status, "replayed": outcome == Finished.REPLAYED}
        )

    return finished


DEPLOY: Hook[DeployCallback] = Hook(
    "/hooks/deploy",
    auth=shared_secret(wrong="unauthorized: sign the body or send the shared secret"),
    parse=DeployCallback.model_validate_json,
    store=finish,
)
HOOKS = [DEPLOY]
