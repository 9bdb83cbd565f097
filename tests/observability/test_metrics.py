"""Metrics after a known workload on a real nats-server: exact counts, lag equal to a backlog."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import uuid4

import nats
import pytest

from cim import NewEvent, StreamId
from cim.effects import DatabaseWrite, Effect
from cim.examples.bank import Deposit, Deposited, OpenAccount, Withdraw, account, bank_types
from cim.projection import Projection
from interpreters.runtime.checkpoints import InMemoryCheckpoints
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.dead_letters import InMemoryDeadLetters
from interpreters.runtime.executors import InMemoryReadModel
from interpreters.runtime.runner import ProjectionRunner, SkipToDeadLetters
from interpreters.stores.jetstream import JetStreamEventStore
from interpreters.stores.memory import InMemoryEventStore
from tests.observability.conftest import Telemetry


def key(**attributes: Any) -> frozenset[tuple[str, Any]]:
    """A data point's attributes, as :meth:`Telemetry.points` keys them."""
    return frozenset(attributes.items())


@pytest.fixture
async def store(nats_url: str) -> AsyncIterator[JetStreamEventStore]:
    """A JetStream store on a stream of its own."""
    nc = await nats.connect(nats_url)
    tag = f"m{uuid4().hex[:10]}"
    opened = await JetStreamEventStore.from_client(
        nc, types=bank_types, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )
    try:
        yield opened
    finally:
        await opened.close()
        await nc.close()


def balances(name: str) -> Projection[int, Any]:
    """A row per deposit; a deposit of 13 makes ``step`` raise (a poison event)."""

    def step(count: int, event: Any) -> tuple[int, Sequence[Effect]]:
        if isinstance(event, Deposited) and event.amount == 13:
            raise ValueError("unlucky amount")
        return count + 1, (DatabaseWrite("events", str(count), {"type": type(event).__name__}),)

    return Projection(name, 0, step).consuming(categories=["account"])


@pytest.mark.anyio
async def test_command_counters_and_latencies_after_ten_commands(
    telemetry: Telemetry, store: JetStreamEventStore
) -> None:
    """10 commands, 2 of them rejected: the counters say exactly so, each timed once."""
    handler = CommandHandler(account, store)
    stream = StreamId("account", "a-1")
    commands: list[Any] = [OpenAccount("a-1", "ada"), *[Deposit(10)] * 7]
    commands[3:3] = [Withdraw(1_000), OpenAccount("a-1", "bob")]  # both refused
    for command in commands:
        await handler.handle(stream, command)
    assert telemetry.points("cim.commands") == {
        key(**{"cim.category": "account", "cim.outcome": "accepted"}): 8,
        key(**{"cim.category": "account", "cim.outcome": "rejected"}): 2,
    }
    assert telemetry.points("cim.command.duration") == {
        key(**{"cim.category": "account", "cim.outcome": "accepted"}): 8,
        key(**{"cim.category": "account", "cim.outcome": "rejected"}): 2,
    }
    assert telemetry.points("cim.append.duration") == {
        key(**{"cim.category": "account", "cim.outcome": "appended"}): 8
    }


@pytest.mark.anyio
async def test_projection_counters_and_lag_equal_to_a_known_backlog(
    telemetry: Telemetry, store: JetStreamEventStore
) -> None:
    """Events projected and dead letters are counted; a runner stopped behind reports the
    backlog as its lag (events), and no lag once it caught up."""
    stream = StreamId("account", "a-1")
    amounts = [5, 13, 7]  # 13 is a poison event
    handler = CommandHandler(account, store)
    await handler.handle(stream, OpenAccount("a-1", "ada"))
    for amount in amounts:
        await handler.handle(stream, Deposit(amount))
    name = f"balances-{uuid4().hex[:6]}"
    runner = ProjectionRunner(
        balances(name),
        store,
        InMemoryReadModel(),
        InMemoryCheckpoints(),
        poison=SkipToDeadLetters(InMemoryDeadLetters(), tolerate=5),
    )
    assert (await runner.catch_up()).unwrap() == 4
    projection = key(**{"cim.projection": name})
    assert telemetry.points("cim.projection.events")[projection] == 4
    assert telemetry.points("cim.dead_letters")[projection] == 1
    assert telemetry.points("cim.projection.position")[projection] == 4
    assert telemetry.points("cim.projection.checkpoint.age")[projection] >= 0

    for _ in range(5):  # a backlog of 5 events while the runner is not running
        await handler.handle(stream, Deposit(1))
    await store.append(StreamId("other", "x-1"), [NewEvent(Deposited("x-1", 1))])  # not consumed
    lag = (await runner.lag()).unwrap()
    assert (lag.position, lag.last_position, lag.events) == (4, 9, 5)
    assert lag.seconds is not None
    assert lag.seconds >= 0
    assert telemetry.points("cim.projection.lag")[projection] == 5
    assert telemetry.points("cim.projection.time_lag")[projection] >= 0

    assert (await runner.catch_up()).unwrap() == 9
    lag = (await runner.lag()).unwrap()
    assert (lag.events, lag.seconds) == (0, 0.0)
    assert telemetry.points("cim.projection.lag")[projection] == 0
    assert telemetry.points("cim.projection.events")[projection] == 9


@pytest.mark.anyio
async def test_in_memory_store_tells_its_last_position_by_category() -> None:
    """The in-memory store's last position, of all events and of one category."""
    memory = InMemoryEventStore(types=bank_types)
    assert (await memory.last_position()).unwrap() == 0
    await memory.append(StreamId("account", "a-1"), [NewEvent(Deposited("a-1", 1))])
    await memory.append(StreamId("other", "x-1"), [NewEvent(Deposited("x-1", 1))])
    assert (await memory.last_position()).unwrap() == 2
    assert (await memory.last_position(categories=["account"])).unwrap() == 1
    assert (await memory.last_position(categories=["none"])).unwrap() == 0
