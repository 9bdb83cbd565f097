"""The write side under contention on a real server: one writer per stream, chained and
grouped appends, idempotent commands, several service instances (issue 14)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import nats
import orjson
import pytest
from attrs import frozen
from returns.result import Result, Success

from cim import EventTypes, StreamId
from cim.decider import Decider, state_of
from cim.examples.bank import Deposit, OpenAccount, account, bank_types
from interpreters.runtime.command_client import request_command
from interpreters.runtime.commands import COMMAND_ID, CommandHandler, Handled, Overloaded
from interpreters.runtime.endpoints import CommandService
from interpreters.stores.jetstream import JetStreamEventStore
from tests.integration._stock import STOCK_COMMANDS, STOCK_TYPES, stock

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def unique(prefix: str) -> str:
    """A stream/subject-safe name no other test uses."""
    return f"{prefix}{uuid4().hex[:10]}"


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Any]:
    """A connection to the test server, closed afterwards."""
    client = await nats.connect(nats_url)
    try:
        yield client
    finally:
        await client.close()


async def bank_store(nc: Any, tag: str) -> JetStreamEventStore:
    """A JetStream store of bank events on its own JetStream stream."""
    return await JetStreamEventStore.from_client(
        nc, types=bank_types, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )


def check_replies_match_the_store(handled: list[Handled[Any]], stored: tuple[Any, ...]) -> None:
    """Every reply names its events where the store has them (version and position)."""
    by_id = {e.event_id: e for e in stored}
    for done in handled:
        last = by_id[done.events[-1].event_id]
        assert (done.version, done.position) == (last.version, last.position)
        for event in done.events:
            assert by_id[event.event_id].payload == event.payload


async def test_sixteen_tasks_on_one_stream_through_one_handler_never_conflict(nc: Any) -> None:
    """16 tasks x 50 deposits through one handler: no ConcurrencyExhausted, exact version and state."""
    store = await bank_store(nc, unique("hot"))
    try:
        handler: CommandHandler[Any, Any, Any] = CommandHandler(account, store)
        stream = StreamId("account", "a-1")
        (await handler.handle(stream, OpenAccount("a-1", "Ada"))).unwrap()
        results: list[Result[Handled[Any], Any]] = []

        async def caller() -> None:
            for _ in range(50):
                results.append(await handler.handle(stream, Deposit(1)))

        async with anyio.create_task_group() as tg:
            for _ in range(16):
                tg.start_soon(caller)
        assert [r for r in results if not isinstance(r, Success)] == []
        stored = (await store.read(stream)).unwrap()
        assert [e.version for e in stored] == list(range(1, 802))
        state = state_of(account, (e.payload for e in stored))
        assert state.balance == 800
        assert (await handler.load(stream)).unwrap() == (801, state)
        assert sorted(r.unwrap().version for r in results) == list(range(2, 802))
        check_replies_match_the_store([r.unwrap() for r in results], stored)
        assert handler.busy_streams == 0  # idle queues are gone
    finally:
        await store.close()


@frozen
class Pair:
    """Deposit twice (a command of two events: it must stay one atomic append)."""

    amount: int


@frozen
class Paid:
    """One half of a pair."""

    amount: int


pairs: Decider[Pair, Paid, int] = Decider(
    0, lambda c, total: Success((Paid(c.amount), Paid(c.amount))), lambda t, e: t + e.amount
)


async def test_a_group_of_multi_event_commands_is_one_atomic_append_with_exact_positions(
    nc: Any,
) -> None:
    """Commands of two events are grouped atomically; each reply's version and position are the
    stored ones, although another connection appends to other streams of the same JetStream
    stream meanwhile."""
    tag = unique("pairs")
    types = EventTypes().register(Paid)
    store = await JetStreamEventStore.from_client(
        nc, types=types, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )
    other_nc = await nats.connect(nc.connected_url.geturl())
    other = await JetStreamEventStore.from_client(
        other_nc, types=types, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )
    try:
        handler: CommandHandler[Any, Any, Any] = CommandHandler(pairs, store)
        noise: CommandHandler[Any, Any, Any] = CommandHandler(pairs, other)
        stream = StreamId("pair", "p-1")
        results: list[Result[Handled[Any], Any]] = []

        async def caller() -> None:
            for _ in range(10):
                results.append(await handler.handle(stream, Pair(1)))

        async def elsewhere(n: int) -> None:
            for i in range(20):
                (await noise.handle(StreamId("pair", f"n-{n}-{i}"), Pair(1))).unwrap()

        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(caller)
                tg.start_soon(elsewhere, n)
        assert all(isinstance(r, Success) for r in results)
        stored = (await store.read(stream)).unwrap()
        assert [e.version for e in stored] == list(range(1, 161))
        for first, second in zip(stored[::2], stored[1::2], strict=True):  # never split
            assert first.correlation_id == second.correlation_id
            assert second.position == first.position + 1
        check_replies_match_the_store([r.unwrap() for r in results], stored)
    finally:
        await store.close()
        await other.close()
        await other_nc.close()


async def test_another_handler_on_another_connection_writes_the_same_stream(
    nc: Any, nats_url: str
) -> None:
    """Two handlers on two connections race on one stream: every command succeeds exactly once
    and the fold of the stored events is each handler's final state."""
    tag = unique("two")
    store = await bank_store(nc, tag)
    other_nc = await nats.connect(nats_url)
    other = await bank_store(other_nc, tag)
    try:
        first: CommandHandler[Any, Any, Any] = CommandHandler(account, store)
        second: CommandHandler[Any, Any, Any] = CommandHandler(account, other)
        stream = StreamId("account", "a-1")
        (await first.handle(stream, OpenAccount("a-1", "Ada"))).unwrap()
        results: list[Result[Handled[Any], Any]] = []

        async def caller(handler: CommandHandler[Any, Any, Any], amount: int) -> None:
            for _ in range(25):
                results.append(await handler.handle(stream, Deposit(amount)))

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(caller, first, 1)
            for _ in range(4):
                tg.start_soon(caller, second, 100)
        assert [r for r in results if not isinstance(r, Success)] == []
        stored = (await store.read(stream)).unwrap()
        assert [e.version for e in stored] == list(range(1, 302))
        state = state_of(account, (e.payload for e in stored))
        assert state.balance == 8 * 25 + 4 * 25 * 100
        for handler in (first, second):
            assert (await handler.load(stream)).unwrap() == (301, state)
        check_replies_match_the_store([r.unwrap() for r in results], stored)
    finally:
        await store.close()
        await other.close()
        await other_nc.close()


