"""Command handling under contention: a hot aggregate and many streams, through one handler.

* hot aggregate: 16 callers x 50 ``Deposit`` commands on ONE stream through ONE
  ``CommandHandler`` (the per-stream writer groups them into atomic appends), vs the same 800
  commands sent one after another by one caller in the same run: accepted commands/s, ratio
  (target >= 3x) and the p50/p99 latency of one command in each;
* many streams: 16 callers sending 2,000 ``Deposit`` commands round-robin to 1,000 opened
  streams through one handler (warm cache), commands/s and p50/p99 latency.

Run with ``make bench`` (or ``.venv/bin/python bench/commands.py``); medians of ``RUNS`` runs on
an embedded nats-server with file storage (the hot-aggregate pairs: ``HOT_RUNS`` runs, the two
sides back to back in alternating order; the ratio is the median of the per-run ratios).
``BENCH_PHASES=many`` runs the many-streams phase only.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from typing import Any

import anyio
import nats
from returns.result import Success

from cim import StreamId
from cim.examples.bank import Deposit, OpenAccount, account, bank_types
from interpreters.runtime.commands import CommandHandler
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore

RUNS = 5
HOT_RUNS = 9  # short phases: more pairs, each pair run back to back in alternating order
CALLERS = 16
PER_CALLER = 50
STREAMS = 1000
MANY_COMMANDS = 2000


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def opened(handler: CommandHandler[Any, Any, Any], stream: StreamId) -> None:
    assert isinstance(await handler.handle(stream, OpenAccount(stream.entity_id, "Ada")), Success)


async def hot_concurrent(store: JetStreamEventStore, run: int) -> tuple[float, list[float], int]:
    """(seconds, latencies, accepted) of 16 x 50 commands on one stream, concurrently."""
    handler: CommandHandler[Any, Any, Any] = CommandHandler(account, store)
    stream = StreamId("account", f"hot-c-{run}")
    await opened(handler, stream)
    latencies: list[float] = []
    accepted = 0

    async def caller() -> None:
        nonlocal accepted
        for _ in range(PER_CALLER):
            start = time.perf_counter()
            result = await handler.handle(stream, Deposit(1))
            latencies.append(time.perf_counter() - start)
            accepted += isinstance(result, Success)

    gc.collect()
    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(CALLERS):
            tg.start_soon(caller)
    return time.perf_counter() - start, latencies, accepted


async def hot_serial(store: JetStreamEventStore, run: int) -> tuple[float, list[float], int]:
    """(seconds, latencies, accepted) of the same 800 commands sent one after another."""
    handler: CommandHandler[Any, Any, Any] = CommandHandler(account, store)
    stream = StreamId("account", f"hot-s-{run}")
    await opened(handler, stream)
    latencies: list[float] = []
    accepted = 0
    gc.collect()
    start = time.perf_counter()
    for _ in range(CALLERS * PER_CALLER):
        began = time.perf_counter()
        result = await handler.handle(stream, Deposit(1))
        latencies.append(time.perf_counter() - began)
        accepted += isinstance(result, Success)
    return time.perf_counter() - start, latencies, accepted


async def many_streams(store: JetStreamEventStore, run: int) -> tuple[float, list[float], int]:
    """(seconds, latencies, accepted) of 2,000 commands by 16 callers over 1,000 streams."""
    handler: CommandHandler[Any, Any, Any] = CommandHandler(account, store, cache_size=STREAMS)
    streams = [StreamId("account", f"many-{run}-{i}") for i in range(STREAMS)]
    async with anyio.create_task_group() as tg:
        for offset in range(CALLERS):
            for stream in streams[offset::CALLERS]:
                tg.start_soon(opened, handler, stream)
    latencies: list[float] = []
    accepted = 0

    async def caller(offset: int) -> None:
        nonlocal accepted
        for i in range(offset, MANY_COMMANDS, CALLERS):
            began = time.perf_counter()
            result = await handler.handle(streams[i % STREAMS], Deposit(1))
            latencies.append(time.perf_counter() - began)
            accepted += isinstance(result, Success)

    gc.collect()
    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for offset in range(CALLERS):
            tg.start_soon(caller, offset)
    return time.perf_counter() - start, latencies, accepted


def summary(name: str, runs: list[tuple[float, list[float], int]]) -> tuple[str, float]:
    rates = [accepted / seconds for seconds, _, accepted in runs]
    p50 = statistics.median(percentile(lat, 0.5) for _, lat, _ in runs) * 1000
    p99 = statistics.median(percentile(lat, 0.99) for _, lat, _ in runs) * 1000
    accepted = statistics.median(a for _, _, a in runs)
    rate = statistics.median(rates)
    line = f"| {name} | {rate:,.0f}/s | {accepted:.0f} | {p50:.2f} ms | {p99:.2f} ms |"
    return line, rate


async def main() -> None:
    phases = os.environ.get("BENCH_PHASES", "hot,many").split(",")
    started = time.perf_counter()
    lines: list[str] = []
    async with NatsServer(name="bench-commands") as server:
        nc = await nats.connect(server.url)
        try:
            async with await JetStreamEventStore.from_client(
                nc, types=bank_types, stream="BENCHCMD", subject_prefix="benchcmd"
            ) as store:
                if "hot" in phases:
                    concurrent, serial = [], []
                    for run in range(HOT_RUNS):
                        if run % 2:
                            serial.append(await hot_serial(store, run))
                            concurrent.append(await hot_concurrent(store, run))
                        else:
                            concurrent.append(await hot_concurrent(store, run))
                            serial.append(await hot_serial(store, run))
                    line_c, rate_c = summary(
                        f"hot aggregate, {CALLERS} callers x {PER_CALLER}", concurrent
                    )
                    line_s, rate_s = summary("hot aggregate, the same commands serially", serial)
                    lines += [line_c, line_s]
                    ratios = [
                        (c[2] / c[0]) / (s[2] / s[0])
                        for c, s in zip(concurrent, serial, strict=True)
                    ]
                    ratio = statistics.median(ratios)
                    verdict = "met" if ratio >= 3 else "MISSED"
                    lines.append(
                        f"\nhot aggregate ratio concurrent/serial: {ratio:.2f}x ({verdict}; "
                        f"median of per-run ratios; of the median rates {rate_c / rate_s:.2f}x; "
                        f"per run: {', '.join(f'{r:.2f}' for r in ratios)}; target >= 3x)\n"
                    )
                if "many" in phases:
                    many = [await many_streams(store, run) for run in range(RUNS)]
                    lines.insert(0, summary(f"{STREAMS:,} streams, {CALLERS} callers", many)[0])
        finally:
            await nc.close()
    print("| Measurement | accepted commands/s | accepted | p50 latency | p99 latency |")
    print("|---|---|---|---|---|")
    for line in lines:
        print(line)
    print(f"(total {time.perf_counter() - started:.0f} s, medians of runs, file storage)")


if __name__ == "__main__":
    anyio.run(main)
