"""Large payloads by reference on a real server: a 5 MB event goes through the store and a
projection; missing and corrupted objects are clear errors; appends stay atomic and idempotent."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from attrs import frozen
from returns.result import Failure

from cim import (
    CorruptEvent,
    EventTypes,
    Exactly,
    NewEvent,
    PayloadDigestMismatch,
    PayloadMissing,
    StreamId,
)
from cim.effects import DatabaseWrite, Effect
from cim.projection import Projection
from interpreters.runtime import InMemoryCheckpoints, InMemoryReadModel, ProjectionRunner
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore, StoreSettings
from interpreters.stores.protocol import EventStore, ReusedEventIds
from laws.conformance import EventStoreContract
from laws.conformance import Noted as ContractNoted

pytestmark = pytest.mark.anyio

FIVE_MB = 5 * 1024 * 1024


@frozen
class Scanned:
    """A document scan: a large blob of text."""

    document: str
    pages: str


@frozen
class Noted:
    """A small event."""

    text: str


TYPES = EventTypes().register(Scanned).register(Noted)


@pytest.fixture
async def store(nats_url: str) -> AsyncIterator[JetStreamEventStore]:
    """A store that puts payloads over 64 KiB in its Object Store, on fresh names."""
    tag = uuid4().hex[:8]
    async with await JetStreamEventStore.connect(
        nats_url,
        types=TYPES,
        stream=f"BIG_{tag}",
        subject_prefix=f"big{tag}",
        payload_threshold=64 * 1024,
    ) as opened:
        yield opened
        js = opened.nc.jetstream()
        with contextlib.suppress(Exception):
            await js.delete_object_store(opened.settings.payload_bucket)
        await js.delete_stream(opened.stream_name)


def big(n: int = FIVE_MB) -> Scanned:
    """A payload of about *n* bytes."""
    return Scanned("doc-1", "".join(chr(65 + i % 26) for i in range(1000)) * (n // 1000))


async def test_a_5mb_event_round_trips_through_the_store_and_a_projection(
    store: JetStreamEventStore,
) -> None:
    """Append, read, read_all, subscribe, read_by_correlation and a projection runner all see
    the 5 MB payload."""
    stream = StreamId("scan", "s-1")
    payload = big()
    events_in = [NewEvent(Noted("before")), NewEvent(payload, correlation_id="scan-42")]
    done = (await store.append(stream, events_in)).unwrap()
    assert done.version == 2
    events = (await store.read(stream)).unwrap()
    assert [e.payload for e in events] == [Noted("before"), payload]
    async with contextlib.aclosing(store.read_all()) as every:
        assert [r.unwrap().payload async for r in every] == [Noted("before"), payload]
    async with contextlib.aclosing(store.subscribe()) as live:
        seen = []
        async for item in live:
            seen.append(item.unwrap().payload)
            if len(seen) == 2:
                break
    assert seen[1] == payload
    correlated = (await store.read_by_correlation("scan-42")).unwrap()
    assert [e.payload for e in correlated] == [payload]
    raw = await store.nc.jetstream().get_msg(store.stream_name, seq=done.position)
    assert raw.headers is not None
    assert raw.headers["Cim-Payload-Ref"] == f"{store.settings.payload_bucket}/{events[1].event_id}"
    assert len(raw.data or b"") < 1024  # the event itself stays small

    def step(total: int, event: Any) -> tuple[int, tuple[Effect, ...]]:
        size = len(event.pages) if isinstance(event, Scanned) else 0
        return total + size, (DatabaseWrite("sizes", "all", {"bytes": total + size}),)

    read_model = InMemoryReadModel()
    runner = ProjectionRunner(
        Projection("sizes", 0, step), store, read_model, InMemoryCheckpoints()
    )
    assert (await runner.catch_up()).unwrap() == done.position
    assert runner.state == len(payload.pages)


async def test_a_missing_or_corrupted_object_is_a_clear_error_value(
    store: JetStreamEventStore,
) -> None:
    """Deleted object: PayloadMissing; other bytes under its name: PayloadDigestMismatch."""
    stream = StreamId("scan", "s-2")
    event_id = UUID(int=42)
    (await store.append(stream, [NewEvent(big(200_000), event_id=event_id)])).unwrap()
    objects = await store.nc.jetstream().object_store(store.settings.payload_bucket)
    await objects.put(str(event_id), b'{"payload": {"document": "x", "pages": "forged"}}')
    read = await store.read(stream)
    assert isinstance(read, Failure)
    corrupt = read.failure()
    assert isinstance(corrupt, CorruptEvent)
    assert isinstance(corrupt.error, PayloadDigestMismatch)
    await objects.delete(str(event_id))
    again = await store.read(stream)
    assert isinstance(again, Failure)
    missing = again.failure()
    assert isinstance(missing, CorruptEvent)
    assert isinstance(missing.error, PayloadMissing)
    assert "is missing" in str(missing)


async def test_a_retried_append_is_stored_once_and_batches_stay_atomic(
    store: JetStreamEventStore,
) -> None:
    """The same event ids appended twice store one event and one object; a mixed batch is whole."""
    stream = StreamId("scan", "s-3")
    event = NewEvent(big(300_000), event_id=UUID(int=7))
    first = (await store.append(stream, [event])).unwrap()
    second = (await store.append(stream, [event])).unwrap()
    assert first == second
    mixed = [NewEvent(Noted("a")), NewEvent(big(100_000)), NewEvent(Noted("b"))]
    (await store.append(stream, mixed)).unwrap()
    events = (await store.read(stream)).unwrap()
    assert [e.version for e in events] == [1, 2, 3, 4]
    assert [type(e.payload).__name__ for e in events] == ["Scanned", "Noted", "Scanned", "Noted"]
    objects = await store.nc.jetstream().object_store(store.settings.payload_bucket)
    names = sorted(info.name for info in await objects.list())
    assert names == sorted([str(UUID(int=7)), str(events[2].event_id)])


async def test_an_event_id_of_another_large_event_is_refused_and_its_object_kept(
    store: JetStreamEventStore,
) -> None:
    """Reusing the id of a stored large event for other bytes raises ReusedEventIds before the
    object is touched: the first event still reads back."""
    first = NewEvent(big(100_000), event_id=UUID(int=77))
    (await store.append(StreamId("scan", "s-4"), [first])).unwrap()
    other = NewEvent(Scanned("doc-2", "z" * 100_000), event_id=UUID(int=77))
    with pytest.raises(ReusedEventIds):
        await store.append(StreamId("scan", "s-5"), [other])
    assert (await store.read(StreamId("scan", "s-4"))).unwrap()[0].payload == first.payload
    assert (await store.read(StreamId("scan", "s-5"))).unwrap() == ()


async def test_a_chain_of_appends_stores_large_payloads_by_reference(
    store: JetStreamEventStore,
) -> None:
    """append_chain (the command handler's path for hot streams) offloads large payloads too."""
    stream = StreamId("scan", "s-6")
    chain = [NewEvent(big(200_000)), NewEvent(Noted("small")), NewEvent(big(FIVE_MB))]
    results, failure = await store.append_chain(stream, chain, expected=Exactly(0))
    assert failure is None
    assert [r.version for r in results] == [1, 2, 3]
    events = (await store.read(stream)).unwrap()
    assert [e.payload for e in events] == [c.payload for c in chain]
    raw = await store.nc.jetstream().get_msg(store.stream_name, seq=results[2].position)
    assert raw.headers is not None
    assert "Cim-Payload-Ref" in raw.headers


def test_without_a_threshold_nothing_changes_and_bad_thresholds_are_refused() -> None:
    """The default stores no payload by reference; a threshold below 1 is a ValueError."""
    assert StoreSettings().payload_threshold is None
    assert StoreSettings(stream="ORDERS").payload_bucket == "ORDERS_payloads"
    for bad in (0, -5, 1.5, True):
        with pytest.raises(ValueError, match="payload_threshold"):
            StoreSettings(payload_threshold=bad)  # type: ignore[arg-type]


class TestJetStreamEventStoreByReference(EventStoreContract):
    """The whole store contract with every payload stored by reference (threshold 1 byte):
    concurrency, atomicity, idempotency and reads hold unchanged."""

    @pytest.fixture
    async def store(
        self, types: EventTypes, nats_server: NatsServer
    ) -> AsyncIterator[JetStreamEventStore]:
        """A store that puts every payload in its Object Store."""
        tag = uuid4().hex[:12]
        async with JetStreamEventStore.connect(
            nats_server.url,
            types=types,
            stream=f"REF_{tag}",
            subject_prefix=f"ref{tag}",
            payload_threshold=1,
        ) as opened:
            yield opened

    async def test_oversized_event_refused(self, store: EventStore) -> None:
        """By reference, an event over the server's max_payload is stored, not refused."""
        stream = StreamId("contract", "big")
        big = NewEvent(ContractNoted("y" * 8 * 1024 * 1024))
        stored = (await store.append(stream, [NewEvent(ContractNoted("small")), big])).unwrap()
        assert stored.version == 2
        assert [e.payload for e in (await store.read(stream)).unwrap()] == [
            ContractNoted("small"),
            big.payload,
        ]
