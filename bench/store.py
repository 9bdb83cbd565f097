"""Event store benchmarks: cim's JetStream store against raw nats-py and the eventsourcing library.

Run: ``.venv/bin/python bench/store.py`` (starts its own nats-server, file storage, R1).

(a) sequential single-event appends to 1,000 streams vs raw ``js.publish`` with the
    expected-last-subject-sequence header;
(b) 1,000 concurrent appends (from ``asyncio.gather``, and from an anyio task group) vs raw
    ``publish_async``;
(c) the command cycle over 1,000 bank accounts (open, then deposit: 2,000 commands, each a
    separate call) through ``CommandHandler`` with the bank decider, vs the ``eventsourcing``
    library (SQLite file and in-memory POPO) doing the same commands; plus the bare cycle
    (read, decide, append with the expected version) without ``CommandHandler``;
(d) replaying 100,000 events decoded into envelopes vs a raw ordered consumer (no decoding);
(e) loading one 100-event stream out of the 100,000-event stream vs a raw batch direct get;
(f) the atomicity trade-off: a 3-event atomic batch vs one message carrying the 3 events.

Each figure is the median of 5 runs; ratios are cim / baseline (higher is better for rates,
lower is better for latencies). Every timed phase starts from a collected heap, and (a)/(b)
alternate their order from run to run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import anyio
import nats
import orjson
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import api
from uuid_utils.compat import uuid7

from cim import EventTypes, Exactly, JsonCodec, NewEvent, NoStream, StreamId
from cim.decider import state_of
from cim.examples.bank import Deposit, Deposited, OpenAccount, account, bank_types
from cim.examples.bank import decide as bank_decide
from interpreters.runtime.commands import CommandHandler
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore
from interpreters.stores.memory import InMemoryEventStore
from interpreters.stores.protocol import EventStore

RUNS = 5
STREAMS = 1000
REPLAY = 100_000
LOADS_PER_RUN = 20
EXPECTED = "Nats-Expected-Last-Subject-Sequence"

Row = tuple[str, str, str, str, str]
rows: list[Row] = []


def median_of(samples: list[float]) -> float:
    return statistics.median(samples)


def add_rate(name: str, cim: list[float], base: list[float], target: str) -> None:
    ours, theirs = median_of(cim), median_of(base)
    rows.append((name, f"{ours:,.0f}/s", f"{theirs:,.0f}/s", f"{ours / theirs:.2f}", target))


def add_latency(name: str, cim: list[float], base: list[float], target: str) -> None:
    ours, theirs = median_of(cim) * 1000, median_of(base) * 1000
    rows.append((name, f"{ours:.2f} ms", f"{theirs:.2f} ms", f"{ours / theirs:.2f}", target))


async def timed(action: Callable[[], Awaitable[Any]]) -> float:
    """Seconds *action* takes, starting from a collected heap (no garbage left by the last one)."""
    gc.collect()
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


def sample_message(
    codec: JsonCodec, stream: StreamId, version: int
) -> tuple[dict[str, str], bytes]:
    envelope = bank_types.envelope(
        NewEvent(Deposited(stream.entity_id, 100)),
        stream=stream,
        version=version,
        position=0,
        event_id=uuid7(),
        recorded_at=datetime.now(UTC),
    )
    return codec.encode(envelope)


# ---------------------------------------------------------------- (a) and (b)


async def bench_appends(store: JetStreamEventStore, nc: Client) -> None:
    js = nc.jetstream()
    codec = JsonCodec(bank_types)

    def raw_message(i: int) -> tuple[dict[str, str], bytes]:
        # The identical message cim sends (codec headers, message id, expectation), pre-encoded.
        headers, body = sample_message(codec, StreamId("acct", str(i)), 1)
        return {**headers, "Nats-Msg-Id": str(uuid7()), EXPECTED: "0"}, body

    seq_cim: list[float] = []
    seq_raw: list[float] = []
    con_cim: list[float] = []
    con_raw: list[float] = []
    con_group: list[float] = []
    prefix = store.subject_prefix
    for run in range(RUNS):

        async def cim_sequential(run: int = run) -> None:
            for i in range(STREAMS):
                stream = StreamId(f"seq{run}", str(i))
                event = NewEvent(Deposited(str(i), 100))
                (await store.append(stream, [event], expected=NoStream())).unwrap()

        seq_messages = [raw_message(i) for i in range(STREAMS)]
        con_messages = [raw_message(i) for i in range(STREAMS)]

        async def raw_sequential(run: int = run, messages: Any = seq_messages) -> None:
            for i, (headers, body) in enumerate(messages):
                await js.publish(f"{prefix}.rawseq{run}.{i}", body, headers=headers)

        async def one(stream: StreamId, i: int) -> None:
            event = NewEvent(Deposited(str(i), 100))
            (await store.append(stream, [event], expected=NoStream())).unwrap()

        async def cim_concurrent(run: int = run) -> None:
            # All appends in flight at once; asyncio.gather is the cheapest way to run many
            # coroutines (an anyio task costs ~20 us more per append: see the next row).
            await asyncio.gather(*(one(StreamId(f"con{run}", str(i)), i) for i in range(STREAMS)))

        async def cim_task_group(run: int = run) -> None:
            async with anyio.create_task_group() as group:
                for i in range(STREAMS):
                    group.start_soon(one, StreamId(f"tg{run}", str(i)), i)

        async def raw_concurrent(run: int = run, messages: Any = con_messages) -> None:
            acks = [
                await js.publish_async(f"{prefix}.rawcon{run}.{i}", body, headers=headers)
                for i, (headers, body) in enumerate(messages)
            ]
            await asyncio.gather(*acks)

        phases = [
            (seq_raw, raw_sequential),
            (seq_cim, cim_sequential),
            (con_raw, raw_concurrent),
            (con_cim, cim_concurrent),
            (con_group, cim_task_group),
        ]
        if run % 2:  # alternate the order: neither side always runs right after the other
            phases.reverse()
        for samples, phase in phases:
            samples.append(STREAMS / await timed(phase))
    add_rate("(a) sequential appends, 1 event, 1,000 streams", seq_cim, seq_raw, ">= 0.8")
    add_rate("(b) concurrent appends, 1,000 streams", con_cim, con_raw, ">= 0.8")
    add_rate("(b) same, one anyio task per append", con_group, con_raw, "info")


# ---------------------------------------------------------------- (c)


class BankAccount(Aggregate):
    """The eventsourcing library's bank account."""

    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount


