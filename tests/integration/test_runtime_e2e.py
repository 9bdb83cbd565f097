"""The runtime on a real server: commands over NATS -> JetStream store -> projections -> KV -> queries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Any, cast
from uuid import uuid4

import anyio
import anyio.lowlevel
import nats
import orjson
import pytest
from returns.result import Failure, Result, Success

from cim import NewEvent, StreamId, WrongExpectedVersion
from cim.effects import Effect
from cim.examples.bank import Deposit, OpenAccount, account, bank_types
from cim.examples.order_flow import (
    ORDER_STATS,
    ORDERS,
    OrderCancelled,
    OrderConfirmed,
    OrderEvent,
    OrderPlaced,
    OrderShipped,
    OrderSubmitted,
    PlaceOrder,
    order,
    order_flow_types,
    order_summaries,
)
from cim.examples.orders import Cancel, Confirm, Deliver, Ship, Submit
from cim.projection import fold
from interpreters.runtime.checkpoints import KvCheckpoints
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.dead_letters import KvDeadLetters
from interpreters.runtime.endpoints import (
    SERVICE_ERROR_STATUS,
    CommandService,
    CommandTypes,
    QueryService,
)
from interpreters.runtime.executors import EffectError, Executor, InMemoryReadModel
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.read_model import KvReadModel, thaw
from interpreters.runtime.runner import ProjectionRunner, SkipToDeadLetters
from interpreters.runtime.service import HealthState, Supervisor
from interpreters.stores.jetstream import JetStreamEventStore
from interpreters.stores.protocol import EventStore

COMMANDS = CommandTypes([PlaceOrder, Submit, Confirm, Ship, Deliver, Cancel])


def unique(prefix: str) -> str:
    """A stream/bucket/subject-safe name no other test uses."""
    return f"{prefix}{uuid4().hex[:10]}"


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Any]:
    """A connection to the test server, closed afterwards."""
    client = await nats.connect(nats_url)
    try:
        yield client
    finally:
        await client.close()


class Deployment:
    """One isolated deployment of the order flow on the shared server (own stream and buckets)."""

    def __init__(self, nc: Any, store: JetStreamEventStore, tag: str) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.store = store
        self.tag = tag
        self.read_model = KvReadModel(self.js, prefix=f"{tag}_")
        self.executor = NatsExecutor(nc, self.js, store=store, read_model=self.read_model)

    async def runner(self, executor: Any = None, **options: Any) -> ProjectionRunner[Any, Any]:
        """A runner of the order summaries with KV checkpoints of this deployment."""
        checkpoints = await KvCheckpoints.open(self.js, f"{self.tag}_ckpt")
        return ProjectionRunner(
            order_summaries,
            self.store,
            executor or self.executor,
            checkpoints,
            collections=[ORDERS, ORDER_STATS],
            **options,
        )

    async def tables(self) -> dict[str, Any]:
        """Both read-model collections as plain data."""
        return {c: (await self.read_model.rows(c)).unwrap() for c in (ORDERS, ORDER_STATS)}


@pytest.fixture
async def deployment(nc: Any) -> AsyncIterator[Deployment]:
    """A fresh order-flow deployment: JetStream store on its own stream and subject prefix."""
    tag = unique("t")
    store = await JetStreamEventStore.from_client(
        nc, types=order_flow_types, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )
    try:
        yield Deployment(nc, store, tag)
    finally:
        await store.close()


async def request(client: Any, subject: str, body: Any) -> dict[str, Any]:
    """Send a JSON request (bytes are sent as is) and decode the JSON reply."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    reply = await client.request(subject, data, timeout=5)
    decoded: dict[str, Any] = orjson.loads(reply.data)
    return decoded


async def poll(check: Any) -> None:
    """Wait until the async predicate *check* holds (at most 5 s)."""
    with anyio.fail_after(5):
        while not await check():  # noqa: ASYNC110 - polling state over the network
            await anyio.sleep(0.02)


def history(orders: int = 6) -> list[tuple[StreamId, OrderEvent]]:
    """Several orders moving through their lifecycle, interleaved."""
    events: list[tuple[StreamId, OrderEvent]] = []
    for n in range(orders):
        events.append((StreamId("order", f"o-{n}"), OrderPlaced(f"o-{n}", f"c{n}", 100 + n)))
    for n in range(orders):
        stream = StreamId("order", f"o-{n}")
        events.append((stream, OrderSubmitted(f"o-{n}")))
        if n % 3 == 0:
            events.append((stream, OrderCancelled(f"o-{n}", "changed mind")))
        else:
            events += [(stream, OrderConfirmed(f"o-{n}")), (stream, OrderShipped(f"o-{n}"))]
    return events


