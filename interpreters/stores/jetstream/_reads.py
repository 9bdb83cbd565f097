"""Reads: one stream (batch direct gets), the whole store (``read_all``), live (``subscribe``).

Reads of a stream are batch direct gets ending on the server's end-of-batch marker (no consumer,
no timeout guessing); a ``read_all`` longer than one batch streams the rest from an ordered
consumer, up to the count the first batch announced, and ``subscribe`` is one ordered consumer;
both delete their consumer when they end.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any

from attrs import frozen
from nats.aio.msg import Msg
from returns.result import Failure, Result, Success

from cim import CorruptEvent, EventEnvelope, Header, PermissionDenied, StoreError, StreamId
from interpreters.stores.jetstream._core import CLOSED, StoreCore
from interpreters.stores.jetstream._direct_get import SEQUENCE, DirectReader
from interpreters.stores.jetstream._failure import READ_ERRORS, OperationFailed, answered, failed
from interpreters.stores.jetstream._ordered_reader import (
    ConsumerError,
    OrderedReader,
    sequence_and_pending,
)
from interpreters.stores.jetstream._provision import StoreAccessDenied
from interpreters.stores.jetstream._tips import Tip, version_of
from interpreters.stores.protocol import check_from

__all__ = ("Reads", "batches_of")

_Decoded = Result[EventEnvelope[Any], StoreError]


@frozen
class Reads:
    """The store's reads, over the shared :class:`StoreCore`."""

    core: StoreCore

    def _start_of(self, subject: str, from_version: int) -> int:
        """Where to start reading *subject* for *from_version*: after a known earlier event."""
        known = self.core.tips.get(subject)
        if known is not None and 0 < known.version < from_version:
            return known.sequence + 1  # history is immutable: later versions come after it
        return 1

    async def _batch_of(self, subject: str, start: int) -> tuple[list[Msg], int]:
        """One direct-get batch of *subject* from *start*, and where the next starts (0: none).

        Remembers the stream's tip when the batch is its last.
        """
        answer = await answered(self.core.reader.batch(subject, start=start))
        messages = answer.messages
        if messages and answer.pending:
            return messages, answer.last + 1
        if messages:
            headers = messages[-1].headers or {}
            version = version_of(headers)
            if version is not None:
                tip = Tip(int(headers[SEQUENCE]), version, headers.get(Header.EVENT_ID))
                self.core.tips.remember(subject, tip)
        return messages, 0

    async def read(
        self, stream: StreamId, *, from_version: int = 1
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """The events of *stream* from *from_version* on (empty if the stream does not exist)."""
        check_from("from_version", from_version)
        subject = self.core.subject(stream)
        start = self._start_of(subject, from_version)
        found: list[EventEnvelope[Any]] = []
        decode = self.core.decode_stored
        try:
            while start:  # a stream is usually one batch: a plain loop, no generators
                messages, start = await self._batch_of(subject, start)
                for msg in messages:
                    if from_version > 1 and _version_below(msg, from_version):
                        continue
                    result = decode(msg)
                    if not isinstance(result, Success):
                        return Failure(result.failure())
                    found.append(result.unwrap())
        except OperationFailed as failure:
            return Failure(failure.error)
        return Success(tuple(found))

    async def iter_stream(
        self, stream: StreamId, *, from_version: int = 1
    ) -> AsyncGenerator[_Decoded, None]:
        """The events of *stream* one at a time (for long streams)."""
        check_from("from_version", from_version)
        subject = self.core.subject(stream)
        start = self._start_of(subject, from_version)
        try:
            while start:
                messages, start = await self._batch_of(subject, start)
                for msg in messages:
                    if from_version == 1 or not _version_below(msg, from_version):
                        yield self.core.decode_stored(msg)
        except OperationFailed as failure:
            yield Failure(failure.error)

    async def read_all(self, *, from_position: int = 1) -> AsyncGenerator[_Decoded, None]:
        """Every stored event from *from_position* on, in global order; ends at the current end.

        The first batch is a batch direct get, which also says how many events follow; if any
        do, they stream from an ordered consumer (deleted at the end), up to that count.
        """
        check_from("from_position", from_position)
        core = self.core
        try:
            first = await core.reader.batch(core.all_subjects, start=from_position)
        except READ_ERRORS as error:
            yield Failure(failed(error).error)
            return
        if not first.pending:
            for msg in first.messages:
                yield core.decode_stored(msg)
            return
        remaining = first.pending
        rest = self._consume(first.last + 1, idle_timeout=core.settings.request_timeout)
        async with contextlib.aclosing(rest) as batches:
            for msg in first.messages:
                yield core.decode_stored(msg)
            async for batch in batches:
                for result, left in batch:
                    yield result
                    remaining -= 1
                    if not remaining or not left:
                        return

    async def _consume(
        self, start: int, *, idle_timeout: float | None
    ) -> AsyncGenerator[list[tuple[_Decoded, int]], None]:
        """Events from *start* on, from an ordered consumer: (result, events after it) batches."""
        core = self.core
        reader = OrderedReader(
            core.nc,
            core.settings.stream,
            core.all_subjects,
            start,
            core.settings.request_timeout,
            idle_timeout,
        )
        if core.closed:
            yield [(Failure(CLOSED), 0)]
            return
        core.consumers.append(reader)
        try:
            try:
                await core.watch.admin(reader.open(), f"cannot read {core.settings.stream!r}")
            except StoreAccessDenied as denied:
                failure = PermissionDenied("create consumer", denied.subject or "", denied.detail)
                yield [(Failure(failure), 0)]
                return
            async with contextlib.aclosing(reader.batches()) as batches:
                async for batch in batches:
                    decoded = []
                    for msg in batch:
                        position, pending = sequence_and_pending(msg)
                        decoded.append((core.decode(msg, str(position)), pending))
                    yield decoded
        except ConsumerError as error:
            yield [(Failure(failed(error).error), 0)]
        finally:
            core.consumers.remove(reader)
            await reader.close()

    async def subscribe(self, *, from_position: int = 1) -> AsyncGenerator[_Decoded, None]:
        """Every event from *from_position*: the backlog, then live events until cancelled.

        One ordered push consumer delivers the backlog and then live events; it is deleted
        when the iteration ends (cancelled, closed or broken out of).
        """
        check_from("from_position", from_position)
        async with contextlib.aclosing(self._consume(from_position, idle_timeout=None)) as batches:
            async for batch in batches:
                for result, _ in batch:
                    yield result
                    if isinstance(result, Failure) and not isinstance(
                        result.failure(), CorruptEvent
                    ):
                        return

    async def version(self, stream: StreamId) -> Result[int, StoreError]:
        """The current version of *stream* (0 if it has no events)."""
        core = self.core
        subject = core.subject(stream)
        try:
            msg = await core.get(core.reader.last(subject))
        except OperationFailed as failure:
            return Failure(failure.error)
        if msg is None:
            return Success(0)
        decoded = core.decode_stored(msg)
        if isinstance(decoded, Failure):
            return Failure(decoded.failure())
        envelope = decoded.unwrap()
        core.tips.remember(
            subject, Tip(envelope.position, envelope.version, str(envelope.event_id))
        )
        return Success(envelope.version)


async def batches_of(
    reader: DirectReader, subject: str, start: int = 1
) -> AsyncGenerator[list[Msg], None]:
    """Direct-get batches of *subject* from *start*; a failure raises :class:`OperationFailed`."""
    try:
        async with contextlib.aclosing(reader.batches(subject, start=start)) as batches:
            async for batch in batches:
                yield batch
    except READ_ERRORS as error:
        raise failed(error) from None


def _version_below(msg: Msg, version: int) -> bool:
    try:
        return int((msg.headers or {}).get(Header.VERSION, "0")) < version
    except ValueError:
        return False
