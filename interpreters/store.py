"""The ``EventStore`` protocol every store implements (in memory, JetStream, yours).

All expected failures are ``returns`` values; exceptions are programmer errors. The iterator
forms yield one ``Result`` per event, so a message that cannot be decoded is a
:class:`~cim.CorruptEvent` value in the sequence, not an exception that ends it.

The iterator forms are async generators, so they can be closed: they hold resources (a
subscription, an inbox) until they end, and when you stop early you close them, e.g. ``async with contextlib.aclosing(store.subscribe()) as events: ...``. Cancelling the
task that iterates also releases them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any, Protocol, runtime_checkable

from attrs import field, frozen
from attrs.validators import ge, instance_of
from returns.result import Result

from cim import (
    AnyVersion,
    AppendError,
    AppendResult,
    EventEnvelope,
    ExpectedVersion,
    NewEvent,
    StoreError,
    StreamId,
)

__all__ = ("EventStore", "Snapshot", "SnapshotStore", "Loaded")

_ANY = AnyVersion()


@runtime_checkable
class EventStore(Protocol):
    """An append-only store of event streams with optimistic concurrency.

    * ``append`` is atomic: all of *events* are stored, or none (and the reason is the failure).
      An empty append is refused with :class:`~cim.EmptyAppend`.
    * Appending the same events again (same event ids, e.g. a retry after a lost reply) stores
      them once and answers with the original :class:`~cim.AppendResult`.
    * versions in a stream run 1..n without gaps; positions are global and increasing.
    * ``read_all`` and ``subscribe`` yield envelopes in global position order.
    """

    async def append(
        self,
        stream: StreamId,
        events: Sequence[NewEvent[Any]],
        *,
        expected: ExpectedVersion = _ANY,
    ) -> Result[AppendResult, AppendError]:
        """Append *events* to *stream* if it is at the *expected* version."""
        ...

    async def read(
        self, stream: StreamId, *, from_version: int = 1
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """The events of *stream* from *from_version* on (empty if the stream does not exist)."""
        ...

    def iter_stream(
        self, stream: StreamId, *, from_version: int = 1
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """The events of *stream* one at a time (for long streams)."""
        ...

    def read_all(
        self, *, from_position: int = 1
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """Every stored event from *from_position* on, in global order; ends at the current end."""
        ...

    def subscribe(
        self, *, from_position: int = 1
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """Every event from *from_position*: the backlog, then live events until cancelled."""
        ...

    async def version(self, stream: StreamId) -> Result[int, StoreError]:
        """The current version of *stream* (0 if it has no events)."""
        ...

    async def read_by_correlation(
        self, correlation_id: str
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """Every event carrying *correlation_id*, in global order."""
        ...


@frozen
class Snapshot:
    """The serialised ``state`` of *stream* after its event number ``version``."""

    stream: StreamId = field(validator=instance_of(StreamId))
    version: int = field(validator=[instance_of(int), ge(1)])
    state: bytes = field(validator=instance_of(bytes))


@frozen
class Loaded:
    """What command handling needs to rebuild state: the latest snapshot (if any) and the
    events after it (all events when there is no snapshot)."""

    snapshot: Snapshot | None
    events: tuple[EventEnvelope[Any], ...]

    @property
    def version(self) -> int:
        """The stream's version these represent (0 for a stream with no events)."""
        if self.events:
            return self.events[-1].version
        return self.snapshot.version if self.snapshot is not None else 0


@runtime_checkable
class SnapshotStore(Protocol):
    """Snapshots of aggregate state, next to the events they summarise.

    ``state`` is bytes the caller serialised (the runtime uses the codec's converter); the store
    never interprets it. A snapshot is an optimisation: losing one only makes loading slower.
    """

    async def save_snapshot(
        self, stream: StreamId, version: int, state: bytes
    ) -> Result[Snapshot, StoreError]:
        """Remember *state* as the state of *stream* after event *version* (replaces older)."""
        ...

    async def load_snapshot(self, stream: StreamId) -> Result[Loaded, StoreError]:
        """The latest snapshot of *stream* and the events after it."""
        ...