async def expected_tables(events: Iterable[OrderEvent]) -> dict[str, Any]:
    """The read model a from-scratch fold of *events* produces, as plain data."""
    model = InMemoryReadModel()
    (await model.execute(fold(order_summaries, events).effects)).unwrap()
    return {c: thaw(model.rows(c)) for c in (ORDERS, ORDER_STATS)}


@pytest.mark.anyio
async def test_commands_over_nats_reach_the_store_and_the_read_model(
    deployment: Deployment, nats_url: str
) -> None:
    """A separate client sends commands and queries over NATS; services stop without leftovers."""
    before = set(asyncio.all_tasks())
    handler = CommandHandler(order, deployment.store)
    commands = CommandService(
        deployment.nc,
        handler,
        COMMANDS,
        category="order",
        name="orders",
        subject=f"svc.{deployment.tag}.orders.command",
    )
    queries = QueryService(
        deployment.nc,
        deployment.read_model,
        [ORDERS, ORDER_STATS],
        name="orders-queries",
        subject=f"svc.{deployment.tag}.orders.query",
    )
    runner = await deployment.runner()
    supervisor = Supervisor([runner, commands, queries], signals=())
    client = await nats.connect(nats_url)
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(supervisor.run)
            placed = await request(
                client,
                commands.subject,
                {
                    "stream": "order.o-1",
                    "command": {
                        "type": "PlaceOrder",
                        "order_id": "o-1",
                        "customer": "ada",
                        "total_cents": 2500,
                    },
                    "correlation_id": "checkout-42",
                },
            )
            assert placed["ok"] is True
            assert (placed["version"], placed["correlation_id"]) == (1, "checkout-42")
            assert [e["type"] for e in placed["events"]] == ["OrderPlaced"]
            submitted = await request(
                client, commands.subject, {"stream": "order.o-1", "command": {"type": "Submit"}}
            )
            assert (submitted["ok"], submitted["version"]) == (True, 2)

            stored = (await deployment.store.read(StreamId("order", "o-1"))).unwrap()
            assert [type(e.payload) for e in stored] == [OrderPlaced, OrderSubmitted]
            assert stored[0].correlation_id == "checkout-42"

            async def submitted_in_read_model() -> bool:
                row = await request(client, queries.subject, {"collection": ORDERS, "key": "o-1"})
                return bool(row["found"]) and row["data"]["status"] == "submitted"

            await poll(submitted_in_read_model)
            row = await request(client, queries.subject, {"collection": ORDERS, "key": "o-1"})
            assert row["data"] == {"customer": "ada", "total_cents": 2500, "status": "submitted"}
            stats = await request(client, queries.subject, {"collection": ORDER_STATS})
            assert stats["rows"] == {"by_status": {"submitted": 1}}

            health = await supervisor.health()
            assert health.overall.state.value == "healthy", health
            supervisor.stop()
    finally:
        await client.close()
    await anyio.lowlevel.checkpoint()
    assert set(asyncio.all_tasks()) == before


@pytest.mark.anyio
async def test_bad_requests_get_error_replies_and_the_service_keeps_serving(
    deployment: Deployment,
) -> None:
    """Bad JSON, unknown types, missing fields and rejections answer with codes; serving goes on."""
    handler = CommandHandler(order, deployment.store)
    service = CommandService(
        deployment.nc, handler, COMMANDS, category="order", subject=f"svc.{deployment.tag}.cmd"
    )
    queries = QueryService(
        deployment.nc, deployment.read_model, [ORDERS], subject=f"svc.{deployment.tag}.q"
    )
    nc = deployment.nc
    async with anyio.create_task_group() as tg:
        await tg.start(service.start)
        await tg.start(queries.start)
        cases: list[tuple[Any, str]] = [
            (b"{not json", "bad_json"),
            ([1, 2], "bad_request"),
            ({"command": {"type": "Submit"}}, "bad_request"),
            ({"stream": "no-dot", "command": {"type": "Submit"}}, "invalid_stream"),
            ({"stream": "order.o-9", "command": {"type": "Teleport"}}, "unknown_command"),
            ({"stream": "order.o-9", "command": {"type": "PlaceOrder"}}, "invalid_command"),
            (
                {"stream": "order.o-9", "command": {"type": "Cancel", "reason": "x", "extra": 1}},
                "invalid_command",
            ),
            ({"stream": "order.o-9", "command": {"type": "Submit"}}, "rejected"),
        ]
        for body, code in cases:
            reply = await nc.request(
                service.subject, body if isinstance(body, bytes) else orjson.dumps(body), timeout=5
            )
            decoded = orjson.loads(reply.data)
            assert decoded["ok"] is False, body
            assert decoded["error"]["code"] == code, (body, decoded)
            assert decoded["error"]["message"]
            assert reply.headers["Nats-Service-Error-Code"] == str(SERVICE_ERROR_STATUS[code])
        rejected = orjson.loads(
            (await nc.request(service.subject, orjson.dumps(cases[-1][0]), timeout=5)).data
        )
        assert rejected["error"]["details"]["code"] == "not_placed"
        missing = await request(nc, queries.subject, {"collection": "secrets"})
        assert missing["error"]["code"] == "unknown_collection"
        absent = await request(nc, queries.subject, {"collection": ORDERS, "key": "nope"})
        assert absent == {"ok": True, "found": False, "key": "nope"}
        good = await request(
            nc,
            service.subject,
            {
                "stream": "order.o-9",
                "command": {
                    "type": "PlaceOrder",
                    "order_id": "o-9",
                    "customer": "bo",
                    "total_cents": 5,
                },
            },
        )
        assert good["ok"] is True
        await service.stop()
        await queries.stop()


