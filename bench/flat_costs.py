"""Costs as history grows: the same reads with 10 and with 100,000 stored incidents, deploys, audit rows, job runs
and overrides, side by side in one process (the rounds alternate, so load on the machine hits both alike).

Times, in the bot's own code on a real PostgreSQL: `/incident list`, the weekly handoff summary (every section),
`/deploy history` (all, prod, prod 3), `/deploy status`, `/oncall`, the job runner's tick, and one audit insert; prints
the median and p95 of each and the large/small ratio (target <= 1.3x), then (--plans) the query plans.

Every operation gives the same answer in both sizes, so a ratio measures history, not the answer's length, but
one: the small case holds 3 prod deploys, so `/deploy history prod` (ten rows) answers 3 lines there and 10 in the
large case. `/deploy history prod 3` is the like-for-like figure; the ten-row one is printed for reference.

    DATABASE_URL=postgresql://… python bench/flat_costs.py [--rows 100000] [--rounds 200] [--plans]

Each size gets a schema of its own in that database, dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
from harness import ROOT, USER, TimedSlack, machine, pct

from bot import audit, opsconfig
from bot.app import BotApp, build
from bot.db import Database
from bot.deploys import flows as deploys
from bot.incidents import flows as incidents
from bot.oncall import flows as oncall
from bot.settings import Settings

OPEN_INCIDENTS = 3  # the same few open ones in both sizes; all history is older than a month: same answers

SEED = """
INSERT INTO incidents (number, declare_key, title, severity, status, stage, commander, reporter, declared_at,
                       last_update_at, resolved_at, resolved_by)
SELECT g, 'seed:' || g, 'Seeded incident ' || g, 'P' || (1 + g % 4), 'resolved', 'Post-mortem', 'U0SEED', 'U0SEED',
       now() - interval '30 days' - g * interval '7 minutes', now() - interval '30 days' - g * interval '7 minutes',
       now() - interval '30 days' - g * interval '7 minutes' + interval '1 hour', 'U0SEED'
FROM generate_series(1, $1::int - $2::int) g;
INSERT INTO incidents (number, declare_key, title, severity, status, stage, commander, reporter, declared_at,
                       last_update_at)
SELECT $1::int - $2::int + g, 'open:' || g, 'Open incident ' || g, 'P2', 'open', 'Triage', 'U0SEED', 'U0SEED',
       now() - g * interval '1 hour', now()
FROM generate_series(1, $2::int) g;
SELECT setval('incident_numbers', $1::int);
INSERT INTO incident_actions (incident_id, text, created_by, created_at, done_at)
SELECT id, 'follow up ' || id, 'U0SEED', declared_at, declared_at + interval '1 day'
FROM incidents WHERE status = 'resolved';
INSERT INTO deploys (environment, version, status, request_key, requested_by, started_at, finished_at, created_at)
SELECT CASE WHEN g % 3 = 0 THEN 'prod' ELSE 'staging' END, 'v' || g,
       CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'succeeded' END, 'seed:' || g, 'U0SEED',
       now() - g * interval '5 minutes', now() - g * interval '5 minutes' + interval '2 minutes',
       now() - g * interval '5 minutes'
FROM generate_series(1, $1::int) g;
INSERT INTO audit_log (at, kind, action, outcome, actor, channel, detail)
SELECT now() - g * interval '1 minute', 'command', '/oncall', 'ok', 'U0SEED', 'C0SEED', '{"text": ""}'
FROM generate_series(1, $1::int) g;
INSERT INTO job_runs (job, run_key, due_at, status, attempts, finished_at)
SELECT 'incidents.nudge', 'seed:' || g, now() - g * interval '1 minute', 'done', 1, now() - g * interval '1 minute'
FROM generate_series(1, $1::int) g;
INSERT INTO oncall_overrides (role, user_id, starts_at, ends_at, created_by)
SELECT (ARRAY['primary', 'secondary', 'manager'])[1 + g % 3], 'U0SEED',
       now() - interval '30 days' - g * interval '2 hours',
       now() - interval '30 days' - g * interval '2 hours' + interval '1 hour', 'U0SEED'
