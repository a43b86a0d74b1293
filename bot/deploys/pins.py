"""Pinned environments: a rollback leaves an environment on an older version (vX) than the one it rolled back
from (vY). From the rollback's success until a deploy of another version succeeds there, the pin is shown in
`/deploy status`, the App Home, the weekly handoff and the kickoff of every new incident, so nobody forgets that
production runs behind main. vY's deployer is to fix forward or revert: an action item on the incident the
rollback belongs to (the incidents domain's subscriber), or, with no incident, this domain's note in vY's thread.

The pin is written with the rollback, held in finish() (flows.py) and cleared there by the next deploy of another
version; what is said in Slack about it is said by the jobs below, retried until Slack takes it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.deploys import answers, messages, store
from bot.services import Services, zone


async def fix_forward_note(services: Services, rollback_id: int) -> bool:
    """Job FIX_FORWARD_NOTE: no incident holds the fix-forward item, so a note in vY's deploy thread names its
    deployer (once; a Slack failure is retried)."""
    pin = await store.pin(services.db, rollback_id)
    if pin is None or pin.note_ts or pin.incident_ref:
        return False
    replaced = await store.get(services.db, pin.from_id)
    channel = (replaced.channel if replaced else None) or services.config.channels.deployments
    thread_ts = replaced.message_ts if replaced and replaced.channel else None
    posted = await services.slack.chat_postMessage(
        channel=channel, thread_ts=thread_ts, text=answers.fix_forward_note(pin)
    )
    await store.set_pin_note(services.db, rollback_id, posted["ts"])
    return True


async def pin_cleared(services: Services, rollback_id: int, deploy_id: int) -> bool:
    """Job PIN_CLEARED: the fix forward, said in the thread of the deploy that cleared the pin."""
    pin, deploy = await store.pin(services.db, rollback_id), await store.get(services.db, deploy_id)
    if pin is None or deploy is None:
        return False
    await services.slack.chat_postMessage(
        channel=deploy.channel or services.config.channels.deployments,
        thread_ts=deploy.message_ts if deploy.channel else None,
        text=answers.pin_cleared(pin, deploy),
    )
    return True


async def lines(services: Services) -> list[str]:
    """Each pin held now, in words."""
    return [messages.pin_line(pin, zone(services)) for pin in await store.pinned(services.db)]


async def handoff_section(services: Services, starts: datetime, ends: datetime) -> list[str]:
    """The weekly handoff's section (services.handoff_summary): the environments pinned now, whatever the week."""
    held = await lines(services)
    return [f"*Pinned environments ({len(held)})*", *held] if held else []


async def kickoff_note(services: Services, incident: Any) -> list[str]:
    """An incident's kickoff (services.kickoff_notes): what is pinned is a recent change worth knowing."""
    return await lines(services)