@pytest.mark.anyio
async def test_services_answer_srv_ping_info_and_stats(deployment: Deployment) -> None:
    """The micro-service control subjects answer, so `nats micro ls` finds the services."""
    name = unique("svc")
    service = CommandService(
        deployment.nc,
        CommandHandler(order, deployment.store),
        COMMANDS,
        category="order",
        name=name,
    )
    async with anyio.create_task_group() as tg:
        await tg.start(service.start)
        ping = await request(deployment.nc, f"$SRV.PING.{name}", b"")
        assert (ping["name"], ping["id"]) == (name, service.service_id)
        info = await request(deployment.nc, f"$SRV.INFO.{name}", b"")
        assert [e["subject"] for e in info["endpoints"]] == [f"{name}.command"]
        assert info["endpoints"][0]["metadata"] == {"category": "order"}
        await request(deployment.nc, service.subject, b"garbage")
        stats = await request(deployment.nc, f"$SRV.STATS.{name}", b"")
        assert stats["endpoints"][0]["num_requests"] == 1
        await service.stop()
    assert (await service.health_check()).state is HealthState.UNHEALTHY


class ConflictCounting:
    """The store's read and append (all a handler uses), counting lost races."""

    def __init__(self, store: JetStreamEventStore) -> None:
        self.store = store
        self.conflicts = 0

    async def read(self, stream: StreamId, *, from_version: int = 1) -> Any:
        """Read through."""
        return await self.store.read(stream, from_version=from_version)

    async def append(self, stream: StreamId, events: Any, *, expected: Any) -> Any:
        """Append through, counting WrongExpectedVersion failures."""
        result = await self.store.append(stream, events, expected=expected)
        if isinstance(result, Failure) and isinstance(result.failure(), WrongExpectedVersion):
            self.conflicts += 1
        return result


@pytest.mark.anyio
async def test_two_handlers_racing_on_one_aggregate_both_succeed(nc: Any) -> None:
    """Concurrent deposits through two handlers all succeed after retries; versions have no gaps."""
    tag = unique("race")
    store = await JetStreamEventStore.from_client(
        nc, types=bank_types, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )
    try:
        stream = StreamId("account", "acc-1")
        racing = ConflictCounting(store)
        first = CommandHandler(account, cast(EventStore, racing), max_attempts=5)
        second = CommandHandler(account, cast(EventStore, racing), max_attempts=5)
        (await first.handle(stream, OpenAccount("acc-1", "Ada"))).unwrap()
        results: list[Any] = []

        async def deposit(handler: CommandHandler[Any, Any, Any], amount: int) -> None:
            results.append(await handler.handle(stream, Deposit(amount)))

        for _ in range(8):
            async with anyio.create_task_group() as tg:
                tg.start_soon(deposit, first, 1)
                tg.start_soon(deposit, second, 10)
        assert all(isinstance(r, Success) for r in results), results
        assert racing.conflicts > 0, "the handlers never actually raced"
        events = (await store.read(stream)).unwrap()
        assert [e.version for e in events] == list(range(1, 18))
        assert sum(getattr(e.payload, "amount", 0) for e in events) == 8 * 11
        for handler in (first, second, CommandHandler(account, store)):
            assert (await handler.load(stream)).unwrap()[1].balance == 88
    finally:
        await store.close()


