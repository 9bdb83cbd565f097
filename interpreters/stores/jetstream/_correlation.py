"""The correlation index: which events carry a correlation id, kept in a KV bucket.

One key per correlated event, ``c.<digest of the id>.<position>``, plus a ``watermark`` key (the
last position indexed). The index is brought up to date lazily, by the first
``read_by_correlation`` after appends, from the events stored since the watermark.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import anyio
from attrs import frozen
from nats.aio.msg import Msg
from returns.result import Failure, Result, Success

from cim import EventEnvelope, Header, StoreError
from interpreters.natsio.errors import SERVER_ERRORS, unavailable
from interpreters.stores.jetstream._core import StoreCore, referenced
from interpreters.stores.jetstream._direct_get import SEQUENCE, SUBJECT, DirectReader
from interpreters.stores.jetstream._failure import OperationFailed
from interpreters.stores.jetstream._reads import Reads, batches_of

__all__ = ("CorrelationIndex",)


@frozen
class CorrelationIndex:
    """``read_by_correlation`` over the index bucket *bucket*, read with *reader*."""

    core: StoreCore
    reads: Reads
    bucket: str
    reader: DirectReader

    async def read_by_correlation(
        self, correlation_id: str
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """Every event carrying *correlation_id*, in global order.

        Answered from the correlation index (a KV bucket with one key per correlated event),
        which is first brought up to date with the events appended since the last call.
        """
        core = self.core
        try:
            await self._up_to_date()
            key_prefix = f"$KV.{self.bucket}.c.{_digest(correlation_id)}"
            positions: set[int] = set()
            keys = batches_of(self.reader, f"{key_prefix}.*")
            async with contextlib.aclosing(keys) as batches:
                async for batch in batches:
                    positions.update(_position_of_key(m) for m in batch)
            found: dict[int, Result[EventEnvelope[Any], StoreError]] = {}

            async def fetch(position: int) -> None:
                msg = await core.get(core.reader.at(position))
                if msg is not None:
                    found[position] = (
                        await core.decode_referenced(msg)
                        if referenced(msg)
                        else core.decode_stored(msg)
                    )

            async with anyio.create_task_group() as group:
                for position in positions:
                    group.start_soon(fetch, position)
        except OperationFailed as failure:
            return Failure(failure.error)
        events = []
        for position in sorted(found):
            result = found[position]
            if isinstance(result, Failure):
                return Failure(result.failure())
            if result.unwrap().correlation_id == correlation_id:
                events.append(result.unwrap())
        return Success(tuple(events))

    async def _up_to_date(self) -> None:
        """Index the events stored after the watermark, then move the watermark."""
        core = self.core
        watermark_subject = f"$KV.{self.bucket}.watermark"
        mark = await core.get(self.reader.last(watermark_subject))
        start = int(mark.data) + 1 if mark is not None else 1
        js = core.nc.jetstream(timeout=core.settings.request_timeout)
        acks = []
        last = start - 1
        stored = batches_of(core.reader, core.all_subjects, start)
        async with contextlib.aclosing(stored) as batches:
            async for batch in batches:
                for msg in batch:
                    headers = msg.headers or {}
                    last = int(headers[SEQUENCE])
                    correlation = headers.get(Header.CORRELATION_ID)
                    if correlation is not None:
                        key = f"c.{_digest(correlation)}.{last}"
                        acks.append(await js.publish_async(f"$KV.{self.bucket}.{key}", b""))
        try:
            for ack in acks:
                await ack
            if last >= start:
                await js.publish(watermark_subject, str(last).encode())
        except SERVER_ERRORS as error:
            raise OperationFailed(unavailable(error, "correlation index")) from None


def _position_of_key(msg: Msg) -> int:
    """The event position an index entry points at: the last token of its key."""
    return int((msg.headers or {})[SUBJECT].rsplit(".", 1)[1])


def _digest(correlation_id: str) -> str:
    return hashlib.sha256(correlation_id.encode()).hexdigest()[:32]
