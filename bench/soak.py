"""A chaos soak (minutes; not part of the suite): two real `zzik-bot serve` replicas on one database, a steady mix of
P1 declarations (slash command and Declare form), P1 Alertmanager alerts, acknowledgements and resolves, while

- one replica at a time is killed (-9) and started again, at random, a moment after a P1 was sent to it (mid-page);
- the PostgreSQL connections are cut for a few seconds (tests/pgproxy.py between the replicas and PostgreSQL);
- the fake Slack answers 429 (Retry-After: 1) or 500 in bursts, and the fake PagerDuty 429 or 500 for a while.

Each request goes to a replica that is up, as a load balancer would send it. Then the chaos stops, everything is
restored, and the soak waits (bounded) for the durable work to finish and checks the invariants, printing each:

1. every declared P1 incident and P1 alert paged each right person exactly once (the right people: those a P1
   declared and a P1 alert paged before the chaos began; escalation pages, sent when nobody acknowledges within
   the response time, are not counted), and PagerDuty accepted one trigger for each;
2. every alert posted once in the alerts channel;
3. every acked command's effect is present (incident declared, acknowledged, resolved; alert acknowledged);
4. nobody was told "nothing was done" (the ack, the response_url, the DMs and ephemerals to them) for a change
   that was committed;
5. p99 time to page (sent -> every page DM delivered) over the whole run, and for the P1s sent within 15 s of a
   kill (before or after it); target <= 15 s across a replica kill with 2 replicas.

    python bench/soak.py [--minutes 3] [--every 1.0] [--settle 180] [--seed 22]

Everything listens on 127.0.0.1; the replicas are stopped (and the scratch database dropped) at the end.
Database: DATABASE_URL (a server the bench may create databases on), default postgresql://postgres@127.0.0.1/postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from harness import (
    MANAGER,
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

from bot.fakeslack import FakeSlack, flatten
from tests.pgproxy import PgProxy
from tests.slackreq import ANSWERS, SlackRequests

NOTHING_DONE = "nothing was done"


class SoakSlack(TimedSlack):
    """The timed fake Slack, keeping what it accepted (ok answers only, with when) and every response_url post."""

    def __init__(self) -> None:
        super().__init__(0.0)
        self.ok: list[tuple[str, float, dict[str, Any]]] = []  # (method, answered at, args) of accepted calls

    async def _api(self, request: web.Request) -> web.Response:
        response = await FakeSlack._api(self, request)
        if response.status == 200 and response.text and json.loads(response.text).get("ok"):
            self.ok.append((request.match_info["method"], time.perf_counter(), self.calls[-1].args))
        return response

    async def _response_url(self, request: web.Request) -> web.Response:
        self.answered.setdefault(request.match_info["name"], time.perf_counter())
        return await FakeSlack._response_url(self, request)

    def burst(self, status: int, calls: int) -> None:
        for method in ("chat.postMessage", "conversations.create", "pins.add", "chat.update"):
            self.fail(method, times=calls, status=status, retry_after=1 if status == 429 else None)


@dataclass
class Request:
    """One request sent: what it was, where, whether it was acked (HTTP 200) and what its sender was told."""

    kind: str  # declare_command, declare_form, alert, ack_incident, ack_alert, resolve
    tag: str
    sent: float
    replica: int
    acked: bool = False
    ack_body: str = ""
    target: int | None = None  # the incident or alert id it acts on
    error: str = ""


@dataclass
class Chaos:
    kills: list[float] = field(default_factory=list)  # perf_counter of each kill -9
    cuts: int = 0
    slack_bursts: int = 0
    pd_bursts: int = 0


class Soak:
    def __init__(self, args: argparse.Namespace, dsn: str, proxy: PgProxy, tmp: Path) -> None:
        self.args, self.dsn, self.proxy, self.tmp = args, dsn, proxy, tmp
        self.rng = random.Random(args.seed)
        self.slack = SoakSlack()
        self.pd = TimedPagerDuty()
        self.replicas: list[Served] = []
        self.requests: list[Request] = []
        self.chaos = Chaos()
        self.serial = itertools.count(1)
        self.primary = ""
        self.paged_by_incident: set[str] = set()
        self.stopping = False
        self.restarting: set[int] = set()
        self.restarts: set[asyncio.Task[None]] = set()
        self.in_flight: set[asyncio.Task[Request]] = set()

    # -- set-up -------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.slack.start()
        await self.pd.start()
        add_people(self.slack)
        config = rota_config(self.tmp)
        for i in range(2):
            env = bot_env(self.proxy.dsn, self.slack, config, self.pd)
            env["ZZIK_DATA_DIR"] = str(self.tmp)
            self.replicas.append(Served(env, self.tmp / f"replica-{i}.log"))
        await self.replicas[0].start()  # the first migrates; the second finds it done
        await self.replicas[1].start()

    async def stop(self) -> None:
        for replica in self.replicas:
            await replica.stop()
        await self.slack.stop()
        await self.pd.stop()

    def tag(self) -> str:
        return f"ttp9x{os.getpid() % 1000}x{next(self.serial)}z"

    def up(self) -> list[int]:
        return [i for i, r in enumerate(self.replicas) if r.alive and i not in self.restarting]

    # -- the load -------------------------------------------------------------------------------------------------

    async def send(
        self,
        kind: str,
        *,
        target: int | None = None,
        channel: str = "",
        user: str = REPORTER,
        to: int | None = None,
        kill_on_ack: bool = False,
    ) -> Request:
        index = to if to is not None else self.rng.choice(self.up() or [0])
        replica = self.replicas[index]
        request = Request(kind, self.tag(), time.perf_counter(), index, target=target)
        self.requests.append(request)
        # A response_url of its own, so what this sender was told can be found again.
        slack = SlackRequests(replica.url, SECRET, self.slack.response_url(request.tag))
        try:
            if kind == "declare_command":
                reply = await slack.command("/incident", f"p1 Checkout down {request.tag}", user=user, channel="C0SOAK")
            elif kind == "declare_form":
                reply = await slack.view_submission(
                    "incident_declare",
                    declare_form(request.tag),
                    user=user,
                    view_id=f"V{request.tag.upper()}",
                    private_metadata="C0SOAK",
                )
            elif kind == "alert":
                async with aiohttp.ClientSession() as session:
                    status = await post_alert(session, replica.url, alertmanager_delivery(request.tag))
                request.acked = 200 <= status < 300
                if kill_on_ack:
                    self.kill(index)
                return request
            elif kind == "ack_incident":
                reply = await slack.action(
                    "incident_acknowledge", str(target), user=user, channel="C0INCIDENTS", block_id=f"incident:{target}"
                )
            elif kind == "ack_alert":
                reply = await slack.action("alert_acknowledge", str(target), user=user, channel="C0ALERTS")
            else:  # resolve, in the incident's channel
                reply = await slack.command("/incident", f"resolve fixed {request.tag}", user=user, channel=channel)
            request.acked = reply.status == 200
            request.ack_body = reply.text
            if kill_on_ack:
                self.kill(index)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            request.error = type(exc).__name__
        finally:
            ANSWERS.clear()
        return request

    async def load(self, until: float) -> None:
        """One request every `--every` seconds on average, each in its own task (they overlap, as users do)."""
        tasks: set[asyncio.Task] = set()
        conn = await asyncpg.connect(self.dsn)
        try:
            while time.perf_counter() < until:
                await asyncio.sleep(self.rng.expovariate(1 / self.args.every))
                kind = self.rng.choices(
                    ["declare_command", "declare_form", "alert", "ack", "resolve"], [30, 15, 25, 15, 15]
                )[0]
                coro = None
                if kind == "ack" or kind == "resolve":
                    with contextlib.suppress(*_DB_ERRORS):
                        coro = await self.follow_up(conn, kind)
                else:
                    coro = self.send(kind)
                if coro is not None:
                    task = asyncio.create_task(coro)
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        finally:
            await conn.close()
        if tasks:
            await asyncio.wait(tasks, timeout=30)

    async def follow_up(self, conn: asyncpg.Connection, kind: str) -> Any:
        """An acknowledgement (of an open incident or a firing alert) or a resolve, of one not yet acted on."""

        def acted(on: str) -> set[int | None]:
            return {r.target for r in self.requests if r.kind == on}

        if kind == "resolve":
            rows = await conn.fetch(
                "SELECT id, channel_id FROM incidents WHERE status = 'open' AND channel_id IS NOT NULL"
            )
            rows = [r for r in rows if r["id"] not in acted("resolve")]
            if not rows:
                return None
            row = self.rng.choice(rows)
            return self.send("resolve", target=row["id"], channel=row["channel_id"], user=MANAGER)
        if self.rng.random() < 0.5:
            rows = await conn.fetch("SELECT id FROM incidents WHERE acknowledged_at IS NULL AND status = 'open'")
            rows = [r for r in rows if r["id"] not in acted("ack_incident")]
            if rows:
                return self.send("ack_incident", target=self.rng.choice(rows)["id"], user=self.primary)
        rows = await conn.fetch("SELECT id FROM alerts WHERE acknowledged_at IS NULL AND status = 'firing'")
        rows = [r for r in rows if r["id"] not in acted("ack_alert")]
        if rows:
            return self.send("ack_alert", target=self.rng.choice(rows)["id"], user=self.primary)
        return None

    # -- the chaos ------------------------------------------------------------------------------------------------

    async def chaos_loop(self, until: float) -> None:
        while time.perf_counter() < until - 10:
            await asyncio.sleep(self.rng.uniform(8, 20))
            what = self.rng.choice(["kill", "kill", "cut", "slack", "pagerduty"])
            if what == "kill" and len(self.up()) == 2:
                # A P1 goes to the victim, which dies the moment its ack arrives, or a moment later (mid-page).
                index = self.rng.randrange(2)
                kind = self.rng.choice(["declare_command", "declare_form", "alert"])
                at_ack = self.rng.random() < 0.5
                sent = asyncio.create_task(self.send(kind, to=index, kill_on_ack=at_ack))
                self.in_flight.add(sent)
                if at_ack:
                    await asyncio.wait({sent}, timeout=10)
                else:
                    await asyncio.sleep(self.rng.uniform(0.1, 1.5))
                self.kill(index)
                when = "at the ack of" if at_ack else "after"
                print(f"  {self.clock()} killed replica {index} (-9) {when} a {kind}", flush=True)
                self.restarting.add(index)
                self.restarts.add(asyncio.create_task(self.restart(index, self.rng.uniform(2, 8))))
            elif what == "cut":
                self.proxy.cut()
                self.chaos.cuts += 1
                down = self.rng.uniform(1, 5)
                print(f"  {self.clock()} PostgreSQL connections cut for {down:.1f} s", flush=True)
                await asyncio.sleep(down)
                self.proxy.restore()
            elif what == "slack":
                status = self.rng.choice([429, 500])
                self.slack.burst(status, self.rng.randint(2, 6))
                self.chaos.slack_bursts += 1
                print(f"  {self.clock()} Slack answers {status} in a burst", flush=True)
            elif what == "pagerduty":
                status = self.rng.choice([429, 500])
                seconds = self.rng.uniform(2, 8)
                self.pd.burst(status, seconds)
                self.chaos.pd_bursts += 1
                print(f"  {self.clock()} PagerDuty answers {status} for {seconds:.1f} s", flush=True)

    def kill(self, index: int) -> None:
        if self.replicas[index].alive:
            self.replicas[index].kill()
            self.chaos.kills.append(time.perf_counter())

    async def restart(self, index: int, after: float) -> None:
        await asyncio.sleep(after)
        try:
            await self.replicas[index].start()
            print(f"  {self.clock()} replica {index} up again", flush=True)
        except SystemExit as exc:
            print(f"  {self.clock()} replica {index} did not come back: {exc}", flush=True)
        finally:
            self.restarting.discard(index)

    def clock(self) -> str:
        return f"[{time.perf_counter() - self.began:6.1f} s]"

    # -- the run --------------------------------------------------------------------------------------------------

    async def baseline(self) -> None:
        """Who the right people are: those a P1 incident and a P1 alert page before anything fails."""
        incident = await self.send("declare_command")
        alert = await self.send("alert")
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            paged = self.paged()
            if len(paged.get(incident.tag, {})) >= 3 and paged.get(alert.tag):
                self.paged_by_incident = set(paged[incident.tag])
                self.primary = next(iter(paged[alert.tag]))
                return
            await asyncio.sleep(0.2)
        raise SystemExit(f"the baseline P1s were not paged within 60 s (logs: {self.tmp})")

    async def run(self) -> None:
        self.began = time.perf_counter()
        await self.baseline()
        print(
            f"  right people: a P1 incident pages {sorted(self.paged_by_incident)}, a P1 alert {self.primary}",
            flush=True,
        )
        until = time.perf_counter() + self.args.minutes * 60
        await asyncio.gather(self.load(until), self.chaos_loop(until))
        print(f"  {self.clock()} chaos over: restoring, then waiting up to {self.args.settle:.0f} s", flush=True)
        self.proxy.restore()
        await asyncio.gather(*self.restarts, *self.in_flight)
        for index, replica in enumerate(self.replicas):
            if not replica.alive:
                await replica.start()
                print(f"  {self.clock()} replica {index} started", flush=True)

    # -- what happened ----------------------------------------------------------------------------------------------

    def _pages(self) -> Iterator[tuple[str, str, float]]:
        """(tag, person, when Slack accepted it) for every page DM Slack accepted."""
        for method, at, args in self.slack.ok:
            channel = str(args.get("channel") or "")
            text = str(args.get("text") or "")
            if method == "chat.postMessage" and channel[:1] in ("U", "W") and is_page(text):
                found = TAG.search(text)
                if found:
                    yield found[0], channel, at

    def paged(self) -> dict[str, Counter[str]]:
        """tag -> how many page DMs each person got (accepted by Slack)."""
        out: dict[str, Counter[str]] = {}
        for tag, channel, _ in self._pages():
            out.setdefault(tag, Counter())[channel] += 1
        return out

    def page_times(self) -> dict[str, float]:
        """tag -> when the last of its page DMs was accepted (once all the right people had theirs)."""
        firsts: dict[str, dict[str, float]] = {}
        for tag, channel, at in self._pages():
            firsts.setdefault(tag, {}).setdefault(channel, at)
        return {tag: max(times.values()) for tag, times in firsts.items()}

    def told(self, request: Request) -> list[str]:
        """What the sender of a request was told: the ack, its response_url, DMs and ephemerals naming its tag."""
        said = [request.ack_body]
        for call in self.slack.calls:
            if call.method == "response_url" and str(call.args.get("_response_url")).startswith(request.tag + "-"):
                said.append(flatten(call.args))
            elif call.method in ("chat.postMessage", "chat.postEphemeral") and request.tag in flatten(call.args):
                said.append(flatten(call.args))
        return said

    async def check(self, conn: asyncpg.Connection) -> list[tuple[str, bool, str]]:
        """(invariant, holds, detail) for each invariant, as things stand."""
        incidents = {
            TAG.search(r["title"])[0]: r
            for r in await conn.fetch("SELECT id, title, status, acknowledged_at FROM incidents")
            if TAG.search(r["title"])
        }
        incident_count = Counter(TAG.search(r["title"])[0] for r in await conn.fetch("SELECT title FROM incidents"))
        alert_rows = await conn.fetch("SELECT id, labels->>'instance' AS tag, acknowledged_at FROM alerts")
        alerts = {}
        for row in alert_rows:
            found = TAG.search(str(row["tag"]))
            if found:
                alerts[found[0]] = row
        by_id = {r["id"]: r for r in incidents.values()}
        alerts_by_id = {r["id"]: r for r in alerts.values()}
        paged = self.paged()
        declared = [r for r in self.requests if r.kind.startswith("declare") and self.committed(r, incidents)]
        fired = [r for r in self.requests if r.kind == "alert" and r.acked]
        results = []

        wrong = []
        for r in declared:
            got = paged.get(r.tag, Counter())
            if set(got) != self.paged_by_incident or any(n != 1 for n in got.values()):
                wrong.append(f"{r.tag}: {dict(got)}")
        for r in fired:
            got = paged.get(r.tag, Counter())
            if dict(got) != {self.primary: 1}:
                wrong.append(f"{r.tag}: {dict(got)}")
        results.append(
            (
                f"every declared P1 ({len(declared)}) and P1 alert ({len(fired)}) paged each right person exactly once",
                not wrong,
                "; ".join(wrong[:5]) + (f" (+{len(wrong) - 5})" if len(wrong) > 5 else ""),
            )
        )
        triggers = Counter()
        for _, event in self.pd.accepted:
            found = TAG.search(str((event.get("payload") or {}).get("summary") or ""))
            if event.get("event_action") == "trigger" and found:
                triggers[found[0]] += 1
        pd_wrong = [f"{r.tag}: {triggers.get(r.tag, 0)}" for r in [*declared, *fired] if triggers.get(r.tag, 0) != 1]
        results.append(
            (
                "PagerDuty accepted one trigger for each (it dedups repeats, so more is noise, none is a miss)",
                not pd_wrong,
                "; ".join(pd_wrong[:5]),
            )
        )

        posts = Counter()
        for method, _, args in self.slack.ok:
            channel = str(args.get("channel") or "")
            if method == "chat.postMessage" and channel[:1] not in ("U", "W", "D") and not args.get("thread_ts"):
                text = flatten(args)
                found = TAG.search(text)
                if found and found[0] in alerts:
                    posts[found[0]] += 1
        posted_wrong = [f"{r.tag}: {posts.get(r.tag, 0)}" for r in fired if posts.get(r.tag, 0) != 1]
        results.append((f"every alert ({len(fired)}) posted once", not posted_wrong, "; ".join(posted_wrong[:5])))

        missing = []
        twice = [f"{tag} x{n}" for tag, n in incident_count.items() if n > 1]
        for r in self.requests:
            if not r.acked or self.refused(r):
                continue
            if r.kind.startswith("declare") and r.tag not in incidents:
                missing.append(f"{r.kind} {r.tag}: no incident")
            elif r.kind == "alert" and r.tag not in alerts:
                missing.append(f"alert {r.tag}: not stored")
            elif r.kind == "ack_incident" and not (by_id.get(r.target) or {}).get("acknowledged_at"):
                missing.append(f"ack of incident {r.target}: not acknowledged")
            elif r.kind == "ack_alert" and not (alerts_by_id.get(r.target) or {}).get("acknowledged_at"):
                missing.append(f"ack of alert {r.target}: not acknowledged")
            elif r.kind == "resolve" and (by_id.get(r.target) or {}).get("status") != "resolved":
                missing.append(f"resolve of incident {r.target}: still open")
        acked = sum(1 for r in self.requests if r.acked and not self.refused(r))
        results.append(
            (
                f"every acked command's effect present ({acked} acked and not refused; none twice)",
                not missing and not twice,
                "; ".join([*twice, *missing][:6]),
            )
        )

        contradicted = []
        for r in self.requests:
            if not self.refused(r):
                continue
            done = (
                (r.kind.startswith("declare") and r.tag in incidents)
                or (r.kind == "ack_incident" and (by_id.get(r.target) or {}).get("acknowledged_at"))
                or (r.kind == "ack_alert" and (alerts_by_id.get(r.target) or {}).get("acknowledged_at"))
            )
            if done and r.kind != "resolve":
                contradicted.append(f"{r.kind} {r.tag}")
        told_nothing = sum(1 for r in self.requests if self.refused(r))
        results.append(
            (
                f'no "{NOTHING_DONE}" after a commit ({told_nothing} told it)',
                not contradicted,
                "; ".join(contradicted[:5]),
            )
        )
        return results

    def refused(self, request: Request) -> bool:
        return any(NOTHING_DONE in said for said in self.told(request))

    def committed(self, request: Request, incidents: dict[str, Any]) -> bool:
        return request.tag in incidents

    async def settle_and_check(self) -> list[tuple[str, bool, str]]:
        deadline = time.perf_counter() + self.args.settle
        conn = await asyncpg.connect(self.dsn)
        try:
            while True:
                results = await self.check(conn)
                if all(ok for _, ok, _ in results) or time.perf_counter() > deadline:
                    return results
                await asyncio.sleep(2)
        finally:
            await conn.close()

    def latency(self) -> tuple[str, bool]:
        times = self.page_times()
        # A request refused with "nothing was done" (the database out of reach) pages nobody, rightly.
        pages = [
            r
            for r in self.requests
            if (r.kind.startswith("declare") or r.kind == "alert") and r.acked and not self.refused(r)
        ]
        all_times = [times[r.tag] - r.sent if r.tag in times else math.inf for r in pages]
        near = [
            times[r.tag] - r.sent if r.tag in times else math.inf
            for r in pages
            if any(abs(r.sent - k) <= 15 for k in self.chaos.kills)
        ]

        def fig(values: list[float]) -> str:
            if not values:
                return "none sent"
            return " / ".join(_s(pct(values, p) / 1000) for p in (50, 95, 99)) + f" s (n={len(values)})"

        judged = near or all_times
        ok = bool(judged) and pct(judged, 99) / 1000 <= 15
        text = (
            f"time to page p50 / p95 / p99: all {fig(all_times)}; "
            f"sent within 15 s of a kill (before or after) {fig(near)}; "
            "target p99 <= 15 s across a replica kill"
        )
        return text, ok


def _s(seconds: float) -> str:
    return "never" if math.isinf(seconds) else f"{seconds:.2f}"


_DB_ERRORS = (asyncpg.PostgresError, OSError, asyncpg.InterfaceError)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0, help="how long the load and the chaos last")
    parser.add_argument("--every", type=float, default=1.0, help="mean seconds between requests")
    parser.add_argument("--settle", type=float, default=180, help="seconds to wait for the durable work after")
    parser.add_argument("--seed", type=int, default=22)
    parser.add_argument("--logs", type=Path, help="keep the replicas' logs under this folder")
    args = parser.parse_args()
    admin = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    print(f"soak: {args.minutes:g} min of load and chaos, 2 replicas; {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="zzik-soak-") as tmp:
        async with scratch_database(admin) as dsn:
            proxy = PgProxy(dsn)
            await proxy.start()
            folder = args.logs or Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            soak = Soak(args, dsn, proxy, folder)
            try:
                await soak.start()
                await soak.run()
                results = await soak.settle_and_check()
                latency, fast = soak.latency()
            finally:
                await soak.stop()
                await proxy.stop()
            kinds = Counter(r.kind for r in soak.requests)
            acked = Counter(r.kind for r in soak.requests if r.acked)
            print(f"\nsoak results ({machine()}):")
            print(
                "  sent: " + ", ".join(f"{k} {kinds[k]} ({acked[k]} acked)" for k in sorted(kinds)) + "; "
                f"chaos: {len(soak.chaos.kills)} kills, {soak.chaos.cuts} database cuts, "
                f"{soak.chaos.slack_bursts} Slack bursts, {soak.chaos.pd_bursts} PagerDuty bursts"
            )
            for name, ok, detail in results:
                print(f"  [{'ok' if ok else 'FAILED'}] {name}" + (f": {detail}" if detail and not ok else ""))
            print(f"  [{'ok' if fast else 'MISSED'}] {latency}")


if __name__ == "__main__":
    asyncio.run(main())