class CrashAfter:
    """Runs the real executor, then 'dies' after the effects of the n-th event."""

    def __init__(self, inner: NatsExecutor, n: int) -> None:
        self.inner = inner
        self.remaining = n

    def for_event(self, event: Any) -> Executor:
        """The real executor for *event*, followed by the crash once the budget is spent."""
        outer = self

        class Dying:
            async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
                result = await outer.inner.for_event(event).execute(effects)
                outer.remaining -= 1
                if outer.remaining == 0:
                    raise anyio.get_cancelled_exc_class()()
                return result

        return Dying()

    async def reset(self, collections: Any) -> Result[None, EffectError]:
        """Delegate the reset."""
        return await self.inner.reset(collections)


@pytest.mark.anyio
async def test_a_runner_killed_mid_catch_up_resumes_to_the_fold(nc: Any) -> None:
    """For several cut points: die after an event's effects, restart, end exactly like a fold."""
    events = history()
    tag = unique("cut")
    store = await JetStreamEventStore.from_client(
        nc, types=order_flow_types, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )
    try:
        for stream, event in events:
            (await store.append(stream, [NewEvent(event)])).unwrap()
        expected = await expected_tables(e for _, e in events)
        for cut in (1, 3, 8, 13, len(events) - 1):
            run = Deployment(nc, store, unique("cut"))
            dying = await run.runner(CrashAfter(run.executor, cut))
            with pytest.raises(anyio.get_cancelled_exc_class()):
                await dying.catch_up()
            restarted = await run.runner()
            assert await restarted.catch_up() == Success(len(events))
            assert await run.tables() == expected, f"cut after event {cut}"
        for deadline in (0.005, 0.02):  # cancelled at an arbitrary moment, twice
            run = Deployment(nc, store, unique("cut"))
            with anyio.move_on_after(deadline):
                await (await run.runner()).catch_up()
            assert await (await run.runner()).catch_up() == Success(len(events))
            assert await run.tables() == expected
    finally:
        await store.close()


@pytest.mark.anyio
async def test_rebuild_equals_the_live_read_model(deployment: Deployment) -> None:
    """A runner following live commands and a rebuild from scratch end with the same tables."""
    handler = CommandHandler(order, deployment.store)
    runner = await deployment.runner()
    async with anyio.create_task_group() as tg:
        await tg.start(runner.start)
        for n in range(4):
            stream = StreamId("order", f"o-{n}")
            (await handler.handle(stream, PlaceOrder(f"o-{n}", "cy", 10 * (n + 1)))).unwrap()
            (await handler.handle(stream, Submit())).unwrap()
        (await handler.handle(StreamId("order", "o-2"), Cancel("duplicate"))).unwrap()
        total = 9

        async def caught_up() -> bool:
            return runner.position >= total

        await poll(caught_up)
        await runner.stop()
    live = await deployment.tables()
    assert live[ORDER_STATS] == {"by_status": {"submitted": 3, "cancelled": 1}}
    assert await runner.rebuild() == Success(total)
    assert await deployment.tables() == live


@pytest.mark.anyio
async def test_a_poison_message_is_dead_lettered_and_the_runner_goes_on(
    deployment: Deployment,
) -> None:
    """A foreign, undecodable message on an event subject is dead-lettered with its reason."""
    store = deployment.store
    (
        await store.append(StreamId("order", "o-1"), [NewEvent(OrderPlaced("o-1", "ada", 5))])
    ).unwrap()
    await deployment.js.publish(f"{deployment.tag}.order.o-666", b"\x00 not an event")
    (await store.append(StreamId("order", "o-1"), [NewEvent(OrderSubmitted("o-1"))])).unwrap()
    letters = await KvDeadLetters.open(deployment.js, f"{deployment.tag}_dead")
    runner = await deployment.runner(poison=SkipToDeadLetters(letters))
    assert await runner.catch_up() == Success(3)
    (letter,) = (await letters.letters("order_summaries")).unwrap()
    assert letter.position == 2
    assert "Cim-Event-Type" in letter.reason
    assert (await deployment.tables())[ORDERS] == {
        "o-1": {"customer": "ada", "total_cents": 5, "status": "submitted"}
    }


@pytest.mark.anyio
async def test_the_crash_check_catches_a_runner_that_forgets_its_state(nc: Any) -> None:
    """Control: resuming without refolding the state (wrongly `stateless`) differs from the fold."""
    events = history()
    tag = unique("ctl")
    store = await JetStreamEventStore.from_client(
        nc, types=order_flow_types, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )
    try:
        for stream, event in events:
            (await store.append(stream, [NewEvent(event)])).unwrap()
        run = Deployment(nc, store, unique("ctl"))
        with pytest.raises(anyio.get_cancelled_exc_class()):
            await (await run.runner(CrashAfter(run.executor, 10))).catch_up()
        forgetful = await run.runner(stateless=True)
        assert await forgetful.catch_up() == Success(len(events))
        assert await run.tables() != await expected_tables(e for _, e in events)
    finally:
        await store.close()
