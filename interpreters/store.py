"""The ``EventStore`` protocol every store implements (in memory, JetStream, yours).

All expected failures are ``returns`` values; exceptions are programmer errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, runtime_checkable

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

_ANY = AnyVersion()


@runtime_checkable
class EventStore(Protocol):
    """An append-only store of event streams with optimistic concurrency.

    * ``append`` is atomic: all of *events* are stored, or none (and the reason is the failure).
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
    ) -> AsyncIterator[Result[EventEnvelope[Any], StoreError]]:
        """The events of *stream* one at a time (for long streams)."""
        ...

    def read_all(
        self, *, from_position: int = 1
    ) -> AsyncIterator[Result[EventEnvelope[Any], StoreError]]:
        """Every stored event from *from_position* on, in global order; ends at the current end."""
        ...

    def subscribe(
        self, *, from_position: int = 1
    ) -> AsyncIterator[Result[EventEnvelope[Any], StoreError]]:
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
