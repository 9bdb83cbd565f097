"""Benchmark: rebuild an aggregate from 10,000 stored events, and fold 1,000,000 in constant memory.

Run: ``.venv/bin/python bench/fold.py`` (about 30 s). Prints markdown tables.

(a) and (c) time each run in the process's CPU time (``time.process_time``), not wall time: both
sides are pure computation with no I/O, so on an idle machine the two agree, and on a shared one
(this project's 2 cores often carry several jobs) CPU time leaves out the time the process waits
for a core, which wall time charges at random to whichever side happens to be running.

(a) Decode + fold 10,000 bank-account events (open, deposit, withdraw, set limit) with cim's
    ``JsonCodec.decode_many`` (what the JetStream store's ``read`` decodes each batch of a
    stream's messages with) and the bank ``Decider`` (``state_of``), against the ``eventsourcing`` library
    rebuilding an equivalent aggregate with ``repository.get`` from its in-memory (POPO) store.
    Both read stored bytes: cim's messages are encoded once beforehand, eventsourcing's events
    are saved once beforehand. Medians of 5 runs each, interleaved, after one warm-up.
(b) Fold 1,000,000 generated events through a projection from a generator, reporting the peak
    RSS (``resource.getrusage``) before and after; for contrast, the same fold over a list.
(c) Decoding alone: ``JsonCodec.decode_many`` of the same 10,000 messages (in batches of 1,000,
    as the store reads them) and ``JsonCodec.decode`` of each, in microseconds per event,
    against ``orjson.loads`` of the same bodies (JSON to dicts, nothing typed, no headers: the
    floor any decoder of these bodies starts from) and the fold alone (``state_of`` over the
    payloads). Medians of 5 runs each, interleaved, in the same run as (a).
"""

from __future__ import annotations

import gc
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from pyrsistent import PMap, pmap

from cim import JsonCodec, NewEvent, StreamId
from cim.decider import state_of
from cim.effects import Effect
from cim.examples import bank
from cim.projection import Projection, fold

Message = tuple[dict[str, str], bytes]

EVENTS = 10_000
RUNS = 5
STREAMED = 1_000_000
TARGET_RATIO = 6.0  # issue #18's bar (moonshot: 10x)
BATCH = 1_000  # messages per batch direct get: what one decode_many call of a store read gets


# ---------------------------------------------------------------- the 10,000-event history
def bank_history(count: int) -> list[bank.BankEvent]:
    """A valid account history decided by the bank decider: open, then deposits, withdrawals
    and limit changes in a fixed cycle."""
    cycle: list[bank.BankCommand] = [
        bank.Deposit(250),
        bank.Withdraw(100),
        bank.SetLimit(500),
        bank.Withdraw(300),
        bank.Deposit(200),
        bank.SetLimit(1_000),
    ]
    state, events = bank.account.initial, list[bank.BankEvent]()
    commands: list[bank.BankCommand] = [bank.OpenAccount("acc-1", "Ada")]
    while len(events) < count:
        for command in commands:
            for new in bank.account.decide(command, state).unwrap():
                state = bank.account.evolve(state, new)
                events.append(new)
        commands = cycle
    return events[:count]


def encoded_messages(events: list[bank.BankEvent]) -> tuple[list[dict[str, str]], list[bytes]]:
    """Each event as the (headers, body) a store's read decodes (the position in its headers),
    encoded once with ``JsonCodec``."""
    codec = JsonCodec(bank.bank_types)
    stream, start = StreamId("account", "acc-1"), datetime(2026, 1, 1, tzinfo=UTC)
    headers, bodies = [], []
    for i, payload in enumerate(events):
        envelope = bank.bank_types.envelope(
            NewEvent(payload, correlation_id=f"cmd-{i // 3}"),
            stream=stream,
            version=i + 1,
            position=i + 1,
            event_id=UUID(int=(0x7 << 76) | (0x2 << 62) | i),
            recorded_at=start + timedelta(milliseconds=i),
        )
        h, b = codec.encode(envelope)
        headers.append(h)
        bodies.append(b)
    return headers, bodies


