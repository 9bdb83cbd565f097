"""Snapshots: one per stream in a KV bucket, ``<version>\\n<state>`` under the stream's key.

A snapshot is an optimisation: loading reads it, then the events after its version; one saved
with a version the stream never reached is ignored (the whole stream is read instead).
"""

from __future__ import annotations

import base64

from attrs import frozen
from returns.result import Failure, Result, Success

from cim import SnapshotTooLarge, StoreError, StreamId
from interpreters.natsio.errors import api_failure
from interpreters.stores.jetstream._append import Appends
from interpreters.stores.jetstream._core import CLOSED, StoreCore
from interpreters.stores.jetstream._direct_get import DirectReader
from interpreters.stores.jetstream._failure import OperationFailed
from interpreters.stores.jetstream._reads import Reads
from interpreters.stores.protocol import Loaded, Snapshot, snapshot_size

__all__ = ("Snapshots",)


@frozen
class Snapshots:
    """Save and load snapshots in the KV bucket *bucket*, read with *reader*."""

    core: StoreCore
    reads: Reads
    appends: Appends
    bucket: str
    reader: DirectReader

    def _subject(self, stream: StreamId) -> str:
        key = base64.urlsafe_b64encode(str(stream).encode()).decode()
        return f"$KV.{self.bucket}.s.{key}"

    async def save(
        self, stream: StreamId, version: int, state: bytes
    ) -> Result[Snapshot, StoreError]:
        """Remember *state* as the state of *stream* after event *version* (in the KV bucket)."""
        snapshot = Snapshot(stream, version, state)
        if self.core.closed:
            return Failure(CLOSED)
        subject = self._subject(stream)
        body = b"%d\n" % version + state
        size, limit = snapshot_size(snapshot), self.core.max_event_bytes
        if size > limit:
            return Failure(SnapshotTooLarge(stream, size, limit))
        try:
            reply = await self.appends.publish(subject, [(subject, {}, body)])
        except OperationFailed as failure:
            return Failure(failure.error)
        if "error" in reply:
            return Failure(api_failure(subject, reply["error"]))
        return Success(snapshot)

    async def load(self, stream: StreamId) -> Result[Loaded, StoreError]:
        """The latest snapshot of *stream* and the events after it."""
        try:
            msg = await self.core.get(self.reader.last(self._subject(stream)))
        except OperationFailed as failure:
            return Failure(failure.error)
        snapshot = None
        if msg is not None:
            version, _, state = msg.data.partition(b"\n")
            snapshot = Snapshot(stream, int(version), state)
        after = 1 if snapshot is None else snapshot.version + 1
        events = await self.reads.read(stream, from_version=after)
        if snapshot is not None and events == Success(()):  # is the stream there at all?
            current = await self.reads.version(stream)
            if isinstance(current, Failure):
                return current
            if current.unwrap() < snapshot.version:  # saved with a wrong version: ignore it
                snapshot, events = None, await self.reads.read(stream)
        return events.map(lambda read: Loaded(snapshot, read))
