"""``EventStoreContract``: the store contract as a pytest test class for any implementation.

Subclass it in your test suite and provide a ``store`` fixture (sync or async, e.g. an async
generator that opens and closes your store) that returns a fresh, empty store built with the
``types`` fixture's registry::

    import pytest
    from laws.conformance import EventStoreContract
    from interpreters.stores.memory import InMemoryEventStore

    class TestMyStore(EventStoreContract):
        @pytest.fixture
        def store(self, types):
            return InMemoryEventStore(types=types)

The tests are async and run on anyio's pytest plugin (asyncio backend); override ``types`` to
add your own payload classes (keep the contract's: :func:`contract_types`).

Why one module of some 550 lines: the contract is one class a user subclasses, and its tests share
a handful of small helpers; split into mixins it would only scatter one list of promises. Its
sections (append and read, expectations, atomicity, idempotency, global reads, payloads,
snapshots) are marked by ruler comments: a new promise goes in its section.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import anyio
import pytest
from attrs import frozen
from pyrsistent import pmap
from returns.result import Failure, Result, Success

from cim import (
    AnyVersion,
    AppendResult,
    AppendTooLarge,
    EmptyAppend,
    EventEnvelope,
    EventTooLarge,
    EventTypes,
    Exactly,
    ExpectedVersion,
    NewEvent,
    NoStream,
    SnapshotTooLarge,
    StoreUnavailable,
    StreamExists,
    StreamId,
    WrongExpectedVersion,
)
from interpreters.stores.protocol import (
    ChainedAppends,
    EventStore,
    ReusedEventIds,
    SnapshotStore,
)

__all__ = ("EventStoreContract", "Deposited", "Noted", "contract_types")

_WAIT = 10.0  # seconds any single contract step may take before the test fails


@frozen
class Deposited:
    """A contract payload: money into an account."""

    amount: int


@frozen
class Noted:
    """A contract payload carrying free text (unicode, large bodies)."""

    text: str


def contract_types() -> EventTypes:
    """The payload classes the contract appends."""
    return EventTypes().register(Deposited).register(Noted)


def _stream(category: str = "contract") -> StreamId:
    return StreamId(category, uuid4().hex)


def _deposits(*amounts: int, **ids: Any) -> list[NewEvent[Any]]:
    return [NewEvent(Deposited(a), **ids) for a in amounts]


def _identified(*amounts: int) -> list[NewEvent[Any]]:
    """Deposits with caller-given event ids (what a retry repeats)."""
    return [NewEvent(Deposited(a), event_id=uuid4()) for a in amounts]


def _ok(result: Result[Any, Any]) -> Any:
    assert isinstance(result, Success), f"expected success, got {result}"
    return result.unwrap()


def _failure(result: Result[Any, Any]) -> Any:
    assert isinstance(result, Failure), f"expected a failure, got {result}"
    return result.failure()


async def _read(store: EventStore, stream: StreamId, from_version: int = 1) -> list[Any]:
    return list(_ok(await store.read(stream, from_version=from_version)))


async def _collect(events: Any, limit: int | None = None) -> list[EventEnvelope[Any]]:
    found: list[EventEnvelope[Any]] = []
    async with contextlib.aclosing(events) as iterator:
        async for result in iterator:
            found.append(_ok(result))
            if limit is not None and len(found) >= limit:
                break
    return found


def _amounts(envelopes: Sequence[EventEnvelope[Any]]) -> list[int]:
    return [e.payload.amount for e in envelopes]


class EventStoreContract:
    """The behaviour every :class:`~interpreters.stores.protocol.EventStore` must show."""

    pytestmark = pytest.mark.anyio

    @pytest.fixture
    def anyio_backend(self) -> str:
        """The contract runs on asyncio (nats-py needs it)."""
        return "asyncio"

    @pytest.fixture
    def types(self) -> EventTypes:
        """The registry the ``store`` fixture must be built with."""
        return contract_types()

    # ---------------------------------------------------------------- append and read

    async def test_append_then_read_round_trip(self, store: EventStore) -> None:
        """Appended events read back equal, with ids, versions and metadata filled in."""
        stream = _stream()
        event_id = UUID("0190b0f4-0000-7000-8000-000000000001")
        events = [
            NewEvent(
                Deposited(5),
                event_id=event_id,
                correlation_id="corr-1",
                causation_id="cause-1",
                metadata=pmap({"user": "ann"}),
            ),
            NewEvent(Noted("hello")),
        ]
        result = _ok(await store.append(stream, events, expected=NoStream()))
        read = await _read(store, stream)
        assert [e.payload for e in read] == [Deposited(5), Noted("hello")]
        assert [e.version for e in read] == [1, 2]
        assert result == AppendResult(2, read[-1].position)
        first = read[0]
        assert (first.event_id, first.correlation_id, first.causation_id) == (
            event_id,
            "corr-1",
            "cause-1",
        )
        assert first.metadata == pmap({"user": "ann"})
        assert first.stream == stream
        assert (first.event_type, read[1].event_type) == ("Deposited", "Noted")
        assert read[1].event_id != event_id
        assert first.recorded_at.utcoffset() == timedelta(0)

    async def test_versions_run_from_one_without_gaps(self, store: EventStore) -> None:
        """Successive appends number a stream's events 1..n and report the new version."""
        stream = _stream()
        versions = []
        for amounts in [(1,), (2, 3), (4,), (5, 6, 7)]:
            versions.append(_ok(await store.append(stream, _deposits(*amounts))).version)
        read = await _read(store, stream)
        assert versions == [1, 3, 4, 7]
        assert [e.version for e in read] == list(range(1, 8))
        assert _amounts(read) == list(range(1, 8))
        assert _ok(await store.version(stream)) == 7

    async def test_positions_increase_across_streams(self, store: EventStore) -> None:
        """Positions are global: every append lands after the previous one, in any stream."""
        last = 0
        for stream in [_stream(), _stream("other"), _stream()]:
            result = _ok(await store.append(stream, _deposits(1, 2)))
            read = await _read(store, stream)
            assert read[0].position > last
            assert read[1].position > read[0].position
            assert result.position == read[-1].position
            last = result.position

    async def test_missing_stream_is_empty_at_version_zero(self, store: EventStore) -> None:
        """A stream never written reads as empty and has version 0."""
        stream = _stream()
        assert await _read(store, stream) == []
        assert _ok(await store.version(stream)) == 0
        assert await _collect(store.iter_stream(stream)) == []

    async def test_empty_append_is_refused(self, store: EventStore) -> None:
        """Appending no events fails with EmptyAppend and creates nothing."""
        stream = _stream()
        assert _failure(await store.append(stream, [])) == EmptyAppend(stream)
        assert _ok(await store.version(stream)) == 0

    async def test_read_from_version(self, store: EventStore) -> None:
        """read(from_version=k) starts at event k; past the end it is empty."""
        stream = _stream()
        _ok(await store.append(stream, _deposits(1, 2, 3, 4, 5)))
        assert [e.version for e in await _read(store, stream, 3)] == [3, 4, 5]
        assert [e.version for e in await _read(store, stream, 5)] == [5]
        assert await _read(store, stream, 6) == []
        iterated = await _collect(store.iter_stream(stream, from_version=2))
        assert [e.version for e in iterated] == [2, 3, 4, 5]

    # ---------------------------------------------------------------- expectations

    async def test_no_stream_expectation(self, store: EventStore) -> None:
        """NoStream appends only to an empty stream; otherwise it reports the actual version."""
        stream = _stream()
        _ok(await store.append(stream, _deposits(1), expected=NoStream()))
        conflict = _failure(await store.append(stream, _deposits(2), expected=NoStream()))
        assert conflict == WrongExpectedVersion(stream, NoStream(), 1)
        assert _amounts(await _read(store, stream)) == [1]

    async def test_stream_exists_expectation(self, store: EventStore) -> None:
        """StreamExists fails on an empty stream and appends to one with events."""
        stream = _stream()
        conflict = _failure(await store.append(stream, _deposits(1), expected=StreamExists()))
        assert conflict == WrongExpectedVersion(stream, StreamExists(), 0)
        assert _ok(await store.version(stream)) == 0
        _ok(await store.append(stream, _deposits(1)))
        result = _ok(await store.append(stream, _deposits(2, 3), expected=StreamExists()))
        assert result.version == 3
        assert [e.version for e in await _read(store, stream)] == [1, 2, 3]

    async def test_exactly_expectation(self, store: EventStore) -> None:
        """Exactly(n) appends only at version n and reports the actual version otherwise."""
        stream = _stream()
        assert _ok(await store.append(stream, _deposits(1), expected=Exactly(0))).version == 1
        assert _ok(await store.append(stream, _deposits(2, 3), expected=Exactly(1))).version == 3
        for stale in [Exactly(0), Exactly(1), Exactly(2), Exactly(4)]:
            conflict = _failure(await store.append(stream, _deposits(9), expected=stale))
            assert conflict == WrongExpectedVersion(stream, stale, 3)
        assert _ok(await store.append(stream, _deposits(4), expected=Exactly(3))).version == 4
        assert _amounts(await _read(store, stream)) == [1, 2, 3, 4]

    async def test_any_version_appends_whatever_the_version(self, store: EventStore) -> None:
        """AnyVersion appends to empty and non-empty streams, numbering events correctly."""
        stream = _stream()
        assert _ok(await store.append(stream, _deposits(1), expected=AnyVersion())).version == 1
        assert _ok(await store.append(stream, _deposits(2), expected=AnyVersion())).version == 2
        assert [e.version for e in await _read(store, stream)] == [1, 2]

    async def test_racing_writers_each_version_won_once(self, store: EventStore) -> None:
        """20 writers racing with Exactly: one winner per version, losers see the actual version."""
        stream = _stream()
        writers = 20
        won: dict[int, int] = {}
        conflicts: list[tuple[ExpectedVersion, int]] = []
        start = anyio.Event()

        async def writer(number: int) -> None:
            await start.wait()
            expected = 0
            while True:
                result = await store.append(stream, _deposits(number), expected=Exactly(expected))
                if isinstance(result, Success):
                    assert result.unwrap().version not in won, "a version was won twice"
                    won[result.unwrap().version] = number
                    return
                conflict = _failure(result)
                assert isinstance(conflict, WrongExpectedVersion), conflict
                assert conflict.expected == Exactly(expected)
                assert conflict.actual > expected, conflict
                conflicts.append((conflict.expected, conflict.actual))
                expected = conflict.actual

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                for number in range(writers):
                    group.start_soon(writer, number)
                start.set()
        read = await _read(store, stream)
        assert [e.version for e in read] == list(range(1, writers + 1))
        assert sorted(_amounts(read)) == list(range(writers)), "an event was lost or duplicated"
        assert {e.version: e.payload.amount for e in read} == won
        assert conflicts, "20 racing writers never conflicted: expectations are not checked"
        assert all(actual <= writers for _, actual in conflicts)

    # ---------------------------------------------------------------- atomicity

    async def test_failed_expectation_stores_none_of_the_batch(self, store: EventStore) -> None:
        """A multi-event append whose expectation fails stores none of its events."""
        stream = _stream()
        _ok(await store.append(stream, _deposits(1, 2)))
        _failure(await store.append(stream, _deposits(3, 4, 5), expected=Exactly(1)))
        _failure(await store.append(stream, _deposits(3, 4, 5), expected=NoStream()))
        assert _amounts(await _read(store, stream)) == [1, 2]
        assert _ok(await store.version(stream)) == 2

    async def test_concurrent_batches_do_not_interleave(self, store: EventStore) -> None:
        """Concurrent multi-event appends to one stream each land as one contiguous run."""
        stream = _stream()
        batches = 8
        size = 5

        async def writer(number: int) -> None:
            amounts = [number * 100 + i for i in range(size)]
            _ok(await store.append(stream, _deposits(*amounts)))

        with anyio.fail_after(_WAIT * 3):
            async with anyio.create_task_group() as group:
                for number in range(batches):
                    group.start_soon(writer, number)
        amounts = _amounts(await _read(store, stream))
        assert len(amounts) == batches * size
        for start in range(0, len(amounts), size):
            run = amounts[start : start + size]
            assert run == [run[0] + i for i in range(size)], f"interleaved batch: {amounts}"

    async def test_oversized_append_refused_whole(self, store: EventStore) -> None:
        """An append larger than the store's atomic limit is refused whole, or stored whole."""
        stream = _stream()
        count = 5000
        result = await store.append(stream, _deposits(*range(count)))
        if isinstance(result, Failure):
            assert isinstance(result.failure(), AppendTooLarge), result
            assert result.failure().count == count
            assert _ok(await store.version(stream)) == 0
        else:
            assert _amounts(await _read(store, stream)) == list(range(count))

    # ---------------------------------------------------------------- chained appends

    async def test_a_chain_stores_each_event_after_the_one_before(self, store: EventStore) -> None:
        """``append_chain`` (stores that offer it) stores its events at the next versions and
        consecutive positions, and answers each one's result."""
        if not isinstance(store, ChainedAppends):
            pytest.skip("this store has no append_chain")
        stream = _stream()
        _ok(await store.append(stream, _deposits(1)))
        stored, failure = await store.append_chain(stream, _deposits(2, 3, 4), expected=Exactly(1))
        assert failure is None
        read = await _read(store, stream)
        assert [(r.version, r.position) for r in stored] == [
            (e.version, e.position) for e in read[1:]
        ]
        assert [r.position for r in stored] == [stored[0].position + i for i in range(3)]
        assert _amounts(read) == [1, 2, 3, 4]

    async def test_a_chain_on_a_moved_stream_stores_nothing(self, store: EventStore) -> None:
        """A chain whose first expectation fails stores nothing and says why."""
        if not isinstance(store, ChainedAppends):
            pytest.skip("this store has no append_chain")
        stream = _stream()
        _ok(await store.append(stream, _deposits(1, 2)))
        stored, failure = await store.append_chain(stream, _deposits(3, 4), expected=Exactly(1))
        assert stored == ()
        assert failure == WrongExpectedVersion(stream, Exactly(1), 2)
        assert _amounts(await _read(store, stream)) == [1, 2]
        assert (await store.append_chain(stream, [], expected=Exactly(2)))[1] == EmptyAppend(stream)

    async def test_racing_chains_store_prefixes_without_gaps(self, store: EventStore) -> None:
        """Chains racing on one stream: the stream is the events of whole prefixes, each at one
        version, and each chain's answers name what it stored."""
        if not isinstance(store, ChainedAppends):
            pytest.skip("this store has no append_chain")
        stream = _stream()
        answers: list[tuple[tuple[AppendResult, ...], Any]] = []

        async def chain(base: int) -> None:
            amounts = range(base, base + 5)
            answers.append(
                await store.append_chain(stream, _deposits(*amounts), expected=Exactly(0))
            )

        with anyio.fail_after(_WAIT):
            async with anyio.create_task_group() as group:
                for base in (10, 20, 30):
                    group.start_soon(chain, base)
        read = await _read(store, stream)
        assert [e.version for e in read] == list(range(1, len(read) + 1))
        assert sum(len(stored) for stored, _ in answers) == len(read) == 5
        by_position = {e.position: e for e in read}
        for stored, _ in answers:
            assert [by_position[r.position].version for r in stored] == [r.version for r in stored]

    # ---------------------------------------------------------------- idempotency

    async def test_retry_with_same_event_ids_stores_once(self, store: EventStore) -> None:
        """Appending the same events again (a retry) answers the original result, stores once."""
        stream = _stream()
        batch = [NewEvent(Deposited(i), event_id=uuid4()) for i in range(3)]
        first = _ok(await store.append(stream, batch, expected=NoStream()))
        again = _ok(await store.append(stream, batch, expected=NoStream()))
        assert again == first
        single = [NewEvent(Deposited(9), event_id=uuid4())]
        one = _ok(await store.append(stream, single, expected=Exactly(3)))
        assert _ok(await store.append(stream, single, expected=Exactly(3))) == one
        assert _ok(await store.append(stream, single)) == one
        read = await _read(store, stream)
        assert _amounts(read) == [0, 1, 2, 9]
        assert [e.event_id for e in read] == [e.event_id for e in [*batch, *single]]

    async def test_retry_after_others_appended_answers_the_original(
        self, store: EventStore
    ) -> None:
        """A retry whose first attempt landed before others appended answers the original."""
        stream = _stream()
        batch = _identified(1, 2)
        first = _ok(await store.append(stream, batch, expected=NoStream()))
        _ok(await store.append(stream, _deposits(3)))
        assert _ok(await store.append(stream, batch, expected=NoStream())) == first
        single = _identified(4)
        one = _ok(await store.append(stream, single, expected=Exactly(3)))
        _ok(await store.append(stream, _deposits(5)))
        assert _ok(await store.append(stream, single, expected=Exactly(3))) == one
        assert _amounts(await _read(store, stream)) == [1, 2, 3, 4, 5]

    async def test_event_id_of_another_event_is_refused(self, store: EventStore) -> None:
        """An id already naming an event elsewhere (or twice in one append) stores nothing."""
        stream, other = _stream(), _stream()
        stored = _identified(1, 2)
        _ok(await store.append(stream, stored))
        with pytest.raises(ReusedEventIds):  # the same id in another stream
            await store.append(other, [stored[0]])
        with pytest.raises(ReusedEventIds):  # a stored run, extended: not a retry
            await store.append(stream, [*stored, *_deposits(3)])
        with pytest.raises(ReusedEventIds):  # ending like the stream does: not a retry either
            await store.append(stream, [*_identified(3), stored[-1]])
        twice = NewEvent(Deposited(7), event_id=uuid4())
        with pytest.raises(ReusedEventIds):
            await store.append(other, [twice, twice])
        assert _ok(await store.version(other)) == 0
        assert _amounts(await _read(store, stream)) == [1, 2]

    async def test_arguments_of_the_wrong_kind_are_type_errors(self, store: EventStore) -> None:
        """A str stream, a bare NewEvent, a bare payload or an int expectation: TypeError."""
        stream = _stream()
        wrong: list[tuple[Any, Any, Any]] = [
            (str(stream), _deposits(1), AnyVersion()),
            (stream, NewEvent(Deposited(1)), AnyVersion()),
            (stream, [Deposited(1)], AnyVersion()),
            (stream, _deposits(1), 0),
        ]
        for target, events, expected in wrong:
            with pytest.raises(TypeError):
                await store.append(target, events, expected=expected)
        with pytest.raises(TypeError, match="registered"):
            await store.append(stream, [NewEvent(object())])
        assert _ok(await store.version(stream)) == 0

    # ---------------------------------------------------------------- global reads

    async def test_read_all_in_global_order(self, store: EventStore) -> None:
        """read_all yields every event across streams in append order, then ends."""
        streams = [_stream("a"), _stream("b"), _stream("c")]
        first = None
        expected = []
        for round_ in range(3):
            for index, stream in enumerate(streams):
                amount = round_ * 10 + index
                result = _ok(await store.append(stream, _deposits(amount)))
                first = first or result.position
                expected.append((stream, amount))
        assert first is not None
        with anyio.fail_after(_WAIT):
            found = await _collect(store.read_all(from_position=first))
        assert [(e.stream, e.payload.amount) for e in found] == expected
        positions = [e.position for e in found]
        assert positions == sorted(set(positions))
        with anyio.fail_after(_WAIT):
            later = await _collect(store.read_all(from_position=positions[4]))
        assert later == found[4:]
        with anyio.fail_after(_WAIT):
            assert await _collect(store.read_all(from_position=positions[-1] + 1)) == []

    async def test_read_all_and_subscribe_filter_by_category(self, store: EventStore) -> None:
        """Given categories, read_all and subscribe yield only those categories' events, in
        global order (the backlog, then live events), and never another category's."""
        tag = uuid4().hex[:8]
        wanted, other, third = f"in{tag}", f"out{tag}", f"also{tag}"
        appended: list[tuple[str, int]] = []
        first = None
        for round_ in range(2):
            for index, category in enumerate((wanted, other, third)):
                amount = round_ * 10 + index
                result = _ok(await store.append(_stream(category), _deposits(amount)))
                first = first or result.position
                appended.append((category, amount))
        assert first is not None
        chosen = {wanted, third}
        expected = [(c, a) for c, a in appended if c in chosen]
        with anyio.fail_after(_WAIT):
            found = await _collect(store.read_all(from_position=first, categories=chosen))
        assert [(e.stream.category, e.payload.amount) for e in found] == expected
        assert [e.position for e in found] == sorted(e.position for e in found)
        with anyio.fail_after(_WAIT):
            only_other = await _collect(store.read_all(from_position=first, categories=[other]))
            none = await _collect(store.read_all(from_position=first, categories=[]))
        assert [e.payload.amount for e in only_other] == [1, 11]
        assert none == []  # no category: nothing
        seen: list[EventEnvelope[Any]] = []
        live = anyio.Event()

        async def follow() -> None:
            subscription = store.subscribe(from_position=first, categories=[wanted])
            async with contextlib.aclosing(subscription) as events:
                async for result in events:
                    seen.append(_ok(result))
                    if len(seen) == 3:
                        live.set()

        with anyio.fail_after(_WAIT):
            async with anyio.create_task_group() as group:
                group.start_soon(follow)
                _ok(await store.append(_stream(other), _deposits(98)))
                _ok(await store.append(_stream(wanted), _deposits(99)))
                await live.wait()
                group.cancel_scope.cancel()
        assert [(e.stream.category, e.payload.amount) for e in seen] == [
            (wanted, 0),
            (wanted, 10),
            (wanted, 99),
        ]

    async def test_subscribe_backlog_then_live_until_cancelled(self, store: EventStore) -> None:
        """subscribe yields the backlog, then live events in order, and stops when cancelled."""
        stream = _stream()
        first = _ok(await store.append(stream, _deposits(1, 2, 3))).position - 2
        seen: list[EventEnvelope[Any]] = []
        got = {3: anyio.Event(), 6: anyio.Event()}

        async def follow() -> None:
            async with contextlib.aclosing(store.subscribe(from_position=first)) as events:
                async for result in events:
                    seen.append(_ok(result))
                    if len(seen) in got:
                        got[len(seen)].set()

        with anyio.fail_after(_WAIT):
            async with anyio.create_task_group() as group:
                group.start_soon(follow)
                await got[3].wait()
                _ok(await store.append(stream, _deposits(4)))
                _ok(await store.append(stream, _deposits(5, 6)))
                await got[6].wait()
                group.cancel_scope.cancel()
        assert _amounts(seen) == [1, 2, 3, 4, 5, 6]
        assert [e.version for e in seen] == [1, 2, 3, 4, 5, 6]
        _ok(await store.append(stream, _deposits(7)))
        assert len(seen) == 6

    async def test_close_ends_running_subscriptions(self, store: EventStore) -> None:
        """Closing the store (stores with ``close``) ends a live subscribe with StoreUnavailable."""
        close = getattr(store, "close", None)
        if close is None:
            pytest.skip("this store has no close()")
        position = _ok(await store.append(_stream(), _deposits(1))).position
        seen: list[Any] = []
        first = anyio.Event()

        async def follow() -> None:
            async for item in store.subscribe(from_position=position):
                seen.append(item)
                first.set()

        with anyio.fail_after(_WAIT):
            async with anyio.create_task_group() as group:
                group.start_soon(follow)
                await first.wait()
                await close()
        assert [type(item).__name__ for item in seen] == ["Success", "Failure"]
        assert isinstance(seen[-1].failure(), StoreUnavailable)
        assert "closed" in str(seen[-1].failure())

    async def test_read_by_correlation(self, store: EventStore) -> None:
        """read_by_correlation finds a correlation's events across streams, in global order."""
        one, two = _stream(), _stream("other")
        correlation = f"saga-{uuid4().hex}"
        _ok(await store.append(one, _deposits(1, correlation_id=correlation)))
        _ok(await store.append(two, _deposits(2, correlation_id="unrelated")))
        _ok(await store.append(two, _deposits(3, 4, correlation_id=correlation)))
        _ok(await store.append(one, _deposits(5)))
        found = _ok(await store.read_by_correlation(correlation))
        assert [(e.stream, e.payload.amount) for e in found] == [(one, 1), (two, 3), (two, 4)]
        _ok(await store.append(one, _deposits(6, correlation_id=correlation)))
        found = _ok(await store.read_by_correlation(correlation))
        assert _amounts(found) == [1, 3, 4, 6]
        assert _ok(await store.read_by_correlation("nobody-uses-this")) == ()

    # ---------------------------------------------------------------- payloads

    async def test_unicode_and_large_payloads_round_trip(self, store: EventStore) -> None:
        """Unicode text and a large (300 KB) payload read back unchanged."""
        stream = _stream("ünïcödé-流")
        texts = [
            "héllo wörld ✓ 日本語 עברית 🚀🧪",
            'quotes " \\ and \n newlines \t tabs \x00 nul',
            "x" * 300_000,
        ]
        _ok(await store.append(stream, [NewEvent(Noted(t)) for t in texts]))
        assert [e.payload.text for e in await _read(store, stream)] == texts

    async def test_oversized_event_refused(self, store: EventStore) -> None:
        """An event larger than the store accepts is refused with EventTooLarge, nothing stored."""
        stream = _stream()
        big = NewEvent(Noted("y" * 8 * 1024 * 1024), event_id=uuid4())
        refused = _failure(await store.append(stream, [NewEvent(Noted("small")), big]))
        assert isinstance(refused, EventTooLarge), refused
        assert refused.event_id == big.event_id
        assert refused.size > refused.limit
        assert "bytes" in str(refused)
        assert _ok(await store.version(stream)) == 0

    # ---------------------------------------------------------------- snapshots

    async def test_snapshot_then_events_after_it(self, store: EventStore) -> None:
        """A saved snapshot loads back with exactly the events after it (stores with snapshots)."""
        if not isinstance(store, SnapshotStore):
            pytest.skip("this store keeps no snapshots")
        stream = _stream()
        empty = _ok(await store.load_snapshot(stream))
        assert (empty.snapshot, empty.events, empty.version) == (None, (), 0)
        _ok(await store.append(stream, _deposits(1, 2, 3)))
        whole = _ok(await store.load_snapshot(stream))
        assert (whole.snapshot, _amounts(whole.events)) == (None, [1, 2, 3])
        saved = _ok(await store.save_snapshot(stream, 2, b'{"balance": 3}'))
        _ok(await store.append(stream, _deposits(4)))
        loaded = _ok(await store.load_snapshot(stream))
        assert loaded.snapshot == saved
        assert (saved.version, saved.state) == (2, b'{"balance": 3}')
        assert _amounts(loaded.events) == [3, 4]
        assert loaded.version == 4

    async def test_snapshot_beyond_the_stream_is_ignored(self, store: EventStore) -> None:
        """A snapshot saved with a version the stream never reached is not used when loading."""
        if not isinstance(store, SnapshotStore):
            pytest.skip("this store keeps no snapshots")
        stream = _stream()
        _ok(await store.append(stream, _deposits(1)))
        _ok(await store.save_snapshot(stream, 5, b"wrong"))
        loaded = _ok(await store.load_snapshot(stream))
        assert (loaded.snapshot, _amounts(loaded.events), loaded.version) == (None, [1], 1)

    async def test_snapshot_arguments_are_checked(self, store: EventStore) -> None:
        """Snapshot state must be bytes and the version >= 1; an oversized one is refused."""
        if not isinstance(store, SnapshotStore):
            pytest.skip("this store keeps no snapshots")
        stream = _stream()
        _ok(await store.append(stream, _deposits(1)))
        with pytest.raises(TypeError, match="bytes"):
            await store.save_snapshot(stream, 1, "text")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=">= 1"):
            await store.save_snapshot(stream, 0, b"state")
        huge = _failure(await store.save_snapshot(stream, 1, b"x" * (8 * 1024 * 1024)))
        assert isinstance(huge, SnapshotTooLarge)
        assert (huge.stream, huge.size > huge.limit) == (stream, True)
        assert _ok(await store.load_snapshot(stream)).snapshot is None
