"""KV checkpoints, KV read-model rows and the NATS executor against a real nats-server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import nats
import pytest
from nats.js.api import StreamConfig
from returns.result import Failure, Success

from cim import NewEvent, StreamId
from cim.effects import DatabaseDelete, DatabaseUpdate, DatabaseWrite, EmitEvent, Log, Publish
from cim.examples.bank import AccountOpened, Deposited, bank_types
from interpreters.runtime.checkpoints import CheckpointConflict, KvCheckpoints
from interpreters.runtime.executors import UnhandledEffect
from interpreters.runtime.nats_executor import MSG_ID, NatsExecutor, derived_event_id, message_id
from interpreters.runtime.read_model import InvalidName, KvReadModel
from interpreters.stores.memory import InMemoryEventStore


def unique(prefix: str) -> str:
    """A bucket/subject-safe name no other test uses."""
    return f"{prefix}_{uuid4().hex[:10]}"


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Any]:
    """A connection to the test server, closed afterwards."""
    client = await nats.connect(nats_url)
    try:
        yield client
    finally:
        await client.close()


@pytest.mark.anyio
async def test_kv_checkpoints_round_trip_and_refuse_a_second_writer(nc: Any) -> None:
    """Checkpoints persist in KV; a writer with a stale revision gets CheckpointConflict."""
    bucket = unique("ckpt")
    mine = await KvCheckpoints.open(nc.jetstream(), bucket)
    assert await mine.load("orders") == Success(0)
    assert await mine.save("orders", 7) == Success(None)
    other = await KvCheckpoints.open(nc.jetstream(), bucket)
    assert await other.load("orders") == Success(7)
    assert await other.save("orders", 9) == Success(None)
    stale = await mine.save("orders", 8)
    assert isinstance(stale, Failure)
    assert isinstance(stale.failure(), CheckpointConflict)
    assert await other.load("orders") == Success(9)
    assert await other.clear("orders") == Success(None)
    assert await (await KvCheckpoints.open(nc.jetstream(), bucket)).load("orders") == Success(0)


@pytest.mark.anyio
async def test_kv_rows_skip_writes_whose_cause_is_not_newer(nc: Any) -> None:
    """A write caused by an older (or the same) event position leaves the row unchanged."""
    model = KvReadModel(nc.jetstream())
    table = unique("rows")
    assert await model.apply(DatabaseWrite(table, "o-1", {"n": 1}), applied=(5, 0)) == Success(True)
    assert await model.apply(DatabaseUpdate(table, "o-1", {"m": 2}), applied=(5, 1)) == Success(
        True
    )
    assert await model.apply(DatabaseWrite(table, "o-1", {"n": 0}), applied=(4, 0)) == Success(
        False
    )
    assert await model.apply(DatabaseUpdate(table, "o-1", {"m": 9}), applied=(5, 1)) == Success(
        False
    )
    row = (await model.get(table, "o-1")).unwrap()
    assert row is not None
    assert (row.data, row.applied) == ({"n": 1, "m": 2}, (5, 1))


@pytest.mark.anyio
async def test_a_delete_leaves_a_tombstone_that_still_guards(nc: Any) -> None:
    """After a delete the row is gone, and a replayed older write does not resurrect it."""
    model = KvReadModel(nc.jetstream())
    table = unique("rows")
    await model.apply(DatabaseWrite(table, "k", {"v": 1}), applied=(1, 0))
    await model.apply(DatabaseDelete(table, "k"), applied=(2, 0))
    assert await model.get(table, "k") == Success(None)
    assert await model.apply(DatabaseWrite(table, "k", {"v": 1}), applied=(1, 0)) == Success(False)
    assert await model.rows(table) == Success({})
    await model.apply(DatabaseWrite(table, "k", {"v": 3}), applied=(3, 0))
    assert await model.rows(table) == Success({"k": {"v": 3}})
    assert await model.clear(table) == Success(None)
    assert await model.rows(table) == Success({})


@pytest.mark.anyio
async def test_invalid_collection_or_key_is_an_error_value(nc: Any) -> None:
    """Names KV cannot hold are refused as InvalidName, not exceptions."""
    model = KvReadModel(nc.jetstream())
    bad_key = await model.apply(DatabaseWrite("orders", "has space", {"v": 1}))
    assert isinstance(bad_key, Failure)
    assert isinstance(bad_key.failure(), InvalidName)
    bad_bucket = await model.get("no.dots", "k")
    assert isinstance(bad_bucket.failure(), InvalidName)


async def opened_event(store: InMemoryEventStore) -> Any:
    """Append one event and return its envelope (a cause for effects)."""
    stream = StreamId("account", unique("a"))
    await store.append(stream, [NewEvent(AccountOpened("a", "Ada"), correlation_id="corr-1")])
    return (await store.read(stream)).unwrap()[0]


@pytest.mark.anyio
async def test_publish_to_a_captured_subject_is_deduplicated_by_message_id(nc: Any) -> None:
    """Running one event's Publish twice stores one message: Nats-Msg-Id comes from the cause."""
    js = nc.jetstream()
    name = unique("OUT")
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name}.>"]))
    store = InMemoryEventStore(types=bank_types)
    cause = await opened_event(store)
    executor = NatsExecutor(nc, js, store=store)
    effect = Publish(f"{name}.welcome", b"hello", {"Kind": "welcome"})
    for _ in range(2):
        assert await executor.for_event(cause).execute([Log("info", "x"), effect]) == Success(None)
    info = await js.stream_info(name)
    assert info.state.messages == 1
    stored = await js.get_msg(name, seq=1)
    assert stored.headers[MSG_ID] == message_id(cause, 1)
    assert stored.headers["Kind"] == "welcome"
    await js.delete_stream(name)


