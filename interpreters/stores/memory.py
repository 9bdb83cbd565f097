"""``InMemoryEventStore``: the whole store contract in one process, no server (the embedded default).

>>> import anyio
>>> from attrs import frozen
>>> from cim import EventTypes, NewEvent, NoStream, StreamId
>>> @frozen
... class Opened:
...     owner: str
>>> async def main() -> None:
...     store = InMemoryEventStore(types=EventTypes().register(Opened))
...     stream = StreamId("account", "a-1")
...     result = await store.append(stream, [NewEvent(Opened("ann"))], expected=NoStream())
...     print(result.unwrap())
...     print([e.payload for e in (await store.read(stream)).unwrap()])
>>> anyio.run(main)
AppendResult(version=1, position=1)
[Opened(owner='ann')]
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Collection, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import anyio
import anyio.lowlevel
from attrs import define, field
from returns.result import Failure, Result, Success
from uuid_utils.compat import uuid7

from cim import (
    AnyVersion,
    AppendError,
    AppendResult,
    AppendTooLarge,
    EmptyAppend,
    EventEnvelope,
    EventTooLarge,
    EventTypes,
    Exactly,
    ExpectedVersion,
    JsonCodec,
    NewEvent,
    SnapshotTooLarge,
    StoreError,
    StoreUnavailable,
    StreamId,
    WrongExpectedVersion,
)
from interpreters.stores.protocol import (
    Loaded,
    ReusedEventIds,
    Snapshot,
    check_append,
    check_categories,
    check_chain,
    check_from,
    encoded_size,
    snapshot_size,
    utc_now,
)

__all__ = ("InMemoryEventStore",)

DEFAULT_MAX_EVENT_BYTES = 1024 * 1024
DEFAULT_MAX_APPEND = 1000


def _check_positive(_: object, attribute: Any, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be a positive int, got {value!r}")


@define
class InMemoryEventStore:
    """Every stream in lists in memory, with the same semantics as the JetStream store.

    ``clock`` and ``new_id`` (UUIDv7 by default) are the edge's sources of time and ids; pass
    fixed ones in tests. Events are encoded once on append so that the size limit
    (``max_event_bytes``, NATS's default ``max_payload``) and unregistered types fail here as
    they would on a server. At most ``max_append`` events are appended at once.
    """

    types: EventTypes
    clock: Callable[[], datetime] = utc_now
    new_id: Callable[[], UUID] = uuid7
    max_event_bytes: int = field(default=DEFAULT_MAX_EVENT_BYTES, validator=_check_positive)
    max_append: int = field(default=DEFAULT_MAX_APPEND, validator=_check_positive)
    _codec: JsonCodec = field(init=False)
    _log: list[EventEnvelope[Any]] = field(init=False, factory=list)
    _streams: dict[StreamId, list[int]] = field(init=False, factory=dict)
    _by_id: dict[UUID, int] = field(init=False, factory=dict)
    _by_correlation: dict[str, list[int]] = field(init=False, factory=dict)
    _snapshots: dict[StreamId, Snapshot] = field(init=False, factory=dict)
    _appended: anyio.Event = field(init=False, factory=anyio.Event)
    _closed: bool = field(init=False, default=False)

    def __attrs_post_init__(self) -> None:
        self._codec = JsonCodec(self.types)

    async def __aenter__(self) -> InMemoryEventStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """End running :meth:`subscribe` iterations (as the JetStream store's ``close`` does).

        The events stay: the store can still be read and appended to.
        """
        self._closed = True
        self._appended.set()

    async def append_chain(
        self, stream: StreamId, events: Sequence[NewEvent[Any]], *, expected: Exactly
    ) -> tuple[tuple[AppendResult, ...], AppendError | None]:
        """Append each of *events* as its own append after the one before (see
        :class:`~interpreters.stores.protocol.ChainedAppends`)."""
        check_chain(stream, events, expected)
        if not events:
            return (), EmptyAppend(stream)
        stored: list[AppendResult] = []
        for event in events:
            appended = await self.append(
                stream, [event], expected=Exactly(expected.version + len(stored))
            )
            if isinstance(appended, Failure):
                return tuple(stored), appended.failure()
            stored.append(appended.unwrap())
        return tuple(stored), None

    async def append(
        self,
        stream: StreamId,
        events: Sequence[NewEvent[Any]],
        *,
        expected: ExpectedVersion = AnyVersion(),  # noqa: B008 - a frozen value
    ) -> Result[AppendResult, AppendError]:
        """Append *events* to *stream* if it is at the *expected* version (all or nothing)."""
        check_append(stream, events, expected)
        await anyio.lowlevel.checkpoint()
        if not events:
            return Failure(EmptyAppend(stream))
        if len(events) > self.max_append:
            return Failure(AppendTooLarge(len(events), self.max_append))
        retried = self._retried(stream, events)
        if retried is not None:
            return Success(retried)
        reused = [
            e.event_id for e in events if e.event_id is not None and e.event_id in self._by_id
        ]
        if reused:
            streams = sorted({str(self._log[self._by_id[i] - 1].stream) for i in reused})
            raise ReusedEventIds(reused, f"events of {', '.join(streams)}")
        positions = self._streams.get(stream, [])
        current = len(positions)
        if not expected.accepts(current):
            return Failure(WrongExpectedVersion(stream, expected, current))
        now = self.clock()
        sealed = []
        encode, envelope_of = self._codec.encode_new, self.types.envelope
        for offset, event in enumerate(events, start=1):
            event_id = event.event_id or self.new_id()
            version = current + offset
            headers, body = encode(
                event, stream=stream, version=version, event_id=event_id, recorded_at=now
            )
            size = encoded_size(headers, body)
            if size > self.max_event_bytes:
                return Failure(EventTooLarge(event_id, size, self.max_event_bytes))
            sealed.append(
                envelope_of(
                    event,
                    stream=stream,
                    version=version,
                    position=len(self._log) + offset,
                    event_id=event_id,
                    recorded_at=now,
                )
            )
        for envelope in sealed:
            self._log.append(envelope)
            positions.append(envelope.position)
            self._by_id[envelope.event_id] = envelope.position
            if envelope.correlation_id is not None:
                self._by_correlation.setdefault(envelope.correlation_id, []).append(
                    envelope.position
                )
        self._streams[stream] = positions
        self._appended.set()
        self._appended = anyio.Event()
        return Success(AppendResult(sealed[-1].version, sealed[-1].position))

    def _retried(self, stream: StreamId, events: Sequence[NewEvent[Any]]) -> AppendResult | None:
        """The original result if *events* were all appended to *stream* before, in one run."""
        first = events[0].event_id
        if first is None or first not in self._by_id:
            return None
        start = self._by_id[first]
        stored = self._log[start - 1 : start - 1 + len(events)]
        if len(stored) != len(events) or any(
            e.stream != stream or e.event_id != n.event_id
            for e, n in zip(stored, events, strict=True)
        ):
            return None
        return AppendResult(stored[-1].version, stored[-1].position)

    async def read(
        self, stream: StreamId, *, from_version: int = 1
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """The events of *stream* from *from_version* on (empty if the stream does not exist)."""
        check_from("from_version", from_version)
        await anyio.lowlevel.checkpoint()
        positions = self._streams.get(stream, [])
        return Success(tuple(self._log[p - 1] for p in positions[from_version - 1 :]))

    async def iter_stream(
        self, stream: StreamId, *, from_version: int = 1
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """The events of *stream* one at a time."""
        check_from("from_version", from_version)
        version = from_version
        while version <= len(positions := self._streams.get(stream, [])):
            await anyio.lowlevel.checkpoint()
            yield Success(self._log[positions[version - 1] - 1])
            version += 1

    async def read_all(
        self, *, from_position: int = 1, categories: Collection[str] | None = None
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """Every stored event from *from_position* on (of *categories* only, if given), in
        global order; ends at the current end."""
        check_from("from_position", from_position)
        wanted = check_categories(categories)
        end = len(self._log)
        for position in range(from_position, end + 1):
            await anyio.lowlevel.checkpoint()
            envelope = self._log[position - 1]
            if wanted is None or envelope.stream.category in wanted:
                yield Success(envelope)

    async def subscribe(
        self, *, from_position: int = 1, categories: Collection[str] | None = None
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """Every event from *from_position* (of *categories* only, if given): the backlog,
        then live events until cancelled."""
        check_from("from_position", from_position)
        wanted = check_categories(categories)
        position = from_position
        while True:
            appended = self._appended
            while position <= len(self._log):
                await anyio.lowlevel.checkpoint()
                envelope = self._log[position - 1]
                if wanted is None or envelope.stream.category in wanted:
                    yield Success(envelope)
                position += 1
            if self._closed:
                yield Failure(StoreUnavailable("the store is closed"))
                return
            await appended.wait()

    async def last_position(
        self, *, categories: Collection[str] | None = None
    ) -> Result[int, StoreError]:
        """The position of the last stored event (of *categories* only, if given); 0 if none."""
        wanted = check_categories(categories)
        await anyio.lowlevel.checkpoint()
        for envelope in reversed(self._log):
            if wanted is None or envelope.stream.category in wanted:
                return Success(envelope.position)
        return Success(0)

    async def version(self, stream: StreamId) -> Result[int, StoreError]:
        """The current version of *stream* (0 if it has no events)."""
        await anyio.lowlevel.checkpoint()
        return Success(len(self._streams.get(stream, ())))

    async def read_by_correlation(
        self, correlation_id: str
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """Every event carrying *correlation_id*, in global order."""
        await anyio.lowlevel.checkpoint()
        positions = self._by_correlation.get(correlation_id, [])
        return Success(tuple(self._log[p - 1] for p in positions))

    async def save_snapshot(
        self, stream: StreamId, version: int, state: bytes
    ) -> Result[Snapshot, StoreError]:
        """Remember *state* as the state of *stream* after event *version*."""
        snapshot = Snapshot(stream, version, state)
        await anyio.lowlevel.checkpoint()
        size = snapshot_size(snapshot)
        if size > self.max_event_bytes:
            return Failure(SnapshotTooLarge(stream, size, self.max_event_bytes))
        self._snapshots[stream] = snapshot
        return Success(snapshot)

    async def load_snapshot(self, stream: StreamId) -> Result[Loaded, StoreError]:
        """The latest snapshot of *stream* and the events after it.

        A snapshot beyond the stream's last event (saved with a wrong version) is ignored.
        """
        snapshot = self._snapshots.get(stream)
        if snapshot is not None and snapshot.version > len(self._streams.get(stream, ())):
            snapshot = None
        after = 1 if snapshot is None else snapshot.version + 1
        return (await self.read(stream, from_version=after)).map(
            lambda events: Loaded(snapshot, events)
        )
