"""The in-memory store passes the store contract, plus its own edges."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import anyio
import pytest

from cim import AnyVersion, AppendTooLarge, EventTypes, NewEvent, StreamId
from interpreters.stores.memory import InMemoryEventStore
from interpreters.stores.protocol import EventStore, Loaded, SnapshotStore
from laws.conformance import Deposited, EventStoreContract, contract_types


class TestInMemoryEventStore(EventStoreContract):
    """The contract against ``InMemoryEventStore``."""

    @pytest.fixture
    def store(self, types: EventTypes) -> InMemoryEventStore:
        """A fresh in-memory store."""
        return InMemoryEventStore(types=types)


def test_memory_store_implements_the_protocols() -> None:
    """InMemoryEventStore is an EventStore and a SnapshotStore."""
    store = InMemoryEventStore(types=contract_types())
    assert isinstance(store, EventStore)
    assert isinstance(store, SnapshotStore)


@pytest.mark.parametrize("wrong", [[Deposited], Deposited, None])
def test_types_other_than_a_registry_are_refused_with_a_hint(wrong: Any) -> None:
    """A list of classes (or a class) for types= is a TypeError showing how to build a registry."""
    with pytest.raises(TypeError, match=r"types must be an EventTypes registry, e\.g\. EventTypes"):
        InMemoryEventStore(types=wrong)


@pytest.mark.anyio
async def test_close_keeps_the_events_and_ends_subscriptions_after_the_backlog() -> None:
    """After close() the events stay; a subscribe yields the backlog, then StoreUnavailable."""
    store = InMemoryEventStore(types=contract_types())
    stream = StreamId("acc", "1")
    await store.append(stream, [NewEvent(Deposited(1))])
    await store.close()
    seen = [item async for item in store.subscribe()]
    assert [type(item).__name__ for item in seen] == ["Success", "Failure"]
    assert str(seen[-1].failure()) == "store unavailable: the store is closed"
    assert (await store.version(stream)).unwrap() == 1


@pytest.mark.anyio
async def test_injected_clock_and_ids_are_used() -> None:
    """Ids and recorded_at come from the injected sources."""
    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    ids = iter([UUID(int=1), UUID(int=2)])
    store = InMemoryEventStore(
        types=contract_types(), clock=lambda: moment, new_id=lambda: next(ids)
    )
    stream = StreamId("acc", "1")
    await store.append(stream, [NewEvent(Deposited(1)), NewEvent(Deposited(2))])
    read = (await store.read(stream)).unwrap()
    assert [e.event_id for e in read] == [UUID(int=1), UUID(int=2)]
    assert {e.recorded_at for e in read} == {moment}


@pytest.mark.anyio
async def test_append_over_the_limit_is_refused() -> None:
    """An append with more events than max_append is AppendTooLarge, nothing stored."""
    store = InMemoryEventStore(types=contract_types(), max_append=3)
    stream = StreamId("acc", "1")
    result = await store.append(stream, [NewEvent(Deposited(i)) for i in range(4)])
    assert result.failure() == AppendTooLarge(4, 3)
    assert (await store.version(stream)).unwrap() == 0


@pytest.mark.anyio
async def test_reading_from_version_zero_is_a_programmer_error() -> None:
    """from_version below 1 raises ValueError naming the value."""
    store = InMemoryEventStore(types=contract_types())
    with pytest.raises(ValueError, match="from_version must be an int >= 1, got 0"):
        await store.read(StreamId("a", "b"), from_version=0)


_ANY = AnyVersion()


class _IgnoresExpectations(InMemoryEventStore):
    """Planted bug: every append behaves as AnyVersion."""

    async def append(self, stream: Any, events: Any, *, expected: Any = _ANY) -> Any:
        return await super().append(stream, events)


class _NotAtomic(InMemoryEventStore):
    """Planted bug: a multi-event append is stored one event at a time, yielding in between."""

    async def append(self, stream: Any, events: Any, *, expected: Any = _ANY) -> Any:
        result = await super().append(stream, events[:1], expected=expected)
        for event in events[1:]:
            await anyio.sleep(0.001)
            result = await super().append(stream, [event])
        return result


class _NotIdempotent(InMemoryEventStore):
    """Planted bug: a retried append is stored again instead of recognised."""

    def _retried(self, stream: Any, events: Any) -> None:
        self._by_id.clear()  # forget every id, so the retry is neither recognised nor refused
        return


class _RetryOnlyAtTheTip(InMemoryEventStore):
    """Planted bug: a retry is recognised only while its events are the stream's last."""

    def _retried(self, stream: Any, events: Any) -> Any:
        found = super()._retried(stream, events)
        if found is not None and found.version != len(self._streams[stream]):
            self._by_id.clear()
            return None
        return found


