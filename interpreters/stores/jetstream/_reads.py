"""Reads: one stream (batch direct gets, versions verified), the whole store (``read_all``),
live (``subscribe``), optionally only some categories.

Reads of a stream are batch direct gets ending on the server's end-of-batch marker (no consumer,
no timeout guessing). Every message of a stream is checked (:mod:`.foreign`): a foreign message
or a forged version is skipped and reported, never trusted, and the stream's tip (the subject's
last sequence, the last genuine version) is remembered for the next append. ``read_all`` and
``subscribe`` (for projections, which may start anywhere) do not skip: a message they cannot
decode is a :class:`~cim.CorruptEvent` value (the runner's poison policy decides). ``read_all``
and the backlog of ``subscribe`` are read in bursts (:mod:`._replay`); ``read_all`` ends after the
events the first burst announced, ``subscribe`` then follows live events from an ordered consumer
starting right after the last event of its backlog, deleted when the iteration ends.
With ``categories``, the server filters (``<prefix>.<category>.*`` subjects): other categories
never reach the client.
"""

from __future__ import annotations

import contextlib
import heapq
from collections.abc import AsyncGenerator, Collection
from typing import Any

import anyio
from attrs import frozen
from nats.aio.msg import Msg
from returns.result import Failure, Result, Success

from cim import (
    CorruptEvent,
    EventEnvelope,
    Header,
    PermissionDenied,
    StoreError,
    StreamId,
)
from interpreters.natsio.subjects import category_subjects
from interpreters.stores.jetstream._core import CLOSED, StoreCore, referenced
from interpreters.stores.jetstream._direct_get import SEQUENCE, DirectReader
from interpreters.stores.jetstream._failure import READ_ERRORS, OperationFailed, answered, failed
from interpreters.stores.jetstream._ordered_reader import (
    ConsumerError,
    OrderedReader,
    sequence_and_pending,
)
from interpreters.stores.jetstream._provision import StoreAccessDenied
from interpreters.stores.jetstream._replay import Replay
from interpreters.stores.jetstream._tips import EMPTY, Tip
from interpreters.stores.jetstream.foreign import ForeignMessage, check_message
from interpreters.stores.jetstream.payloads import PAYLOAD_REF
from interpreters.stores.protocol import check_categories, check_from

__all__ = ("Reads", "batches_of")

_Decoded = Result[EventEnvelope[Any], StoreError]
_EVENT_ID = Header.EVENT_ID.value
_DECODED_AT_ONCE = 128
"""Events of a burst decoded together: the envelopes of one slice are handed over before the
next slice is decoded, so a replay keeps few of them alive at a time and the garbage collector,
which walks every object that outlives a collection, seldom finds thousands of envelopes to
walk and promote (a replay of 100,000 events spent about a fifth of its time in the collector
when whole bursts of 2,048 were decoded at once). A slice's four tracked objects an event
(``Success``, envelope, payload, ``UUID``) stay under the collector's first threshold (700
allocations): in slices of 256 a young collection ran during nearly every slice and promoted
what it found; in slices of 128, 2.3 times fewer young collections and 2.5 times fewer full
ones (counted with ``gc.callbacks`` over a replay of 100,000 events)."""


class _Walk:
    """The check of one stream's messages in order: the next version it expects, and its tip."""

    __slots__ = ("event_id", "sequence", "skipped", "stream", "subject", "version")

    def __init__(self, stream: StreamId, subject: str, after: Tip) -> None:
        self.stream = str(stream)
        self.subject = subject
        self.sequence, self.version, self.event_id = after
        self.skipped: list[ForeignMessage] = []

    def accepts(self, headers: dict[str, str]) -> bool:
        """Whether *headers* are the next event's (else the message is recorded as skipped)."""
        sequence = self.sequence = int(headers[SEQUENCE])
        problem = check_message(headers, self.stream, self.version + 1, position=sequence)
        if problem is not None:
            self.skipped.append(problem)
            return False
        self.version += 1
        self.event_id = headers[_EVENT_ID]
        return True

    def tip(self) -> Tip:
        """The stream's tip after the messages walked so far."""
        return Tip(self.sequence, self.version, self.event_id)