class Bank(Application[UUID]):
    """The eventsourcing library's application."""

    def open(self, owner: str) -> UUID:
        account_ = BankAccount(owner)
        self.save(account_)
        return account_.id

    def deposit(self, account_id: UUID, amount: int) -> None:
        account_: BankAccount = self.repository.get(account_id)
        account_.deposit(amount)
        self.save(account_)


def eventsourcing_cycle(env: dict[str, str], accounts: int) -> float:
    app = Bank(env=env)
    start = time.perf_counter()
    for i in range(accounts):
        account_id = app.open(f"owner-{i}")
        app.deposit(account_id, 100)
    elapsed = time.perf_counter() - start
    app.close()
    return 2 * accounts / elapsed


async def handle(store: EventStore, stream: StreamId, command: Any) -> None:
    loaded = (await store.read(stream)).unwrap()
    state = state_of(account, [e.payload for e in loaded])
    events = bank_decide(command, state).unwrap()
    version = loaded[-1].version if loaded else 0
    new = [NewEvent(e) for e in events]
    (await store.append(stream, new, expected=Exactly(version))).unwrap()


async def bare_cycle(store: EventStore, category: str, accounts: int) -> float:
    start = time.perf_counter()
    for i in range(accounts):
        stream = StreamId(category, str(i))
        await handle(store, stream, OpenAccount(str(i), f"owner-{i}"))
        await handle(store, stream, Deposit(100))
    return 2 * accounts / (time.perf_counter() - start)


async def handler_cycle(store: EventStore, category: str, accounts: int) -> float:
    """The commands as an application runs them: one ``CommandHandler.handle`` call each."""
    handler = CommandHandler(account, store)  # a fresh handler: an empty state cache
    start = time.perf_counter()
    for i in range(accounts):
        stream = StreamId(category, str(i))
        (await handler.handle(stream, OpenAccount(str(i), f"owner-{i}"))).unwrap()
        (await handler.handle(stream, Deposit(100))).unwrap()
    return 2 * accounts / (time.perf_counter() - start)


