"""Time to page: from a P1 declared to the people on call paged, through the bot's public surface only.

For each scenario (the fake Slack answering every Web API call after 0 or 300 ms; the fake PagerDuty accepting
at once, or answering each trigger 429 then 500 before accepting it) a `zzik-bot serve` process on a scratch
database, then for each source of a P1 and each concurrency (1, 20, 200 at once):

- `command`: `/incident p1 <title>` (a signed slash command);
- `form`: the Declare form submitted with severity P1 (a signed view_submission);
- `alert`: a P1 Alertmanager alert to /hooks/alertmanager (one alert per group, so no storm digest).

and from the moment each request is sent, the time until
(a) PagerDuty accepted the trigger (the fake PagerDuty answered 202),
(b) every page DM delivered (the fake Slack answered chat.postMessage to each person paged: a P1 incident pages
    the on-call primary, secondary and manager; a P1 alert the primary),
(c) the kickoff pinned (pins.add in the incident's channel; incidents only).
Prints p50/p95/p99 per row with the targets beside them; what did not happen within the bound is counted as
missing (and counts as infinitely late in the percentiles).

    python bench/time_to_page.py [--quick] [--concurrency 1,20,200] [--slack-ms 0,300] [--pagerduty ok,429-500]
                                 [--sources command,form,alert] [--within 180]

--quick: 20 at once, Slack at 300 ms, both PagerDuty modes (the two target rows), all sources.
Database: DATABASE_URL (a server the bench may create databases on), default postgresql://postgres@127.0.0.1/postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
from harness import (
    REPORTER,
    SECRET,
    TAG,
    Served,
    TimedPagerDuty,
    TimedSlack,
    add_people,
    alertmanager_delivery,
    bot_env,
    declare_form,
    is_page,
    machine,
    pct,
    post_alert,
    rota_config,
    scratch_database,
)

from tests.slackreq import ANSWERS, SlackRequests

PAGED = {"command": 3, "form": 3, "alert": 1}  # people a P1 of each source pages (primary, secondary, manager)
TARGETS = {(20, 300, "ok"): 2.0, (20, 300, "429-500"): 5.0}  # p99 seconds (issue 22)
SCRIPTS = {"ok": (), "429-500": (429, 500)}
_serial = itertools.count(1)


@dataclass
class Declared:
    tag: str
    source: str
    sent: float  # perf_counter when the request left
    status: int = 0
    pd: float | None = None
    dms: dict[str, float] = field(default_factory=dict)  # user -> delivered at
    pinned: float | None = None

    def dm_done(self) -> float | None:
        return max(self.dms.values()) if len(self.dms) >= PAGED[self.source] else None

    def complete(self, with_pd: bool) -> bool:
        return (
            (self.pd is not None or not with_pd)
            and self.dm_done() is not None
            and (self.pinned is not None or self.source == "alert")
        )


class Watch:
    """Reads what the fakes and the database saw, new entries only, into each declaration's times."""

    def __init__(self, slack: TimedSlack, pd: TimedPagerDuty, dsn: str) -> None:
        self.slack, self.pd, self.dsn = slack, pd, dsn
        self.by_tag: dict[str, Declared] = {}
        self.spans_seen = self.pd_seen = 0
        self.pins: dict[str, float] = {}  # channel -> first pins.add answered at
        self.channels: dict[str, str] = {}  # channel -> tag

    async def update(self, conn: asyncpg.Connection) -> None:
        spans = self.slack.spans
        for method, _, end, args in spans[self.spans_seen : len(spans)]:
            channel = str(args.get("channel") or "")
            if method == "chat.postMessage" and channel[:1] in ("U", "W"):
                text = str(args.get("text") or "")
                found = TAG.search(text)
                if found and is_page(text) and found[0] in self.by_tag:
                    self.by_tag[found[0]].dms.setdefault(channel, end)
            elif method == "pins.add":
                self.pins.setdefault(channel, end)
        self.spans_seen = len(spans)
        for at, event in self.pd.accepted[self.pd_seen :]:
            found = TAG.search(str((event.get("payload") or {}).get("summary") or ""))
            if event.get("event_action") == "trigger" and found and found[0] in self.by_tag:
                declared = self.by_tag[found[0]]
                declared.pd = declared.pd or at
        self.pd_seen = len(self.pd.accepted)
        unpinned = [d for d in self.by_tag.values() if d.source != "alert" and d.pinned is None]
        if unpinned:
            for row in await conn.fetch("SELECT title, channel_id FROM incidents WHERE channel_id IS NOT NULL"):
                found = TAG.search(row["title"])
                if found:
                    self.channels[row["channel_id"]] = found[0]
            for channel, at in self.pins.items():
                tag = self.channels.get(channel)
                if tag in self.by_tag and self.by_tag[tag].pinned is None:
                    self.by_tag[tag].pinned = at


async def send(bot: Served, slack: SlackRequests, session: aiohttp.ClientSession, declared: Declared) -> None:
    declared.sent = time.perf_counter()
    if declared.source == "command":
        reply = await slack.command("/incident", f"p1 Checkout down {declared.tag}", user=REPORTER, channel="C0BENCH")
        declared.status = reply.status
    elif declared.source == "form":
        reply = await slack.view_submission(
            "incident_declare",
            declare_form(declared.tag),
            user=REPORTER,
            view_id=f"V{declared.tag.upper()}",
            private_metadata="C0BENCH",
        )
        declared.status = reply.status
    else:
        declared.status = await post_alert(session, bot.url, alertmanager_delivery(declared.tag))


