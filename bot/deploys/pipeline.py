"""Calling the CI pipeline: one signed POST per deploy or rollback, never retried (the pipeline may
already be deploying); its Idempotency-Key lets a pipeline drop a duplicate of its own."""

from __future__ import annotations

import json

import aiohttp

from bot import log
from bot.deploys.models import Deploy
from bot.services import Services
from bot.web.signing import signed_headers

logger = log.get("zzik.pipeline")
TIMEOUT = aiohttp.ClientTimeout(total=10)


async def trigger(services: Services, url: str, deploy: Deploy, action: str) -> str | None:
    """None when the pipeline at `url` accepted the job; otherwise why not, in words for the user."""
    public = services.settings.zzik_public_url
    payload = {
        "deploy_id": deploy.id,
        "action": action,
        "environment": deploy.environment,
        "version": deploy.version,
        "requested_by": deploy.requested_by,
        "callback_url": f"{public.rstrip('/')}/hooks/deploy" if public else None,
    }
    body = json.dumps(payload).encode()
    secret = services.settings.zzik_webhook_secret
    headers = {"Content-Type": "application/json", "Idempotency-Key": f"zzik-deploy-{deploy.id}"}
    if secret:
        headers.update(signed_headers(secret.get_secret_value(), body))
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.post(url, data=body, headers=headers) as r,
        ):
            if 200 <= r.status < 300:
                return None
            return f"the pipeline answered HTTP {r.status}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        logger.warning("pipeline unreachable", deploy_id=deploy.id, error=type(exc).__name__)
        return f"the pipeline could not be reached ({type(exc).__name__})"
