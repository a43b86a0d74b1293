"""POST /hooks/alertmanager and /hooks/grafana (bot/web/hooks.py receives them: ZZIK_WEBHOOK_SECRET, READ_CAP).

What is admitted of a delivery is stored whole or in part (bot/alerts/ingest.py): Alertmanager never retries a
4xx, so a delivery is refused only when nothing of it can be kept; the note of what was left out says it in the
alerts channel."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pydantic import ValidationError

from bot import log
from bot.alerts import flows, ingest, payloads
from bot.alerts.ids import Source
from bot.services import Services
from bot.web.hooks import Answer, Hook, Refused, shared_secret

logger = log.get("zzik.alerts")
# Read at most this much of a delivery. Past ingest.MAX_STORED (1 MiB) only its first alerts are stored, and the
# rest is said in the channel; Alertmanager never retries a 4xx, so refusing it whole would lose all of it.
# Larger than this, holding and parsing it per request costs more than the part we could keep is worth: 413.
READ_CAP = 8 * 1024**2
_NOTED = " (recorded and said in the alerts channel)"


class _Kick:
    """Start a job tick right after a delivery is stored, so alerts do not wait for the next scheduled tick.
    One at a time; deliveries arriving meanwhile are picked up by the one that follows."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.running: asyncio.Task[None] | None = None
        self.again = False

    def __call__(self) -> None:
        if self.services.jobs.wake():
            return  # the background loop passes now, without waiting for runs it starts (pages start at once)
        if self.running is not None and not self.running.done():
            self.again = True
            return
        self.running = asyncio.create_task(self._run())

    async def _run(self) -> None:
        # Processing a delivery schedules its pages and sends for now: tick again while there was work.
        for _ in range(10):
            self.again = False
            try:
                ran = await self.services.jobs.tick()
            except Exception as exc:  # the scheduled tick retries; this one only saves time
                logger.warning("alert tick failed", error=repr(exc))
                return
            if not ran and not self.again:
                return


def admit(source: Source) -> Callable[[bytes], ingest.Admitted]:
    def parse(body: bytes) -> ingest.Admitted:
        try:
            return ingest.admit(source, ingest.decode(body))
        except ingest.Unstorable as exc:
            raise Refused(400, exc.problem) from None
        except ValidationError as exc:
            if len(body) > ingest.MAX_STORED:
                raise Refused(413, f"body: larger than {ingest.MAX_STORED} bytes") from None
            raise Refused(400, payloads.problem(exc)) from None

    return parse


def receive(services: Services) -> Callable[[ingest.Admitted], Awaitable[Answer]]:
    kick = _Kick(services)  # one for both sources

    async def store(admitted: ingest.Admitted) -> Answer:
        received = await flows.receive(services, admitted)
        kick()
        if received.delivery_id is None:
            # Nothing could be stored: a 4xx, as retrying cannot help; the note says it in the channel.
            if admitted.unreadable:
                raise Refused(400, admitted.unreadable[0].reason + _NOTED)
            raise Refused(413, f"alerts: past the bot's limit ({admitted.limit_reason})" + _NOTED)
        return Answer(
            {
                "ok": True,
                "delivery": received.delivery_id,
                "alerts": admitted.accepted,
                "unreadable": len(admitted.unreadable),
                "not_accepted": admitted.over_limit,
            }
        )

    return store


auth = shared_secret(wrong="unauthorized: send Authorization: Bearer <secret>")
HOOKS = [
    Hook("/hooks/alertmanager", auth, admit(Source.ALERTMANAGER), receive, limit=READ_CAP),
    Hook("/hooks/grafana", auth, admit(Source.GRAFANA), receive, limit=READ_CAP),
]