async def stock_service(
    nc: Any, tag: str, subject: str
) -> tuple[JetStreamEventStore, CommandService]:
    """A stock CommandService on *subject* (not started)."""
    store = await JetStreamEventStore.from_client(
        nc, types=STOCK_TYPES, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )
    return store, CommandService(
        nc, CommandHandler(stock, store), STOCK_COMMANDS, category="stock", subject=subject
    )


async def test_eight_clients_reserve_from_one_stock_over_request_reply(
    nc: Any, nats_url: str
) -> None:
    """8 clients x 25 Reserve(1) on 150 in stock: exactly 150 accepted, 50 insufficient, no conflict."""
    tag = unique("stock")
    subject = f"svc-{tag}.command"
    store, service = await stock_service(nc, tag, subject)
    codes: Counter[str] = Counter()
    async with anyio.create_task_group() as tg:
        await tg.start(service.start)
        reply = await nc.request(
            subject,
            orjson.dumps({"stream": "stock.s-1", "command": {"type": "Restock", "quantity": 150}}),
            timeout=5,
        )
        assert orjson.loads(reply.data)["ok"]

        async def client() -> None:
            client_nc = await nats.connect(nats_url)
            try:
                for _ in range(25):
                    msg = await client_nc.request(
                        subject,
                        orjson.dumps(
                            {"stream": "stock.s-1", "command": {"type": "Reserve", "quantity": 1}}
                        ),
                        timeout=10,
                    )
                    body = orjson.loads(msg.data)
                    codes["ok" if body["ok"] else body["error"]["details"].get("code", "?")] += 1
            finally:
                await client_nc.close()

        async with anyio.create_task_group() as clients:
            for _ in range(8):
                clients.start_soon(client)
        await service.stop()
    stored = (await store.read(StreamId("stock", "s-1"))).unwrap()
    await store.close()
    assert codes == Counter({"ok": 150, "insufficient_stock": 50})
    assert state_of(stock, (e.payload for e in stored)) == 0
    assert len(stored) == 151