@frozen
class Reads:
    """The store's reads, over the shared :class:`StoreCore`."""

    core: StoreCore

    def _walk(self, stream: StreamId, subject: str, from_version: int) -> tuple[_Walk, int]:
        """A check of *stream* that can start after a known earlier event, and where it starts."""
        known = self.core.tips.get(subject)
        if known is not None and 0 < known.version < from_version:
            return _Walk(stream, subject, known), known.sequence + 1  # history is immutable
        return _Walk(stream, subject, EMPTY), 1

    async def _batch_of(self, subject: str, start: int) -> tuple[list[Msg], int]:
        """One direct-get batch of *subject* from *start*, and where the next starts (0: none)."""
        answer = await answered(self.core.reader.batch(subject, start=start))
        messages = answer.messages
        if messages and answer.pending:
            return messages, answer.last + 1
        return messages, 0

    def _finish(self, walk: _Walk) -> None:
        """Remember the tip of a stream walked to its end, and report what it skipped."""
        if walk.sequence:
            self.core.tips.remember(walk.subject, walk.tip())
        for skipped in walk.skipped:
            self.core.reporter.report(walk.subject, skipped)

    async def read(
        self, stream: StreamId, *, from_version: int = 1
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """The events of *stream* from *from_version* on (empty if the stream does not exist)."""
        check_from("from_version", from_version)
        subject = self.core.subject(stream)
        walk, start = self._walk(stream, subject, from_version)
        found: list[EventEnvelope[Any]] = []
        accepts = walk.accepts
        try:
            while start:  # a stream is usually one batch: a plain loop, no generators
                messages, start = await self._batch_of(subject, start)
                wanted = [
                    msg
                    for msg in messages
                    if accepts(msg.headers or {}) and walk.version >= from_version
                ]
                for result in await self._decoded(wanted):
                    if not isinstance(result, Success):
                        return Failure(result.failure())
                    found.append(result.unwrap())
        except OperationFailed as failure:
            return Failure(failure.error)
        self._finish(walk)
        return Success(tuple(found))

    async def _decoded(self, messages: list[Msg]) -> list[_Decoded]:
        """The events in one batch of a stream's *messages*, in order: decoded as one batch
        (``JsonCodec.decode_many``) unless some payload is stored by reference."""
        core = self.core
        if not any(map(referenced, messages)):
            return core.decode_stored_many(messages)
        return [
            await core.decode_referenced(msg) if referenced(msg) else core.decode_stored(msg)
            for msg in messages
        ]

    async def iter_stream(
        self, stream: StreamId, *, from_version: int = 1
    ) -> AsyncGenerator[_Decoded, None]:
        """The events of *stream* one at a time (for long streams)."""
        check_from("from_version", from_version)
        subject = self.core.subject(stream)
        walk, start = self._walk(stream, subject, from_version)
        try:
            while start:
                messages, start = await self._batch_of(subject, start)
                wanted = [
                    msg
                    for msg in messages
                    if walk.accepts(msg.headers or {}) and walk.version >= from_version
                ]
                for result in await self._decoded(wanted):
                    yield result
        except OperationFailed as failure:
            yield Failure(failure.error)
            return
        self._finish(walk)

    async def tip(
        self, subject: str, stream: StreamId, *, fresh: bool, for_append: bool = True
    ) -> Tip:
        """The tip of *stream* (on *subject*): remembered, or (if *fresh* or unknown) found by
        checking its messages after the last remembered tip (headers only, nothing decoded).
        A fresh tip *for_append* in another region waits until the copy has the home's."""
        known = self.core.tips.get(subject)
        if known is not None and not fresh:
            return known
        if fresh and for_append:
            await self.core.settle(subject)
        walk = _Walk(stream, subject, known or EMPTY)
        start = walk.sequence + 1
        while start:
            messages, start = await self._batch_of(subject, start)
            for msg in messages:
                walk.accepts(msg.headers or {})
        if not walk.sequence:
            self.core.tips.forget(subject)
            return EMPTY
        self._finish(walk)
        return walk.tip()

    async def version(self, stream: StreamId) -> Result[int, StoreError]:
        """The current version of *stream* (0 if it has no events): its last genuine event's."""
        try:
            tip = await self.tip(self.core.subject(stream), stream, fresh=True, for_append=False)
        except OperationFailed as failure:
            return Failure(failure.error)
        return Success(tip.version)

    async def foreign_messages(
        self, stream: StreamId
    ) -> Result[tuple[ForeignMessage, ...], StoreError]:
        """Every message of *stream*'s subject that reads skip (foreign, forged version)."""
        subject = self.core.subject(stream)
        walk, start = _Walk(stream, subject, EMPTY), 1
        try:
            while start:
                messages, start = await self._batch_of(subject, start)
                for msg in messages:
                    walk.accepts(msg.headers or {})
        except OperationFailed as failure:
            return Failure(failure.error)
        self._finish(walk)
        return Success(tuple(walk.skipped))

    def _subjects(self, categories: Collection[str] | None) -> tuple[str, ...]:
        """The subjects a read of *categories* (``None``: all) asks the server for."""
        names = check_categories(categories)
        if names is None:
            return (self.core.all_subjects,)
        prefix = self.core.settings.subject_prefix
        return tuple(category_subjects(prefix, category) for category in sorted(names))

    async def read_all(
        self, *, from_position: int = 1, categories: Collection[str] | None = None
    ) -> AsyncGenerator[_Decoded, None]:
        """Every stored event from *from_position* on, in global order; ends at the current end.

        With *categories*, only the events of those categories (filtered by the server). One
        subject filter is read in bursts (:mod:`._replay`), up to the end the first burst
        announces; several categories with one batch direct get each, merged by position.
        """
        check_from("from_position", from_position)
        subjects = self._subjects(categories)
        if len(subjects) != 1:
            async with contextlib.aclosing(self._merged(subjects, from_position)) as merged:
                async for merged_result in merged:
                    yield merged_result
            return
        async with contextlib.aclosing(self._replayed(subjects[0], from_position)) as bursts:
            async for decoded, _ in bursts:
                for result in decoded:
                    yield result

    async def _replayed(
        self, subject: str, start: int, *, follow: bool = False
    ) -> AsyncGenerator[tuple[list[_Decoded], int], None]:
        """The events on *subject* from *start*, read in bursts (:mod:`._replay`) and decoded
        in slices of ``_DECODED_AT_ONCE``, each slice with the position of its last event (0:
        the slice is a failure, the end); *follow* as for :meth:`Replay.bursts`."""
        core = self.core
        if core.closed:
            yield [Failure(CLOSED)], 0
            return
        replay = Replay(core.nc, core.settings.read_stream, core.settings.request_timeout)
        core.consumers.append(replay)
        decode = core.decode_parts
        try:
            await replay.open()
            bursts = replay.bursts(subject, start, follow=follow)
            async with contextlib.aclosing(bursts) as stored_bursts:
                async for burst in stored_bursts:
                    for at in range(0, len(burst), _DECODED_AT_ONCE):
                        stored = burst[at : at + _DECODED_AT_ONCE]
                        if not any(PAYLOAD_REF in headers for headers, _ in stored):
                            decoded = core.decode_stored_parts(stored)  # JsonCodec.decode_many
                        else:
                            decoded = [
                                decode(headers, data, headers[SEQUENCE])
                                if PAYLOAD_REF not in headers
                                else await core.decode_referenced_parts(headers, headers[SEQUENCE])
                                for headers, data in stored
                            ]
                        yield decoded, int(stored[-1][0][SEQUENCE])
        except READ_ERRORS as error:
            yield [Failure(failed(error).error)], 0
        finally:
            core.consumers.remove(replay)
            with anyio.CancelScope(shield=True):
                await replay.close()

    async def _merged(
        self, subjects: tuple[str, ...], start: int
    ) -> AsyncGenerator[_Decoded, None]:
        """The messages of several subject filters from *start*, merged by position."""
        core = self.core
        readers = [_Pending(batches_of(core.reader, subject, start)) for subject in subjects]
        try:
            heap: list[tuple[int, int]] = []
            for index, reader in enumerate(readers):
                if await reader.advance():
                    heap.append((reader.position, index))
            heapq.heapify(heap)
            while heap:
                position, index = heapq.heappop(heap)
                reader = readers[index]
                assert reader.current is not None  # advance() answered True
                current = reader.current
                if referenced(current):
                    yield await core.decode_referenced(current, str(position))
                else:
                    yield core.decode(current, str(position))
                if await reader.advance():
                    heapq.heappush(heap, (reader.position, index))
        except OperationFailed as failure:
            yield Failure(failure.error)
        finally:
            for reader in readers:
                await reader.close()

    async def _consume(
        self, subjects: tuple[str, ...], start: int, *, idle_timeout: float | None
    ) -> AsyncGenerator[list[tuple[_Decoded, int]], None]:
        """Events from *start* on, from an ordered consumer: (result, events after it) batches."""
        core = self.core
        reader = OrderedReader(
            core.nc,
            core.settings.read_stream,
            subjects,
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
                await core.watch.admin(reader.open(), f"cannot read {core.settings.read_stream!r}")
            except StoreAccessDenied as denied:
                failure = PermissionDenied("create consumer", denied.subject or "", denied.detail)
                yield [(Failure(failure), 0)]
                return
            decode = core.decode
            async with contextlib.aclosing(reader.batches()) as batches:
                async for batch in batches:
                    decoded = []
                    for msg in batch:
                        position, pending = sequence_and_pending(msg)
                        if referenced(msg):
                            result = await core.decode_referenced(msg, str(position))
                        else:
                            result = decode(msg, str(position))
                        decoded.append((result, pending))
                    yield decoded
        except ConsumerError as error:  # closing the store while the consumer opens: closed
            yield [(Failure(CLOSED if core.closed else failed(error).error), 0)]
        finally:
            core.consumers.remove(reader)
            await reader.close()

    async def subscribe(
        self, *, from_position: int = 1, categories: Collection[str] | None = None
    ) -> AsyncGenerator[_Decoded, None]:
        """Every event from *from_position*: the backlog, then live events until cancelled.

        With *categories*, only the events of those categories (server-side filters). With one
        subject filter the backlog is read in bursts until nothing is pending, then an ordered
        push consumer starts right after its last event (several categories: the consumer
        delivers the backlog too); the consumer is deleted when the iteration ends.
        """
        check_from("from_position", from_position)
        subjects = self._subjects(categories)
        if not subjects:
            return
        start = from_position
        if len(subjects) == 1:  # the backlog in bursts, then a consumer from the next position
            replayed = self._replayed(subjects[0], start, follow=True)
            async with contextlib.aclosing(replayed) as backlog:
                async for decoded, last in backlog:
                    for result in decoded:
                        yield result
                    if not last:
                        return  # the replay failed (a store error)
                    start = last + 1
        consume = self._consume(subjects, start, idle_timeout=None)
        async with contextlib.aclosing(consume) as batches:
            async for batch in batches:
                for result, _ in batch:
                    yield result
                    if isinstance(result, Failure) and not isinstance(
                        result.failure(), CorruptEvent
                    ):
                        return


class _Pending:
    """One subject filter's messages in a merged read: the current one and its position."""

    def __init__(self, batches: AsyncGenerator[list[Msg], None]) -> None:
        self._batches = batches
        self._buffer: list[Msg] = []
        self._next = 0
        self.current: Msg | None = None
        self.position = 0

    async def advance(self) -> bool:
        """Move to the next message; ``False`` at the end."""
        if self._next >= len(self._buffer):
            self._buffer = await anext(self._batches, [])
            self._next = 0
            if not self._buffer:
                return False
        current = self.current = self._buffer[self._next]
        self._next += 1
        self.position = int((current.headers or {})[SEQUENCE])
        return True

    async def close(self) -> None:
        """Stop reading (releases the batch requested ahead)."""
        await self._batches.aclose()


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