async def bench_command_cycle(store: JetStreamEventStore) -> None:
    accounts = STREAMS
    handled_js: list[float] = []
    handled_mem: list[float] = []
    bare_js: list[float] = []
    sqlite: list[float] = []
    popo: list[float] = []
    for run in range(RUNS):
        handled_js.append(await handler_cycle(store, f"bank{run}", accounts))
        bare_js.append(await bare_cycle(store, f"bare{run}", accounts))
        memory = InMemoryEventStore(types=bank_types)
        handled_mem.append(await handler_cycle(memory, f"bank{run}", accounts))
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": os.path.join(tmp, "bank.sqlite"),
            }
            sqlite.append(eventsourcing_cycle(env, accounts))
        popo.append(eventsourcing_cycle({}, accounts))
    add_rate(
        "(c) CommandHandler on JetStream vs eventsourcing SQLite file", handled_js, sqlite, "> 1"
    )
    add_rate("(c) CommandHandler on JetStream vs eventsourcing POPO", handled_js, popo, "info")
    add_rate(
        "(c) bare read/decide/append on JetStream vs eventsourcing SQLite", bare_js, sqlite, "info"
    )
    add_rate(
        "(c) CommandHandler on InMemoryEventStore vs eventsourcing POPO", handled_mem, popo, "info"
    )


# ---------------------------------------------------------------- (d) and (e)


async def fill_replay_stream(nc: Client, stream_name: str, prefix: str) -> None:
    js = nc.jetstream()
    codec = JsonCodec(bank_types)
    pending = []
    for k in range(REPLAY):
        stream = StreamId("acct", str(k % STREAMS))
        headers, body = sample_message(codec, stream, k // STREAMS + 1)
        pending.append(
            await js.publish_async(f"{prefix}.acct.{k % STREAMS}", body, headers=headers)
        )
        if len(pending) >= 2000:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)


async def cim_replay(store: JetStreamEventStore) -> float:
    start = time.perf_counter()
    count = 0
    async with contextlib.aclosing(store.read_all()) as results:
        async for result in results:
            result.unwrap()
            count += 1
    assert count == REPLAY, count
    return count / (time.perf_counter() - start)


async def raw_replay(nc: Client, stream_name: str, prefix: str) -> float:
    js = nc.jetstream()
    done = asyncio.Event()
    count = 0

    async def on_message(msg: Msg) -> None:
        nonlocal count
        count += 1
        if msg.metadata.num_pending == 0:
            done.set()

    start = time.perf_counter()
    sub = await js.subscribe(
        f"{prefix}.>", stream=stream_name, cb=on_message, ordered_consumer=True
    )
    await done.wait()
    elapsed = time.perf_counter() - start
    await sub.unsubscribe()
    assert count == REPLAY, count
    return count / elapsed


async def raw_direct_get(nc: Client, stream_name: str, subject: str) -> int:
    inbox = nc.new_inbox()
    done = asyncio.Event()
    got: list[Msg] = []
    state = {"pending": 0, "last": 0}

    async def on_message(msg: Msg) -> None:
        status = (msg.headers or {}).get("Status")
        if status is None:
            got.append(msg)
            return
        if status == "204":
            state["pending"] = int(msg.headers["Nats-Num-Pending"])  # type: ignore[index]
            state["last"] = int(msg.headers["Nats-Last-Sequence"])  # type: ignore[index]
        else:
            state["pending"] = 0
        done.set()

    sub = await nc.subscribe(inbox, cb=on_message)
    seq = 1
    while True:
        done.clear()
        ask = {"seq": seq, "batch": 1000, "next_by_subj": subject}
        await nc.publish(f"$JS.API.DIRECT.GET.{stream_name}", orjson.dumps(ask), reply=inbox)
        await done.wait()
        if state["pending"] == 0:
            break
        seq = state["last"] + 1
    await sub.unsubscribe()
    return len(got)


