"""Ack latency and time to answer of the bot against a bare Bolt app that only acks (the floor), in one run.

Two floors (bench/floor_app.py): `floor` is Bolt as it comes, which polls every 10 ms for the listener's ack, so
its latency has a 10 ms step and its closed-loop throughput is bound by that poll; `floor-np` sets
process_before_response (no poll, as the bot does), the stricter floor, bound by CPU.

Starts a fake Slack Web API (in this process), the bot (`python -m bot serve`) and the floor apps (each its own
process), then for each command:

- closed loop: N signed slash commands at concurrency C to each target over loopback;
- open loop: commands sent at a fixed rate for S seconds whatever the answers (latency from the planned send
  time, so a stall is not hidden by sending less);

and prints p50/p95/p99 of the ack, throughput, the time to the answer (the ack's body, or the response_url
post arriving at the fake Slack), the share answered in the ack, and the bot/floor ratios for both floors.

    python bench/ack_latency.py [-n 1500] [-c 20] [--rates 100,300] [--seconds 8] [--commands "/oncall,/incident list"]

Database: DATABASE_URL if set (a database of its own: the bot migrates it), else the embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp
from harness import Commands, Processes, answer_times, machine, pct, start

Sent = tuple[float, bool, str, float]


async def closed_loop(
    cmds: Commands, url: str, n: int, c: int, command: str, text: str, tag: str
) -> tuple[list[Sent], float]:
    sent: list[Sent] = []
    counter = iter(range(n))

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in counter:
            sent.append(await cmds.send(session, url, command, text, tag))

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c)) as session:
        await asyncio.gather(*(worker(session) for _ in range(c)))
    return sent, n / (time.perf_counter() - started)


async def open_loop(
    cmds: Commands, url: str, rate: float, seconds: float, command: str, text: str, tag: str
) -> tuple[list[Sent], float]:
    sent: list[Sent] = []
    failed = 0

    async def one(session: aiohttp.ClientSession, planned: float) -> None:
        nonlocal failed
        try:
            _, in_ack, name, _ = await cmds.send(session, url, command, text, tag)
        except (RuntimeError, aiohttp.ClientError):
            failed += 1
            return
        # Latency from the planned send time: a client that fell behind still counts the wait.
        sent.append((time.perf_counter() - planned, in_ack, name, planned))

    total = int(rate * seconds)
    tasks = []
    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000)) as session:
        for i in range(total):
            planned = started + i / rate
            delay = planned - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, planned)))
        await asyncio.gather(*tasks)
    if failed:
        print(f"  {tag}: {failed} requests failed")
    return sent, len(sent) / (time.perf_counter() - started)


def row(name: str, sent: list[Sent], rate: float, answers: list[float]) -> str:
    acks = [s[0] for s in sent]
    in_ack = sum(1 for s in sent if s[1]) / max(len(sent), 1) * 100
    return (
        f"{name:<10}{pct(acks, 50):>8.1f}{pct(acks, 95):>8.1f}{pct(acks, 99):>8.1f}{statistics.mean(acks) * 1000:>8.1f}"
        f"{rate:>8.0f}{pct(answers, 50):>9.1f}{pct(answers, 95):>9.1f}{pct(answers, 99):>9.1f}{in_ack:>8.0f}%"
        + ("" if len(answers) == len(sent) else f"  ({len(sent) - len(answers)} answers missing)")
    )


async def measure(run: Processes, cmds: Commands, args: argparse.Namespace, command: str, text: str) -> None:
    targets = [("floor", run.floor_url), ("floor-np", run.strict_floor_url), ("zzik-bot", run.bot_url)]
    for _, url in targets:  # warm: connections, prepared statements, caches
        await closed_loop(cmds, url, 100, args.c, command, text, "warm")
    header = f"{'':<10}{'ack p50':>8}{'p95':>8}{'p99':>8}{'mean':>8}{'req/s':>8}"
    header += f"{'answer50':>9}{'p95':>9}{'p99':>9}{'in ack':>9}"
    print(f"\n`{command} {text}`".rstrip())
    runs: list[tuple[str, object]] = [("closed", args.c)] + [("open", r) for r in args.rates]
    for kind, value in runs:
        if kind == "closed":
            print(f"  closed loop, concurrency {value}, {args.n} commands each ({machine()})")
        else:
            print(f"  open loop, {value} req/s for {args.seconds:g} s ({machine()})")
        print("  " + header)
        results = {}
        for name, url in targets:
            if kind == "closed":
                sent, rate = await closed_loop(cmds, url, args.n, int(value), command, text, name)
            else:
                sent, rate = await open_loop(cmds, url, float(value), args.seconds, command, text, name)
            answers = await answer_times(run.fake, sent)
            results[name] = (sent, rate, answers)
            print("  " + row(name, sent, rate, answers))
        bs, br, ba = results["zzik-bot"]
        bl = [s[0] for s in bs]
        for floor in ("floor", "floor-np"):
            fs, fr, fa = results[floor]
            fl = [s[0] for s in fs]
            print(
                f"  bot/{floor}: ack "
                + "  ".join(f"p{p} {pct(bl, p) / pct(fl, p):.2f}x" for p in (50, 95, 99))
                + f"  throughput {br / fr:.2f}x"
                + f"  answer p95 {pct(ba, 95) / pct(fa, 95):.2f}x"
            )
            if kind == "open":
                print(
                    f"  target p99 <= 1.5 x {floor} p99 + 5 ms = {1.5 * pct(fl, 99) + 5:.1f} ms: "
                    f"bot p99 {pct(bl, 99):.1f} ms"
                )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=1500, help="commands per target in the closed loop")
    parser.add_argument("-c", type=int, default=20, help="closed-loop concurrency")
    parser.add_argument("--rates", default="100,300", help="open-loop rates, req/s")
    parser.add_argument("--seconds", type=float, default=8.0, help="open-loop duration per rate and target")
    parser.add_argument("--commands", default="/oncall,/incident list")
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",") if r]

    run = await start(floor=True)
    try:
        cmds = Commands(run.fake)
        print(f"bot vs bare Bolt over loopback; {machine()}")
        for spec in args.commands.split(","):
            command, _, text = spec.strip().partition(" ")
            await measure(run, cmds, args, command, text)
    finally:
        await run.stop()


if __name__ == "__main__":
    asyncio.run(main())
