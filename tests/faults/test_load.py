"""Load: 32 concurrent command handlers on 100 bank accounts, a fixed number of commands.

Every command either succeeds or gets a clear error value (a rejection by the decider, or
``ConcurrencyExhausted``); no store error, no exception. Afterwards each account's state folded
from its stored events equals the state the last successful handler saw, and the balance equals
the sum of the accepted deposits minus the accepted withdrawals. Throughput and p99 latency are
recorded as figures.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from typing import Any

import pytest
from returns.result import Failure, Success

from cim import StreamId
from cim.decider import Rejection, state_of
from cim.examples.bank import (
    Account,
    BankCommand,
    Deposit,
    Deposited,
    OpenAccount,
    Withdraw,
    Withdrawn,
    account,
    bank_types,
)
from interpreters.runtime.commands import CommandHandler, ConcurrencyExhausted, Handled
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore
from tests.faults._figures import Record

pytestmark = [pytest.mark.faults, pytest.mark.anyio]

HANDLERS = 32
ACCOUNTS = 100
COMMANDS_PER_HANDLER = 100
SEED = 20240917


def percentile(samples: list[float], q: float) -> float:
    """The *q*-th percentile (0..100) of *samples*, nearest rank."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def test_32_handlers_on_100_accounts(figures: Record) -> None:
    """Every command succeeds or is clearly refused, and stored events fold to the final states."""
    streams = [StreamId("account", f"a{i:03d}") for i in range(ACCOUNTS)]
    rng = random.Random(SEED)
    plans: list[list[tuple[StreamId, BankCommand]]] = [
        [
            (
                stream,
                Deposit(rng.randint(1, 100))
                if rng.random() < 0.6
                else Withdraw(rng.randint(1, 150)),
            )
            for stream in rng.choices(streams, k=COMMANDS_PER_HANDLER)
        ]
        for _ in range(HANDLERS)
    ]
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    last_seen: dict[StreamId, Handled[Account]] = {}
    accepted_total: Counter[StreamId] = Counter()

    async with (
        NatsServer(name="load") as server,
        await JetStreamEventStore.connect(
            server.url, types=bank_types, stream="LOAD", subject_prefix="load"
        ) as store,
    ):
        opener: CommandHandler[BankCommand, Any, Account] = CommandHandler(account, store)
        for stream in streams:
            opened = await opener.handle(stream, OpenAccount(stream.entity_id, "load"))
            assert isinstance(opened, Success), opened

        async def run_handler(plan: list[tuple[StreamId, BankCommand]]) -> None:
            handler: CommandHandler[BankCommand, Any, Account] = CommandHandler(
                account, store, max_attempts=10
            )
            for stream, command in plan:
                started = time.perf_counter()
                result = await handler.handle(stream, command)
                latencies.append(time.perf_counter() - started)
                match result:
                    case Success(handled):
                        outcomes["succeeded"] += 1
                        seen = last_seen.get(stream)
                        if seen is None or handled.version > seen.version:
                            last_seen[stream] = handled
                        for event in handled.events:
                            match event.payload:
                                case Deposited(amount=amount):
                                    accepted_total[stream] += amount
                                case Withdrawn(amount=amount):
                                    accepted_total[stream] -= amount
                    case Failure(Rejection(code=code)):
                        outcomes[f"rejected:{code}"] += 1
                    case Failure(ConcurrencyExhausted()):
                        outcomes["concurrency_exhausted"] += 1
                    case Failure(error):
                        raise AssertionError(f"{stream} {command}: not a clear refusal: {error}")

        import anyio

        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for plan in plans:
                group.start_soon(run_handler, plan)
        elapsed = time.perf_counter() - started

        mismatches: list[tuple[object, ...]] = []
        stored_commands = 0
        for stream in streams:
            events = (await store.read(stream)).unwrap()
            stored_commands += len(events) - 1
            folded = state_of(account, (e.payload for e in events))
            if folded.balance != accepted_total[stream]:
                mismatches.append((stream, "balance", folded.balance, accepted_total[stream]))
            seen = last_seen.get(stream)
            if seen is not None and (seen.version, seen.state) != (len(events), folded):
                mismatches.append((stream, "state", seen, folded))

    total = HANDLERS * COMMANDS_PER_HANDLER
    assert sum(outcomes.values()) == total
    assert stored_commands == outcomes["succeeded"]
    assert mismatches == []
    figures(
        "load",
        handlers=HANDLERS,
        aggregates=ACCOUNTS,
        commands=total,
        outcomes=dict(sorted(outcomes.items())),
        seconds=round(elapsed, 2),
        commands_per_second=round(total / elapsed),
        latency_p50_ms=round(statistics.median(latencies) * 1000, 2),
        latency_p99_ms=round(percentile(latencies, 99) * 1000, 2),
        latency_max_ms=round(max(latencies) * 1000, 2),
        final_states_equal_fold=not mismatches,
    )