async def test_a_retried_command_id_after_a_dropped_reply_gets_the_original_reply(
    nc: Any, nats_url: str
) -> None:
    """A reply lost on the way: the retry (also on another instance) is answered with the
    original version, position and event ids, and nothing is applied twice; the same id with
    another body is refused with command_id_reused."""
    tag = unique("retry")
    subject = f"svc-{tag}.command"
    store, service = await stock_service(nc, tag, subject)
    other_nc = await nats.connect(nats_url)
    other_store, other_service = await stock_service(other_nc, tag, subject)
    request = {
        "stream": "stock.s-1",
        "command": {"type": "Restock", "quantity": 5},
        "command_id": "cmd-1",
    }
    async with anyio.create_task_group() as tg:
        await tg.start(service.start)
        await nc.publish(subject, orjson.dumps(request), reply=f"_INBOX.{tag}.nobody")
        stream = StreamId("stock", "s-1")
        with anyio.fail_after(5):
            while not (await store.read(stream)).unwrap():  # noqa: ASYNC110 - polls the store
                await anyio.sleep(0.01)
        original = (await store.read(stream)).unwrap()
        assert original[0].metadata[COMMAND_ID] == "cmd-1"
        first = orjson.loads((await nc.request(subject, orjson.dumps(request), timeout=5)).data)
        await service.stop()
        await tg.start(other_service.start)  # another instance, with an empty cache
        second = orjson.loads((await nc.request(subject, orjson.dumps(request), timeout=5)).data)
        assert first == second
        assert (first["version"], first["position"]) == (1, original[0].position)
        assert first["events"][0]["event_id"] == str(original[0].event_id)
        changed = {**request, "command": {"type": "Restock", "quantity": 6}}
        refused = orjson.loads((await nc.request(subject, orjson.dumps(changed), timeout=5)).data)
        assert refused["error"]["code"] == "command_id_reused"
        await other_service.stop()
    assert len((await store.read(stream)).unwrap()) == 1
    await store.close()
    await other_store.close()
    await other_nc.close()


def start_instance(url: str, tag: str, subject: str, *, owned: bool) -> subprocess.Popen[str]:
    """A CommandService in its own process (``tests.integration._stock``), once it serves."""
    mode = ["owned"] if owned else []
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration._stock", url, tag.upper(), tag, subject, *mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


