"""Replay and rebuild benchmarks (issue #18): reading 100,000 stored events back, decoded.

Run: ``.venv/bin/python bench/replay.py`` (starts its own nats-server, file storage, R1).

(a) ``store.read_all()`` over 100,000 bank events (1,000 accounts), every event decoded into an
    ``EventEnvelope``, vs a raw nats-py ordered consumer with a callback that only counts
    (nothing decoded), on a connection of its own (nats-py's own header parser): the bar is
    1.2x, the moonshot 2x. Also the read path alone (the bursts,
    headers parsed, no decoding), to separate it from the codec's share.
(b) the same read vs the ``eventsourcing`` library reading the same 100,000 events (saved by
    its ``Application`` into SQLite, a file) back from its notification log, in pages of the
    size cim's bursts have (``recorder.select_notifications``), each notification decoded into
    a domain event by the application's mapper: the bar is "ahead", the moonshot 2x.
(c) the limit on this machine: the same read from a pull consumer over a plain socket (no
    client library, pulls of 2,048 with ``no_wait``, nothing parsed but a count of the
    messages), as events/s; and the same with batch direct gets (what cim's first burst uses).
(d) rebuilding a projection of the 100,000 events (each account's balance, one row per account
    in a JetStream KV read model through ``NatsExecutor``) with ``ProjectionRunner.rebuild()``,
    in batches of 500 (the default), events/s (median of 3: each takes a minute); and, on a
    10,000-event stream of the same shape, batched vs one event at a time (``catch_up_batch=1``,
    the runner as it was before batching).

Medians of 5 runs; (a) alternates which side runs first. Every timed phase starts from a
collected heap.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from urllib.parse import urlparse
from uuid import UUID

import anyio
import nats
import orjson
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from nats.aio.client import Client
from nats.aio.msg import Msg
from pyrsistent import PMap, pmap
from uuid_utils.compat import uuid7

from cim import JsonCodec, NewEvent, StreamId
from cim.effects import DatabaseUpdate, Effect
from cim.examples.bank import Deposited, bank_types
from cim.projection import Projection
from interpreters.runtime.checkpoints import KvCheckpoints
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.runner import ProjectionRunner
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore
from interpreters.stores.jetstream._replay import Replay

RUNS = 5
EVENTS = 100_000
ACCOUNTS = 1000
SMALL = 10_000
LONG_RUNS = 3
BURST = 2048

Row = tuple[str, str, str, str, str]
rows: list[Row] = []


def add_rate(name: str, cim: list[float], base: list[float], target: str) -> None:
    ours, theirs = statistics.median(cim), statistics.median(base)
    rows.append((name, f"{ours:,.0f}/s", f"{theirs:,.0f}/s", f"{ours / theirs:.2f}", target))


async def timed(action: Callable[[], Awaitable[int]]) -> float:
    """Events per second *action* reads (it answers how many), from a collected heap."""
    gc.collect()
    start = time.perf_counter()
    count = await action()
    return count / (time.perf_counter() - start)


async def fill(nc: Client, stream: str, prefix: str, events: int) -> None:
    """*events* deposits round-robin over ACCOUNTS accounts, encoded as the store encodes them."""
    js = nc.jetstream()
    codec = JsonCodec(bank_types)
    pending = []
    for k in range(events):
        account = StreamId("acct", str(k % ACCOUNTS))
        envelope = bank_types.envelope(
            NewEvent(Deposited(account.entity_id, 1 + k % 7)),
            stream=account,
            version=k // ACCOUNTS + 1,
            position=0,
            event_id=uuid7(),
            recorded_at=datetime.now(UTC),
        )
        headers, body = codec.encode(envelope)
        subject = f"{prefix}.acct.{account.entity_id}"
        pending.append(await js.publish_async(subject, body, headers=headers))
        if len(pending) >= 2000:
            await asyncio.gather(*pending)
            pending = []
    await asyncio.gather(*pending)


# ---------------------------------------------------------------- (a)


async def cim_replay(store: JetStreamEventStore) -> int:
    count = 0
    async with contextlib.aclosing(store.read_all()) as results:
        async for result in results:
            result.unwrap()
            count += 1
    assert count == EVENTS, count
    return count


async def raw_ordered_consumer(nc: Client, stream: str, prefix: str) -> int:
    done = asyncio.Event()
    count = 0

    async def on_message(msg: Msg) -> None:
        nonlocal count
        count += 1
        if msg.metadata.num_pending == 0:
            done.set()

    sub = await nc.jetstream().subscribe(
        f"{prefix}.>", stream=stream, cb=on_message, ordered_consumer=True
    )
    await done.wait()
    await sub.unsubscribe()
    assert count == EVENTS, count
    return count


async def cim_read_path(store: JetStreamEventStore) -> int:
    """The read path alone: bursts on the tapped inbox, headers parsed, chain checked, nothing
    decoded (what ``read_all`` does before it calls the codec)."""
    replay = Replay(store.nc, store.stream_name, 5.0)
    await replay.open()
    count = 0
    try:
        async with contextlib.aclosing(replay.bursts("replay.>", 1, follow=False)) as bursts:
            async for stored in bursts:
                count += len(stored)
    finally:
        await replay.close()
    assert count == EVENTS, count
    return count


# ---------------------------------------------------------------- (b)


class BankAccount(Aggregate):
    """The eventsourcing library's bank account."""

    @event("Opened")
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.balance = 0

    @event("Deposited")
    def deposit(self, amount: int) -> None:
        self.balance += amount


