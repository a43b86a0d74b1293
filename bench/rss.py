"""Resident memory of the bot while it answers many requests: is it bounded and flat?

Starts the fake Slack and the bot (its own process), sends signed `/oncall` and `/incident list` commands
(alternating, closed loop at concurrency C), and prints the bot's RSS (VmRSS) every `--every` requests.
Target: under 150 MB after 100,000 requests, and flat (the last samples no higher than the first after warm-up).

    python bench/rss.py [--requests 20000] [--every 5000] [-c 20]      # the full figure: --requests 100000

Database: DATABASE_URL if set (a fresh database of its own: the bot migrates it), else the embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterator

import aiohttp
from harness import Commands, machine, rss_mb, start


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--every", type=int, default=5_000)
    parser.add_argument("-c", type=int, default=20)
    args = parser.parse_args()

    run = await start(floor=False)
    try:
        cmds = Commands(run.fake)
        print(f"bot RSS while answering {args.requests:,} commands at concurrency {args.c}; {machine()}")
        print(f"{'requests':>10}{'RSS MB':>9}{'req/s':>8}")
        print(f"{0:>10}{rss_mb(run.bot_pid):>9.1f}")
        done = 0
        started = time.perf_counter()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.c)) as session:
            while done < args.requests:
                batch = min(args.every, args.requests - done)
                counter = iter(range(batch))

                async def worker(counter: Iterator[int]) -> None:
                    for i in counter:
                        spec = ("/oncall", "") if i % 2 else ("/incident", "list")
                        await cmds.send(session, run.bot_url, *spec, "rss")

                t = time.perf_counter()
                await asyncio.gather(*(worker(counter) for _ in range(args.c)))
                done += batch
                run.fake.answered.clear()
                print(f"{done:>10,}{rss_mb(run.bot_pid):>9.1f}{batch / (time.perf_counter() - t):>8.0f}")
        print(f"{args.requests:,} commands in {time.perf_counter() - started:.0f} s; {machine()}")
    finally:
        await run.stop()


if __name__ == "__main__":
    asyncio.run(main())
