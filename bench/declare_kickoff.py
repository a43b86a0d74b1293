"""Declare -> kickoff posted, with a fake Slack that answers every Web API call only after 50 ms.

Sends `/incident p1 <title>` (signed, over HTTP) to the bot and waits for the kickoff message in the new
incident channel. Prints the time it took and the number of sequential Slack round trips before the kickoff was
posted: the longest chain of Web API calls each started after the previous one ended (target: at most 3), with
the calls of that chain, and every call made meanwhile.

    python bench/declare_kickoff.py [--delay 0.05] [--runs 3]

Database: DATABASE_URL if set (a database of its own: the bot migrates it), else the embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
from harness import Commands, machine, start


def chain(spans: list[tuple[str, float, float]], last: tuple[str, float, float], since: float) -> list[str]:
    """The longest run of calls ending at `last` in which each began after the one before it had ended."""
    memo: dict[int, list[str]] = {}

    def longest(i: int) -> list[str]:
        if i not in memo:
            method, started, _ = spans[i]
            before = [j for j, (_, _, e) in enumerate(spans) if e <= started and spans[j][1] >= since]
            best = max((longest(j) for j in before), key=len, default=[])
            memo[i] = [*best, method]
        return memo[i]

    return longest(spans.index(last))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.05, help="seconds the fake Slack waits before answering")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    run = await start(floor=False, api_delay=args.delay)
    try:
        cmds = Commands(run.fake)
        print(f"declare -> kickoff, every Slack call answered after {args.delay * 1000:.0f} ms; {machine()}")
        async with aiohttp.ClientSession() as session:
            for n in range(1, args.runs + 1):
                run.fake.spans.clear()
                since = time.perf_counter()
                ack, _, _, _ = await cmds.send(session, run.bot_url, "/incident", f"p1 Checkout down {n}", "declare")
                kickoff = None
                while kickoff is None and time.perf_counter() - since < 30:
                    await asyncio.sleep(0.01)
                    kickoff = next(
                        (
                            s
                            for s in run.fake.spans
                            if s[0] == "chat.postMessage" and str(s[3].get("channel", "")).startswith("C0")
                        ),
                        None,
                    )
                if kickoff is None:
                    seen = ", ".join(m for m, _, _, _ in run.fake.spans)
                    raise SystemExit(f"no kickoff message within 30 s (calls: {seen}; log: {run.data_dir}/bot.log)")
                spans = [(m, s, e) for m, s, e, _ in run.fake.spans if since <= s < kickoff[2]]
                path = chain(spans, (kickoff[0], kickoff[1], kickoff[2]), since)
                count = -1
                while count != len(run.fake.spans):  # let the rest of the set-up finish before the next run
                    count = len(run.fake.spans)
                    await asyncio.sleep(0.5)
                print(
                    f"run {n}{' (first: Bolt also calls auth.test)' if n == 1 else ''}: "
                    f"ack {ack * 1000:.0f} ms, kickoff posted after {(kickoff[2] - since) * 1000:.0f} ms; "
                    f"{len(path)} sequential Slack round trips ({' -> '.join(path)}); "
                    f"{len(spans)} calls in all ({', '.join(sorted({m for m, _, _ in spans}))})"
                )
    finally:
        await run.stop()


if __name__ == "__main__":
    asyncio.run(main())