def eventsourcing_app(path: str) -> Application[UUID]:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path}
    return Application[UUID](env=env)


def eventsourcing_fill(path: str) -> None:
    """EVENTS events in all: each account opened, then deposits, saved account by account."""
    app = eventsourcing_app(path)
    per_account = EVENTS // ACCOUNTS
    for i in range(ACCOUNTS):
        account = BankAccount(f"owner-{i}")
        for k in range(per_account - 1):
            account.deposit(1 + k % 7)
        app.save(account)
    app.close()


def eventsourcing_read(path: str) -> float:
    """Events/s reading the notification log back, each notification decoded."""
    app = eventsourcing_app(path)
    recorder, to_domain_event = app.recorder, app.mapper.to_domain_event
    gc.collect()
    start, count, position = time.perf_counter(), 0, 1
    while True:
        page = recorder.select_notifications(position, BURST)
        for notification in page:
            to_domain_event(notification)
        count += len(page)
        if len(page) < BURST:
            break
        position = page[-1].id + 1
    elapsed = time.perf_counter() - start
    app.close()
    assert count == EVENTS, count
    return count / elapsed


# ---------------------------------------------------------------- (c)

_END = re.compile(rb"NATS/1.0 (204|404)[^\r]*\r\n(.*?)\r\n\r\n", re.S)
_FEWER = re.compile(rb"HMSG _replay\.bench\.\d+ 1 \d+ \d+\r\nNATS/1.0 40[48]")