@pytest.mark.anyio
async def test_publish_to_an_uncaptured_subject_is_a_core_publish(nc: Any) -> None:
    """Without a stream the message is published on core NATS, message id header included."""
    subject = unique("core")
    sub = await nc.subscribe(subject)
    store = InMemoryEventStore(types=bank_types)
    cause = await opened_event(store)
    executor = NatsExecutor(nc, nc.jetstream())
    await executor.for_event(cause).execute([Publish(subject, b"hi")])
    msg = await sub.next_msg(timeout=2)
    assert (msg.data, msg.headers[MSG_ID]) == (b"hi", message_id(cause, 0))


@pytest.mark.anyio
async def test_emit_event_appends_once_with_the_causes_ids(nc: Any) -> None:
    """An emitted event carries the cause's correlation id and id; replaying it appends nothing."""
    store = InMemoryEventStore(types=bank_types)
    cause = await opened_event(store)
    target = StreamId("account", unique("b"))
    executor = NatsExecutor(nc, nc.jetstream(), store=store)
    for _ in range(2):
        assert await executor.for_event(cause).execute([EmitEvent(target, Deposited("b", 5))]) == (
            Success(None)
        )
    (emitted,) = (await store.read(target)).unwrap()
    assert emitted.event_id == derived_event_id(cause, 0)
    assert emitted.event_id.version == 7
    assert (emitted.correlation_id, emitted.causation_id) == ("corr-1", str(cause.event_id))


@pytest.mark.anyio
async def test_log_effects_become_log_records(nc: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A Log effect is a logging record at its level, with its fields attached."""
    executor = NatsExecutor(nc, nc.jetstream())
    with caplog.at_level(logging.INFO, logger="cim.effects"):
        await executor.execute([Log("warning", "overdrawn", {"account": "a-1"})])
    (record,) = caplog.records
    assert (record.levelname, record.getMessage()) == ("WARNING", "overdrawn")
    assert record.fields == {"account": "a-1"}  # type: ignore[attr-defined]


@pytest.mark.anyio
async def test_unhandled_effects_fail_before_anything_runs(nc: Any) -> None:
    """EmitEvent without a store (or a foreign effect) fails clearly, and nothing ran."""
    table = unique("rows")
    executor = NatsExecutor(nc, nc.jetstream())
    emit = EmitEvent(StreamId("account", "x"), Deposited("x", 1))
    result = await executor.execute([DatabaseWrite(table, "k", {"v": 1}), emit])
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), UnhandledEffect)
    assert "EmitEvent" in str(result.failure())
    assert await executor.read_model.rows(table) == Success({})
    foreign = await executor.execute(["not an effect"])  # type: ignore[list-item]
    assert isinstance(foreign.failure(), UnhandledEffect)