@pytest.mark.parametrize("owned", [False, True], ids=["queue-group", "owned-partitions"])
async def test_three_instances_one_killed_mid_load_lose_no_command_and_apply_none_twice(
    nc: Any, nats_url: str, owned: bool
) -> None:
    """Three service processes (plain queue group, or streams routed to partition owners),
    one SIGKILLed mid-load: every client gets an answer (retrying with its command id), each
    command is applied exactly once, the fold matches."""
    tag = unique("three")
    subject = f"svc-{tag}.command"
    store = await JetStreamEventStore.from_client(
        nc, types=STOCK_TYPES, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )
    instances = [start_instance(nats_url, tag, subject, owned=owned) for _ in range(3)]
    answers: dict[str, Any] = {}
    straddling: list[float] = []
    killed_at: list[float] = []
    try:

        async def client(n: int) -> None:
            client_nc = await nats.connect(nats_url)
            try:
                for i in range(40):
                    command_id = f"c{n}-{i}"
                    began = time.monotonic()
                    reply = await request_command(
                        client_nc,
                        subject,
                        f"stock.s-{n % 2}",
                        {"type": "Restock", "quantity": 1},
                        command_id=command_id,
                        attempt_timeout=1.0,
                        budget=20.0,
                    )
                    answers[command_id] = reply
                    if killed_at and began <= killed_at[0]:  # in flight when the kill came
                        straddling.append(time.monotonic() - killed_at[0])
            finally:
                await client_nc.close()

        async def killer() -> None:
            while len(answers) < 100:  # noqa: ASYNC110 - waits for load
                await anyio.sleep(0.005)
            instances[0].kill()
            killed_at.append(time.monotonic())

        async with anyio.create_task_group() as tg:
            tg.start_soon(killer)
            for n in range(8):
                tg.start_soon(client, n)
    finally:
        for process in instances:
            process.kill()
            process.wait()
    assert killed_at, "the instance was never killed"
    print(f"failover: requests in flight at the kill answered within {max(straddling):.2f} s")
    assert max(straddling) < 5.0
    assert len(answers) == 320
    assert [k for k, r in answers.items() if not isinstance(r, Success)] == []
    applied: Counter[str] = Counter()
    for entity in ("s-0", "s-1"):
        stored = (await store.read(StreamId("stock", entity))).unwrap()
        assert [e.version for e in stored] == list(range(1, 161))
        assert state_of(stock, (e.payload for e in stored)) == 160
        applied.update(e.metadata[COMMAND_ID] for e in stored)
        by_id = {str(e.event_id): e for e in stored}
        for e in stored:
            reply = answers[e.metadata[COMMAND_ID]].unwrap()
            assert reply["events"][0]["event_id"] == str(e.event_id)
            assert (reply["version"], reply["position"]) == (e.version, e.position)
        assert len(by_id) == 160
    assert set(applied.values()) == {1}
    assert len(applied) == 320
    await store.close()


class HeldStore:
    """The JetStream store, with the next append held until released (to fill a queue)."""

    def __init__(self, store: JetStreamEventStore) -> None:
        self.store = store
        self.holding = anyio.Event()
        self.released = anyio.Event()
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def append(self, stream: StreamId, events: Any, *, expected: Any) -> Any:
        """Hold the first append after arming, then append through."""
        if self.armed:
            self.armed = False
            self.holding.set()
            await self.released.wait()
        return await self.store.append(stream, events, expected=expected)


async def test_a_cancelled_queued_command_and_a_full_queue_on_a_real_server(nc: Any) -> None:
    """While an append is held: a queued caller that is cancelled never lands, a caller beyond
    queue_limit gets Overloaded at once, and the others land in order once released."""
    store = await bank_store(nc, unique("held"))
    held = HeldStore(store)
    try:
        handler: CommandHandler[Any, Any, Any] = CommandHandler(
            account,
            held,  # type: ignore[arg-type]
            queue_limit=3,
        )
        stream = StreamId("account", "a-1")
        (await handler.handle(stream, OpenAccount("a-1", "Ada"))).unwrap()
        results: list[Any] = []
        held.armed = True
        withdrawn = anyio.CancelScope()

        async def deposit(amount: int) -> None:
            results.append(await handler.handle(stream, Deposit(amount)))

        async def cancelled() -> None:
            with withdrawn:
                await handler.handle(stream, Deposit(1000))

        async with anyio.create_task_group() as tg:
            tg.start_soon(deposit, 1)
            await held.holding.wait()
            tg.start_soon(deposit, 10)
            tg.start_soon(cancelled)
            tg.start_soon(deposit, 100)
            await anyio.wait_all_tasks_blocked()
            overloaded = await handler.handle(stream, Deposit(5))
            withdrawn.cancel()
            await anyio.wait_all_tasks_blocked()
            held.released.set()
        assert overloaded.failure() == Overloaded(stream, 3)
        assert [r.unwrap().state.balance for r in results] == [1, 11, 111]
        stored = (await store.read(stream)).unwrap()
        assert [getattr(e.payload, "amount", None) for e in stored] == [None, 1, 10, 100]
        assert handler.busy_streams == 0
    finally:
        await store.close()