def batches(headers: list[dict[str, str]], bodies: list[bytes]) -> list[list[Message]]:
    """The messages in batches of BATCH, as a store's read receives them from the server."""
    messages = list(zip(headers, bodies, strict=True))
    return [messages[start : start + BATCH] for start in range(0, len(messages), BATCH)]


def cim_rebuild(codec: JsonCodec, read: list[list[Message]]) -> bank.Account:
    """Decode each batch as the store's read does (a failure would raise in ``unwrap``) and
    fold the payloads."""
    decoded = (result for batch in read for result in codec.decode_many(batch))
    return state_of(bank.account, (result.unwrap().payload for result in decoded))


# ---------------------------------------------------------------- the eventsourcing baseline
class BankAccount(Aggregate):
    """The same account as an eventsourcing aggregate (rules in the command methods)."""

    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0
        self.limit = 0

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount

    @event("Withdrawn")
    def withdraw(self, amount: int) -> None:
        self.balance -= amount

    @event("LimitSet")
    def set_limit(self, limit: int) -> None:
        self.limit = limit


def eventsourcing_store(events: list[bank.BankEvent]) -> tuple[Application[UUID], UUID]:
    """An in-memory (POPO) eventsourcing application holding the same history."""
    app: Application[UUID] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    account = BankAccount(owner="Ada")
    for payload in events[1:]:
        match payload:
            case bank.Deposited(amount=amount):
                account.deposit(amount)
            case bank.Withdrawn(amount=amount):
                account.withdraw(amount)
            case bank.LimitSet(limit=limit):
                account.set_limit(limit)
    app.save(account)
    return app, account.id


