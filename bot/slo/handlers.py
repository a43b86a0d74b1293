"""/slo: the SLOs live from Prometheus, and the monthly report."""

from __future__ import annotations

from bot.domain import Domain
from bot.services import Services
from bot.slack.commands import usage
from bot.slack.middleware import Ctx, Route
from bot.slo import flows, jobs, parse


async def slo(ctx: Ctx) -> None:
    # Prometheus is asked with a bounded timeout (prometheus.timeout, at most 10 s): the answer goes in the ack
    # when it fits Slack's 3 s, else through response_url.
    services = ctx.services
    match parse.parse(ctx.text):
        case parse.Help():
            await ctx.answer(usage("/slo"))
        case parse.Live():
            await _early_ack(ctx, services)
            await ctx.answer(*await flows.live(services))
        case parse.Report(year=year, month=month):
            await _early_ack(ctx, services)
            await ctx.answer(*await flows.report(services, year, month))


async def _early_ack(ctx: Ctx, services: Services) -> None:
    """Ack at once when Prometheus may take longer than Slack waits; the answer then follows by response_url."""
    if services.config.prometheus.timeout.total_seconds() > 2:
        await ctx.ack()


ROUTES: list[Route] = [Route("command", "/slo", slo)]

DOMAIN = Domain("slo", routes=ROUTES, jobs=jobs.register)
