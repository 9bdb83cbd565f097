"""The demo's race between two writers of one order, made deterministic."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection, Sequence
from typing import Any

import anyio
from attrs import define, field
from returns.result import Failure, Result

from cim import (
    AnyVersion,
    AppendError,
    AppendResult,
    EventEnvelope,
    ExpectedVersion,
    NewEvent,
    StoreError,
    StreamId,
    WrongExpectedVersion,
)
from interpreters.stores.protocol import EventStore

__all__ = ("HoldOnce",)


@define
class HoldOnce:
    """An :class:`~interpreters.stores.protocol.EventStore` that holds the next append on one stream until
    released: it makes a real race deterministic (the store, not this class, detects it)."""

    inner: EventStore
    conflicts: list[WrongExpectedVersion] = field(factory=list)
    _armed: StreamId | None = None
    _holding: anyio.Event = field(factory=anyio.Event)
    _released: anyio.Event = field(factory=anyio.Event)

    def arm(self, stream: StreamId) -> None:
        """Hold the next append to *stream*."""
        self._armed, self._holding, self._released = stream, anyio.Event(), anyio.Event()

    async def wait_holding(self) -> None:
        """Until an append is being held."""
        await self._holding.wait()

    def release(self) -> None:
        """Let the held append go on."""
        self._released.set()

    async def append(
        self,
        stream: StreamId,
        events: Sequence[NewEvent[Any]],
        *,
        expected: ExpectedVersion = AnyVersion(),  # noqa: B008 - a frozen value
    ) -> Result[AppendResult, AppendError]:
        """Append through the inner store, after a hold if armed for *stream*."""
        if stream == self._armed:
            self._armed = None
            self._holding.set()
            await self._released.wait()
        result = await self.inner.append(stream, events, expected=expected)
        if isinstance(result, Failure) and isinstance(result.failure(), WrongExpectedVersion):
            self.conflicts.append(result.failure())
        return result

    async def read(
        self, stream: StreamId, *, from_version: int = 1
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """The inner store's read."""
        return await self.inner.read(stream, from_version=from_version)

    def iter_stream(
        self, stream: StreamId, *, from_version: int = 1
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """The inner store's iter_stream."""
        return self.inner.iter_stream(stream, from_version=from_version)

    def read_all(
        self, *, from_position: int = 1, categories: Collection[str] | None = None
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """The inner store's read_all."""
        return self.inner.read_all(from_position=from_position, categories=categories)

    def subscribe(
        self, *, from_position: int = 1, categories: Collection[str] | None = None
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """The inner store's subscribe."""
        return self.inner.subscribe(from_position=from_position, categories=categories)

    async def version(self, stream: StreamId) -> Result[int, StoreError]:
        """The inner store's version."""
        return await self.inner.version(stream)

    async def read_by_correlation(
        self, correlation_id: str
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """The inner store's read_by_correlation."""
        return await self.inner.read_by_correlation(correlation_id)
