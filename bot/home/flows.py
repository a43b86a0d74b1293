"""The Home tab: gather what the person opening it needs, publish it (views.publish)."""

from __future__ import annotations

import asyncio

from bot.deploys import api as deploys
from bot.home import messages, store
from bot.rota.lookup import rotation, who_is_on_call
from bot.services import Services
from bot.slack.client import SLACK_FAILURES


async def home(services: Services, user: str) -> messages.Home:
    now = services.clock.now()
    handoff = rotation(services).next_handoff(now)
    try:
        viewer = await services.users.zone(user)
    except SLACK_FAILURES:
        viewer = None  # the team's time still shows
    on_call, next_on_call, incidents, actions, watches, checklists = await asyncio.gather(
        who_is_on_call(services, now),
        who_is_on_call(services, handoff),
        store.my_incidents(services.db, user),
        store.my_actions(services.db, user),
        deploys.open_watches(services.db, now),
        store.open_checklists(services.db),
    )
    pins = await deploys.pinned(services.db)  # environments a rollback left on an older version
    under_way = [d for env in services.config.deploy.environments if (d := await deploys.active(services.db, env))]
    public = services.settings.zzik_public_url
    return messages.Home(
        user=user,
        now=now,
        team=services.config.oncall.zone,
        viewer=viewer,
        on_call=on_call,
        next_on_call=next_on_call,
        next_handoff=handoff,
        incidents=incidents,
        actions=actions,
        deploys=under_way,
        watches=watches,
        checklists=checklists,
        runbooks=list(services.config.runbooks),
        status_url=f"{public.rstrip('/')}/status" if public else None,
        pins=[deploys.pin_line(p, services.config.oncall.zone) for p in pins],
    )


async def publish(services: Services, user: str) -> None:
    await services.slack.views_publish(user_id=user, view=messages.home_view(await home(services, user)))