async def _connected(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    address = urlparse(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    await reader.readline()  # INFO
    writer.write(b'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\n')
    writer.write(b"SUB _replay.bench.* 1\r\n")
    return reader, writer


async def _closed(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


async def socket_bursts(url: str, stream: str, subject: str) -> int:
    """Read the whole stream in batch direct gets over a plain socket; only the end markers are
    parsed (the first burst of cim's read)."""
    reader, writer = await _connected(url)
    api = f"$JS.API.DIRECT.GET.{stream} _replay.bench.1".encode()
    sequence, received = 1, 0
    while True:
        body = orjson.dumps({"seq": sequence, "batch": BURST, "next_by_subj": subject})
        writer.write(b"PUB %s %d\r\n%s\r\n" % (api, len(body), body))
        buffer = bytearray()
        while True:
            chunk = await reader.read(1 << 20)
            buffer += chunk
            end = _END.search(buffer, max(0, len(buffer) - len(chunk) - 128))
            if end is not None:
                break
        received += len(buffer)
        fields = dict(line.split(b": ", 1) for line in end.group(2).split(b"\r\n") if b": " in line)
        if end.group(1) == b"404" or int(fields.get(b"Nats-Num-Pending", b"0")) == 0:
            break
        sequence = int(fields[b"Nats-Last-Sequence"]) + 1
    await _closed(writer)
    assert received > EVENTS * 100, received
    return EVENTS


async def pull_consumer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stream: str, subject: str
) -> tuple[str, int]:
    """Create an ephemeral pull consumer of *subject* over a plain socket (from
    :func:`_connected`), as cim's replay does (no acks, memory storage): its name and how many
    messages it has pending."""
    config = {"deliver_policy": "all", "ack_policy": "none", "filter_subject": subject}
    create = orjson.dumps({"stream_name": stream, "config": config | {"mem_storage": True}})
    writer.write(
        b"PUB $JS.API.CONSUMER.CREATE.%s _replay.bench.0 %d\r\n%s\r\n"
        % (stream.encode(), len(create), create)
    )
    line = await reader.readuntil(b"\r\n")  # MSG _replay.bench.0 1 <size>
    answer = orjson.loads((await reader.readexactly(int(line.split()[-1]) + 2))[:-2])
    return answer["name"], answer["num_pending"]


async def socket_pulls(url: str, stream: str, subject: str) -> int:
    """Read the whole stream from a pull consumer over a plain socket, in pulls of BURST with
    ``no_wait`` (the rest of cim's read); only the ack subjects are counted."""
    reader, writer = await _connected(url)
    name, left = await pull_consumer(reader, writer, stream, subject)
    received, asked = 0, 0
    while left > 0:
        want = min(BURST, left)
        asked += 1
        pull = orjson.dumps({"batch": want, "no_wait": True})
        writer.write(
            b"PUB $JS.API.CONSUMER.MSG.NEXT.%s.%s _replay.bench.%d %d\r\n%s\r\n"
            % (stream.encode(), name.encode(), asked, len(pull), pull)
        )
        buffer = bytearray()
        while buffer.count(b" $JS.ACK.") < want and not _FEWER.search(buffer):
            buffer += await reader.read(1 << 20)
        got = buffer.count(b" $JS.ACK.")
        received += got
        left -= got
        if got < want:
            break
    await _closed(writer)
    assert received == EVENTS, received
    return EVENTS


# ---------------------------------------------------------------- (d)


def balance(state: PMap[str, int], deposit: Deposited) -> tuple[PMap[str, int], Sequence[Effect]]:
    """Each account's balance, one read-model row per account."""
    total = state.get(deposit.account_id, 0) + deposit.amount
    row = DatabaseUpdate("balances", f"acct-{deposit.account_id}", {"balance": total})
    return state.set(deposit.account_id, total), (row,)


balances: Projection[PMap[str, int], Deposited] = Projection("balances", pmap(), balance)


async def rebuild(store: JetStreamEventStore, batch: int, expected: int) -> int:
    js = store.nc.jetstream()
    executor = NatsExecutor(store.nc, js, store=store)
    checkpoints = await KvCheckpoints.open(js, f"bench_checkpoints_{store.stream_name}")
    runner = ProjectionRunner(
        balances, store, executor, checkpoints, collections=["balances"], catch_up_batch=batch
    )
    assert (await runner.rebuild()).unwrap() == expected
    return expected


# ---------------------------------------------------------------- main


async def main() -> None:
    started = time.perf_counter()
    async with NatsServer(name="bench-replay") as server:
        nc = await nats.connect(server.url)
        # the baseline is nats-py as it comes: its own connection, which no cim store has
        # switched to the quicker header parser (``use_quick_header_parsing``)
        raw_nc = await nats.connect(server.url)
        try:
            async with (
                await JetStreamEventStore.from_client(
                    nc, types=bank_types, stream="REPLAY", subject_prefix="replay"
                ) as store,
                await JetStreamEventStore.from_client(
                    nc, types=bank_types, stream="SMALL", subject_prefix="small"
                ) as small,
            ):
                await fill(nc, "REPLAY", "replay", EVENTS)
                await fill(nc, "SMALL", "small", SMALL)
                cim: list[float] = []
                read_path: list[float] = []
                raw: list[float] = []
                sockets: list[float] = []
                pulls: list[float] = []
                for run in range(RUNS):
                    phases: list[tuple[list[float], Callable[[], Awaitable[int]]]] = [
                        (raw, lambda: raw_ordered_consumer(raw_nc, "REPLAY", "replay")),
                        (cim, lambda: cim_replay(store)),
                        (read_path, lambda: cim_read_path(store)),
                    ]
                    if run % 2:
                        phases.reverse()
                    for samples, phase in phases:
                        samples.append(await timed(phase))
                    sockets.append(
                        await timed(lambda: socket_bursts(server.url, "REPLAY", "replay.>"))
                    )
                    pulls.append(
                        await timed(lambda: socket_pulls(server.url, "REPLAY", "replay.>"))
                    )
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, "replay.sqlite")
                    eventsourcing_fill(path)
                    sqlite = [eventsourcing_read(path) for _ in range(RUNS)]
                batched: list[float] = []
                small_batched: list[float] = []
                small_single: list[float] = []
                for run in range(RUNS):
                    if run < LONG_RUNS:
                        batched.append(await timed(lambda: rebuild(store, 500, EVENTS)))
                    small_batched.append(await timed(lambda: rebuild(small, 500, SMALL)))
                    small_single.append(await timed(lambda: rebuild(small, 1, SMALL)))
        finally:
            await raw_nc.close()
            await nc.close()
    add_rate(
        "(a) replay 100,000 events decoded vs raw ordered consumer undecoded", cim, raw, ">= 1.2"
    )
    add_rate("(a) same, read path only (headers parsed, not decoded)", read_path, raw, "info")
    add_rate(
        "(b) replay decoded vs eventsourcing SQLite notification log decoded", cim, sqlite, "> 1"
    )
    add_rate(
        "(c) replay decoded vs plain-socket pulls from a consumer, nothing parsed (the limit)",
        cim,
        pulls,
        "info",
    )
    add_rate(
        "(c) same vs plain-socket batch direct gets, nothing parsed",
        cim,
        sockets,
        "info",
    )
    add_rate(
        "(d) rebuild 10,000 events into KV, batches of 500 vs event by event",
        small_batched,
        small_single,
        "info",
    )
    rows.append(
        (
            f"(d) rebuild 100,000 events into KV, batches of 500 (median of {LONG_RUNS})",
            f"{statistics.median(batched):,.0f}/s",
            "",
            "",
            "info",
        )
    )
    print("| Measurement | cim | baseline | ratio | target |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    load = os.getloadavg()
    print(
        f"\n(total {time.perf_counter() - started:.0f} s, medians of {RUNS} runs, file storage, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})"
    )


if __name__ == "__main__":
    anyio.run(main)