class _AcceptsReusedIds(InMemoryEventStore):
    """Planted bug: ids already naming other events are stored again."""

    async def append(self, stream: Any, events: Any, *, expected: Any = _ANY) -> Any:
        self._by_id.clear()
        fresh = [NewEvent(e.payload, event_id=uuid4()) for e in events]
        return await super().append(stream, fresh, expected=expected)


class _TrustsAnySnapshot(InMemoryEventStore):
    """Planted bug: a snapshot beyond the stream's end is used."""

    async def load_snapshot(self, stream: Any) -> Any:
        snapshot = self._snapshots.get(stream)
        if snapshot is None:
            return await super().load_snapshot(stream)
        read = await self.read(stream, from_version=snapshot.version + 1)
        return read.map(lambda events: Loaded(snapshot, events))


class _IgnoresCategories(InMemoryEventStore):
    """Planted bug: categories= is accepted and ignored (every category is yielded)."""

    def read_all(self, *, from_position: int = 1, categories: Any = None) -> Any:
        return super().read_all(from_position=from_position)

    def subscribe(self, *, from_position: int = 1, categories: Any = None) -> Any:
        return super().subscribe(from_position=from_position)


class _FiltersOnlyReads(InMemoryEventStore):
    """Planted bug: read_all filters by category, subscribe does not."""

    def subscribe(self, *, from_position: int = 1, categories: Any = None) -> Any:
        return super().subscribe(from_position=from_position)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("broken", "test"),
    [
        (_IgnoresExpectations, "test_exactly_expectation"),
        (_IgnoresExpectations, "test_no_stream_expectation"),
        (_IgnoresExpectations, "test_racing_writers_each_version_won_once"),
        (_NotAtomic, "test_concurrent_batches_do_not_interleave"),
        (_NotIdempotent, "test_retry_with_same_event_ids_stores_once"),
        (_RetryOnlyAtTheTip, "test_retry_after_others_appended_answers_the_original"),
        (_AcceptsReusedIds, "test_event_id_of_another_event_is_refused"),
        (_TrustsAnySnapshot, "test_snapshot_beyond_the_stream_is_ignored"),
        (_IgnoresCategories, "test_read_all_and_subscribe_filter_by_category"),
        (_FiltersOnlyReads, "test_read_all_and_subscribe_filter_by_category"),
    ],
)
async def test_contract_rejects_planted_broken_stores(
    broken: type[InMemoryEventStore], test: str
) -> None:
    """The contract fails a store with a planted bug (so it can fail at all)."""
    contract = EventStoreContract()
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        await getattr(contract, test)(broken(types=contract_types()))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("categories", "error"),
    [("order", TypeError), (["a.b"], ValueError), ([1], TypeError)],
)
async def test_bad_categories_are_programmer_errors(categories: Any, error: type) -> None:
    """A bare string, a bad token or a non-string for categories= raises at once."""
    store = InMemoryEventStore(types=contract_types())
    with pytest.raises(error):
        await anext(store.read_all(categories=categories))
    with pytest.raises(error):
        await anext(store.subscribe(categories=categories))