# ---------------------------------------------------------------- timing
def median_seconds(runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median CPU time of each function over RUNS interleaved runs, after one warm-up each."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(RUNS):
        for name, run in runs.items():
            gc.collect()
            start = time.process_time()
            run()
            times[name].append(time.process_time() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def bench_rebuild() -> tuple[float, float]:
    """Events/s rebuilding the 10,000-event account with cim and with eventsourcing."""
    events = bank_history(EVENTS)
    headers, bodies = encoded_messages(events)
    codec = JsonCodec(bank.bank_types)
    app, account_id = eventsourcing_store(events)

    read = batches(headers, bodies)
    rebuilt = cim_rebuild(codec, read)
    baseline: BankAccount = app.repository.get(account_id)
    expected = state_of(bank.account, events)
    if (rebuilt, baseline.version) != (expected, EVENTS):
        raise SystemExit(f"rebuilds disagree: {rebuilt} / version {baseline.version}")
    if (baseline.balance, baseline.limit) != (expected.balance, expected.limit):
        raise SystemExit(f"eventsourcing state differs: {baseline.balance}, {baseline.limit}")

    medians = median_seconds(
        {
            "cim": lambda: cim_rebuild(codec, read),
            "eventsourcing": lambda: app.repository.get(account_id),
        }
    )
    return EVENTS / medians["cim"], EVENTS / medians["eventsourcing"]


def bench_decode() -> dict[str, float]:
    """Microseconds per event: decoding alone, ``orjson.loads`` of the bodies, folding alone."""
    events = bank_history(EVENTS)
    headers, bodies = encoded_messages(events)
    codec = JsonCodec(bank.bank_types)
    decode, decode_many, loads = codec.decode, codec.decode_many, orjson.loads
    read = batches(headers, bodies)
    medians = median_seconds(
        {
            "decode_many": lambda: [decode_many(batch) for batch in read],
            "decode": lambda: [decode(h, b) for h, b in zip(headers, bodies, strict=True)],
            "orjson.loads": lambda: [loads(b) for b in bodies],
            "fold": lambda: state_of(bank.account, events),
        }
    )
    return {name: seconds / EVENTS * 1e6 for name, seconds in medians.items()}


# ---------------------------------------------------------------- constant-memory fold
def _total_step(state: PMap[str, int], item: bank.BankEvent) -> tuple[PMap[str, int], list[Effect]]:
    """Net flow per account; no effects, so the fold keeps nothing but this small state."""
    if isinstance(item, bank.Deposited):
        return state.set(item.account_id, state.get(item.account_id, 0) + item.amount), []
    if isinstance(item, bank.Withdrawn):
        return state.set(item.account_id, state.get(item.account_id, 0) - item.amount), []
    return state, []


net_flows: Projection[PMap[str, int], bank.BankEvent] = Projection("net flows", pmap(), _total_step)


def generated(count: int) -> Iterator[bank.BankEvent]:
    """*count* deposits and withdrawals spread over 100 accounts, made one at a time."""
    for i in range(count):
        account = f"acc-{i % 100}"
        yield bank.Deposited(account, 3) if i % 3 else bank.Withdrawn(account, 2)


def peak_rss_mib() -> float:
    """The process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_streaming_fold() -> list[tuple[str, float, float, float, float]]:
    """Fold STREAMED events from a generator, then from a list: seconds and peak RSS around each."""
    rows = []
    for label, source in (
        ("generator", lambda: generated(STREAMED)),
        ("list (materialised, for contrast)", lambda: list(generated(STREAMED))),
    ):
        gc.collect()
        before = peak_rss_mib()
        start = time.perf_counter()
        result = fold(net_flows, source())
        seconds = time.perf_counter() - start
        after = peak_rss_mib()
        expected = sum(3 if i % 3 else -2 for i in range(STREAMED))
        if sum(result.state.values()) != expected or len(result.effects) != 0:
            raise SystemExit("the streaming fold went wrong")
        rows.append((label, seconds, STREAMED / seconds, before, after))
    return rows


def main() -> int:
    """Run both benchmarks and print markdown tables."""
    load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {RUNS} runs, medians; load average {load}\n")
    streaming = bench_streaming_fold()  # first: peak RSS only ever grows
    cim_rate, es_rate = bench_rebuild()
    ratio = cim_rate / es_rate
    print(f"### (a) rebuild one aggregate from {EVENTS:,} stored events\n")
    print("| | events/s | ratio |")
    print("|---|---|---|")
    print(f"| cim: `JsonCodec.decode_many` + `state_of` | {cim_rate:,.0f} | {ratio:.2f} |")
    print(f"| eventsourcing 9 (POPO): `repository.get` | {es_rate:,.0f} | 1.00 |")
    print(
        f"\ntarget: cim >= {TARGET_RATIO}x eventsourcing -> {'met' if ratio >= TARGET_RATIO else 'MISSED'}\n"
    )
    micros = bench_decode()
    print(f"### (c) decoding alone, {EVENTS:,} stored events\n")
    print("| | us/event | vs `orjson.loads` |")
    print("|---|---|---|")
    print(
        f"| `JsonCodec.decode_many`, batches of {BATCH:,} (what a store read runs) | "
        f"{micros['decode_many']:.2f} | {micros['decode_many'] / micros['orjson.loads']:.1f}x |"
    )
    print(
        f"| `JsonCodec.decode` of each (headers + body to a typed `EventEnvelope`) | "
        f"{micros['decode']:.2f} | {micros['decode'] / micros['orjson.loads']:.1f}x |"
    )
    print(
        f"| `orjson.loads` of the body alone (untyped dicts) | {micros['orjson.loads']:.2f} | 1.0x |"
    )
    print(f"| fold alone (`state_of` over the payloads) | {micros['fold']:.2f} | |\n")
    print(f"### (b) fold {STREAMED:,} events through a projection\n")
    print("| source | seconds | events/s | peak RSS before | peak RSS after |")
    print("|---|---|---|---|---|")
    for label, seconds, rate, before, after in streaming:
        print(f"| {label} | {seconds:.2f} | {rate:,.0f} | {before:.0f} MiB | {after:.0f} MiB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