async def bench_replay_and_load(nc: Client, types: EventTypes) -> None:
    stream_name, prefix = "BENCH_REPLAY", "replay"
    async with await JetStreamEventStore.from_client(
        nc, types=types, stream=stream_name, subject_prefix=prefix
    ) as store:
        await fill_replay_stream(nc, stream_name, prefix)
        cim_rates: list[float] = []
        raw_rates: list[float] = []
        cim_loads: list[float] = []
        raw_loads: list[float] = []
        hot = StreamId("acct", "500")
        for _ in range(RUNS):
            raw_rates.append(await raw_replay(nc, stream_name, prefix))
            cim_rates.append(await cim_replay(store))
            for _ in range(LOADS_PER_RUN):
                start = time.perf_counter()
                assert await raw_direct_get(nc, stream_name, store.subject(hot)) == 100
                raw_loads.append(time.perf_counter() - start)
                start = time.perf_counter()
                assert len((await store.read(hot)).unwrap()) == 100
                cim_loads.append(time.perf_counter() - start)
        add_rate(
            "(d) replay 100,000 events (decoded vs raw undecoded)", cim_rates, raw_rates, ">= 0.7"
        )
        add_latency("(e) load 100 of 100,000 events, p50", cim_loads, raw_loads, "info")
        p90 = statistics.quantiles(cim_loads, n=10)[-1], statistics.quantiles(raw_loads, n=10)[-1]
        rows.append(
            (
                "(e) load 100 of 100,000 events, p90",
                f"{p90[0] * 1000:.2f} ms",
                f"{p90[1] * 1000:.2f} ms",
                f"{p90[0] / p90[1]:.2f}",
                "info",
            )
        )


# ---------------------------------------------------------------- (f)


async def bench_atomicity(store: JetStreamEventStore, nc: Client) -> None:
    js = nc.jetstream()
    codec = JsonCodec(bank_types)
    appends = 200
    batch_latency: list[float] = []
    single_latency: list[float] = []
    whole_latency: list[float] = []
    prefix = store.subject_prefix
    for run in range(RUNS):
        bodies = [sample_message(codec, StreamId("acct", "x"), v)[1] for v in (1, 2, 3)]
        whole = orjson.dumps([orjson.loads(b) for b in bodies])

        async def batches(run: int = run) -> None:
            for i in range(appends):
                events = [NewEvent(Deposited(str(i), a)) for a in (1, 2, 3)]
                stream = StreamId(f"atomic{run}", str(i))
                (await store.append(stream, events, expected=NoStream())).unwrap()

        async def singles(run: int = run) -> None:
            for i in range(appends):
                stream = StreamId(f"single{run}", str(i))
                event = NewEvent(Deposited(str(i), 1))
                (await store.append(stream, [event], expected=NoStream())).unwrap()

        async def one_message(run: int = run, whole: bytes = whole) -> None:
            for i in range(appends):
                await js.publish(f"{prefix}.whole{run}.{i}", whole, headers={EXPECTED: "0"})

        batch_latency.append(await timed(batches) / appends)
        single_latency.append(await timed(singles) / appends)
        whole_latency.append(await timed(one_message) / appends)
    add_latency(
        "(f) 3-event append: atomic batch vs 1 message with 3 events",
        batch_latency,
        whole_latency,
        "info",
    )
    add_latency(
        "(f) 1-event append (plain publish) vs 1 message with 3 events",
        single_latency,
        whole_latency,
        "info",
    )


async def main() -> None:
    started = time.perf_counter()
    async with NatsServer(name="bench-store") as server:
        nc = await nats.connect(server.url)
        try:
            async with await JetStreamEventStore.from_client(
                nc, types=bank_types, stream="BENCH", subject_prefix="bench"
            ) as store:
                info = await nc.jetstream().stream_info("BENCH")
                assert info.config.storage == api.StorageType.FILE
                await bench_appends(store, nc)
                await bench_atomicity(store, nc)
                await bench_command_cycle(store)
            await bench_replay_and_load(nc, bank_types)
        finally:
            await nc.close()
    print("| Measurement | cim | baseline | ratio | target |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\n(total {time.perf_counter() - started:.0f} s, medians of {RUNS} runs, file storage)")


if __name__ == "__main__":
    anyio.run(main)
