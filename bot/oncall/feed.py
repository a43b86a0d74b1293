"""`GET /oncall.ics?token=…`: the calendar feed, a plain page (mounted by the domain's web_routes), not a webhook.

A token that is missing, malformed, unknown or revoked gets the same bare 404 as a page that does not exist:
nothing says whether a link ever worked or whose it was. The token is never logged.
"""

from __future__ import annotations

from aiohttp import web

from bot import log
from bot.errors import DatabaseUnavailable
from bot.oncall import calendar
from bot.services import Services
from bot.slack.failures import SLACK_FAILURES

logger = log.get("zzik.oncall")
NOT_FOUND = "404: Not Found"
UNAVAILABLE: tuple[type[BaseException], ...] = (DatabaseUnavailable, *SLACK_FAILURES)


def web_routes(web_app: web.Application, services: Services) -> None:
    async def oncall_ics(request: web.Request) -> web.Response:
        headers = {"Cache-Control": "private, no-cache", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
        try:
            owner = await calendar.feed_owner(services, request.query.get("token", ""))
            if owner is None:
                return web.Response(status=404, text=NOT_FOUND, headers=headers)
            body = await calendar.feed(services, *owner)
        except UNAVAILABLE:  # the calendar keeps its last copy and asks again later
            return web.Response(
                status=503, text="Unavailable for a moment; try again shortly.", headers={"Retry-After": "30"}
            )
        logger.info("calendar feed served", scope=owner[1])
        return web.Response(
            body=body,
            headers={
                **headers,
                "Content-Type": "text/calendar; charset=utf-8",
                "Content-Disposition": 'inline; filename="oncall.ics"',
            },
        )

    web_app.router.add_get("/oncall.ics", oncall_ics)