async def batch(
    bot: Served, slack: SlackRequests, watch: Watch, source: str, n: int, within: float, with_pd: bool
) -> list[Declared]:
    run = next(_serial)
    declared = [Declared(f"ttp{run}x{n}x{i}z", source, 0.0) for i in range(n)]
    watch.by_tag.update((d.tag, d) for d in declared)
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(send(bot, slack, session, d) for d in declared))
    ANSWERS.clear()
    deadline = time.perf_counter() + within
    conn = await asyncpg.connect(watch.dsn)
    try:
        while time.perf_counter() < deadline:
            await watch.update(conn)
            if all(d.complete(with_pd) for d in declared):
                break
            await asyncio.sleep(0.1)
        await watch.update(conn)
    finally:
        await conn.close()
    return declared


def figures(values: list[float | None]) -> str:
    """p50 / p95 / p99 in seconds; a missing value sorts last (never happened within the bound)."""
    if not values:
        return "-"
    times = [v if v is not None else math.inf for v in values]
    return " / ".join(_s(pct(times, p) / 1000) for p in (50, 95, 99))


def _s(seconds: float) -> str:
    return "never" if math.isinf(seconds) else f"{seconds:.2f}"


async def scenario(
    admin: str, slack_ms: int, mode: str, sources: list[str], concurrency: list[int], within: float, tmp: Path
) -> list[str]:
    fake = TimedSlack(slack_ms / 1000)
    pd = TimedPagerDuty(SCRIPTS[mode])
    await fake.start()
    await pd.start()
    add_people(fake)
    rows = []
    try:
        async with scratch_database(admin) as dsn:
            directory = tmp / f"s{slack_ms}-{mode}"
            directory.mkdir()
            bot = Served(bot_env(dsn, fake, rota_config(directory), pd), directory / "bot.log")
            await bot.start()
            try:
                watch = Watch(fake, pd, dsn)
                slack = SlackRequests(bot.url, SECRET, fake.response_url("ttp"))
                for source, n in itertools.product(sources, concurrency):
                    started = time.perf_counter()
                    declared = await batch(bot, slack, watch, source, n, within, with_pd=True)
                    took = time.perf_counter() - started
                    bad = sum(1 for d in declared if not 200 <= d.status < 300)
                    pd_times = [d.pd - d.sent if d.pd else None for d in declared]
                    dm_times = [(d.dm_done() or 0) - d.sent if d.dm_done() else None for d in declared]
                    pin_times = [d.pinned - d.sent if d.pinned else None for d in declared]
                    missing = [
                        f"{sum(v is None for v in values)} {what}"
                        for what, values in (("PD", pd_times), ("DMs", dm_times), ("pins", pin_times))
                        if (what != "pins" or source != "alert") and any(v is None for v in values)
                    ]
                    target = TARGETS.get((n, slack_ms, mode))
                    worst = max(
                        (pct([v if v is not None else math.inf for v in vs], 99) / 1000 for vs in (pd_times, dm_times)),
                        default=math.inf,
                    )
                    verdict = "" if target is None else f"≤ {target:.0f} s: {'met' if worst <= target else 'MISSED'}"
                    rows.append(
                        f"{source:8} {n:>7} {slack_ms:>8} {mode:>8} | {figures(pd_times):>20} | "
                        f"{figures(dm_times):>20} | {figures(pin_times) if source != 'alert' else '-':>20} | "
                        f"{verdict:16} | {', '.join(missing) or 'none'}{f'; {bad} not 2xx' if bad else ''} "
                        f"({took:.0f} s)"
                    )
                    print(rows[-1], flush=True)
                    await settle(fake)
            finally:
                await bot.stop()
    finally:
        await fake.stop()
        await pd.stop()
    return rows


async def settle(fake: TimedSlack, quiet: float = 2.0, most: float = 60.0) -> None:
    """Let the last batch's remaining set-up finish (no Slack call for `quiet` s) before the next one starts."""
    deadline = time.perf_counter() + most
    seen = -1
    while seen != len(fake.spans) and time.perf_counter() < deadline:
        seen = len(fake.spans)
        await asyncio.sleep(quiet)


HEADER = (
    f"{'source':8} {'at once':>7} {'Slack ms':>8} {'PD':>8} | {'(a) PD accepted':>20} | {'(b) every DM':>20} | "
    f"{'(c) kickoff pinned':>20} | {'target p99':16} | missing after the bound"
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="20 at once, Slack at 300 ms, both PagerDuty modes")
    parser.add_argument("--concurrency", default="1,20,200")
    parser.add_argument("--slack-ms", default="0,300")
    parser.add_argument("--pagerduty", default="ok,429-500", help="ok and/or 429-500")
    parser.add_argument("--sources", default="command,form,alert")
    parser.add_argument("--within", type=float, default=180, help="seconds each batch may take before it is cut")
    parser.add_argument("--logs", type=Path, help="keep each scenario's bot.log under this folder")
    args = parser.parse_args()
    if args.quick:
        args.concurrency, args.slack_ms = "20", "300"
    concurrency = [int(c) for c in args.concurrency.split(",")]
    sources = args.sources.split(",")
    admin = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    print(f"time to page (seconds, p50 / p95 / p99 from the request sent); {machine()}")
    print(
        f"a P1 incident pages {PAGED['command']} people (primary, secondary, manager), a P1 alert 1 (primary); "
        f"each batch bound {args.within:.0f} s; "
        "PD 429-500: each trigger answered 429, then 500, then accepted"
    )
    print(HEADER, flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="zzik-ttp-") as tmp:
        folder = args.logs or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for slack_ms, mode in itertools.product([int(s) for s in args.slack_ms.split(",")], args.pagerduty.split(",")):
            rows += await scenario(admin, slack_ms, mode, sources, concurrency, args.within, folder)
    print(f"\nsummary ({machine()}):\n{HEADER}\n" + "\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