FROM generate_series(1, $1::int) g;
ANALYZE;
"""

PLANS = {
    "/incident list": "SELECT * FROM incidents WHERE status = 'open' ORDER BY severity, declared_at",
    "handoff: the week's incidents": """SELECT * FROM incidents WHERE declared_at >= now() - interval '7 days'
        AND declared_at < now() OR (resolved_at >= now() - interval '7 days' AND resolved_at < now())
        ORDER BY declared_at""",
    "handoff: open actions": """SELECT i.number, a.id FROM incident_actions a JOIN incidents i ON i.id = a.incident_id
        WHERE a.done_at IS NULL ORDER BY a.id""",
    "/deploy history": "SELECT * FROM deploys ORDER BY created_at DESC, id DESC LIMIT 10",
    "/deploy history prod": """SELECT * FROM deploys WHERE environment = 'prod'
        ORDER BY created_at DESC, id DESC LIMIT 10""",
    "/deploy status": """SELECT * FROM deploys WHERE environment = 'prod' AND status = 'succeeded'
        ORDER BY finished_at DESC, id DESC LIMIT 1""",
    "/oncall overrides": """SELECT * FROM oncall_overrides WHERE cancelled_at IS NULL AND status = 'accepted'
        AND starts_at < now() + interval '27 weeks' AND ends_at > now() ORDER BY starts_at, id""",
    "job tick claim": """SELECT id FROM job_runs WHERE (status = 'pending' AND due_at <= now())
        OR (status = 'running' AND claimed_at < now() - interval '5 minutes') ORDER BY due_at LIMIT 10""",
}


async def make(dsn: str, fake: TimedSlack, rows: int) -> tuple[BotApp, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    settings = Settings(
        slack_bot_token="xoxb-bench", slack_signing_secret="bench", slack_api_url=fake.url, database_url=dsn
    )
    app = build(settings, opsconfig.load(), db=Database(dsn, schema=schema, min_size=2, max_size=4))
    await app.start(run_scheduler=False)
    async with app.services.db.connection() as conn:
        for statement in SEED.split(";\n"):
            if statement.strip():
                args = [a for a, used in ((rows, "$1" in statement), (OPEN_INCIDENTS, "$2" in statement)) if used]
                await conn.execute(statement, *args)
    return app, schema


def operations(app: BotApp) -> dict[str, Callable[[], Awaitable[object]]]:
    s = app.services
    now = s.clock.now()

    async def handoff_summary() -> list[str]:
        lines: list[str] = []
        for section in s.handoff_summary:
            lines += await section(s, now - timedelta(weeks=1), now)
        return lines

    async def audit_insert() -> None:
        await audit.record(s.db, kind="command", action="/oncall", outcome="ok", actor=USER, detail={"text": ""})

    return {
        "/incident list": lambda: incidents.listing(s),
        "handoff summary": handoff_summary,
        "/deploy history": lambda: deploys.history(s, None, 10),
        "/deploy history prod 3": lambda: deploys.history(s, "prod", 3),  # 3 prod deploys in the small case
        "/deploy history prod": lambda: deploys.history(s, "prod", 10),  # 3 lines against 10: not like for like
        "/deploy status": lambda: deploys.status(s),
        "/oncall": lambda: oncall.show_now(s, USER),
        "job runner tick": s.jobs.tick,
        "audit insert": audit_insert,
    }


async def main() -> None:
    import os

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000, help="rows of each history table in the large case")
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--plans", action="store_true", help="print EXPLAIN ANALYZE of the queries (large case)")
    args = parser.parse_args()
    dsn = os.environ.get("DATABASE_URL")
    if not dsn:
        raise SystemExit("set DATABASE_URL (a PostgreSQL database this benchmark may create schemas in)")

    fake = TimedSlack()
    await fake.start()
    fake.add_user(USER, "bench", tz="Asia/Seoul")
    started = time.perf_counter()
    small, small_schema = await make(dsn, fake, args.small)
    large, large_schema = await make(dsn, fake, args.rows)
    print(f"seeded {args.small} and {args.rows:,} rows per table in {time.perf_counter() - started:.0f} s; {machine()}")
    try:
        ops_small, ops_large = operations(small), operations(large)
        print(f"{'operation':<24}{'10 p50 ms':>11}{'p95':>8}{'big p50 ms':>12}{'p95':>8}{'ratio p50':>11}")
        for name in ops_small:
            times: dict[str, list[float]] = {"small": [], "large": []}
            for _ in range(10):  # warm
                await ops_small[name]()
                await ops_large[name]()
            for n in range(args.rounds):
                pair = [("small", ops_small), ("large", ops_large)]
                for label, ops in pair if n % 2 else pair[::-1]:  # neither always runs first
                    t = time.perf_counter()
                    await ops[name]()
                    times[label].append(time.perf_counter() - t)
            s, lg = times["small"], times["large"]
            print(
                f"{name:<24}{pct(s, 50):>11.3f}{pct(s, 95):>8.3f}{pct(lg, 50):>12.3f}{pct(lg, 95):>8.3f}"
                f"{statistics.median(lg) / statistics.median(s):>10.2f}x"
            )
        if args.plans:
            async with large.services.db.connection() as conn:
                for name, sql in PLANS.items():
                    plan = await conn.fetch("EXPLAIN (ANALYZE, COSTS OFF, SUMMARY OFF, TIMING OFF) " + sql)
                    print(f"\n-- {name}\n" + "\n".join(r[0] for r in plan))
    finally:
        for app, schema in ((small, small_schema), (large, large_schema)):
            await app.stop()
            conn = await asyncpg.connect(dsn)
            await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await conn.close()
        await fake.stop()


if __name__ == "__main__":
    assert ROOT
    asyncio.run(main())
