"""Write load with idempotent retries, and an audit of the store against the writers' view.

Used by the crash and failover scenarios. Every writer owns its streams, so an ``Exactly``
expectation can only fail when an earlier attempt of the *same* event was stored but its ack was
lost; the retry reuses the event id, so the store must answer with the original result.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import anyio
from attrs import define, field, frozen
from pyrsistent import PMap, pmap, thaw
from returns.result import Failure, Success
from uuid_utils.compat import uuid7

from cim import (
    EventEnvelope,
    EventTypes,
    Exactly,
    NewEvent,
    StoreUnavailable,
    StreamId,
    WrongExpectedVersion,
)
from cim.effects import DatabaseWrite, Effect, Publish
from cim.projection import Projection, fold
from interpreters.runtime.executors import InMemoryReadModel
from interpreters.stores.protocol import EventStore

__all__ = (
    "TICKS",
    "TYPES",
    "Audit",
    "Tick",
    "WriteLoad",
    "audit",
    "folded_rows",
    "tick_counts",
)


@frozen
class Tick:
    """The payload the load writes: which writer, its n-th append."""

    writer: int
    n: int


TYPES = EventTypes().register(Tick)

TICKS = "ticks"
"""The read-model collection :data:`tick_counts` writes: one row per writer."""


def count_tick(state: PMap[str, int], event: Tick) -> tuple[PMap[str, int], Sequence[Effect]]:
    """Count each writer's ticks; the row holds the count and the writer's last ``n``.

    Each tick is also announced on ``ticked.<writer>``: a stream capturing those subjects shows
    whether a replay after a crash published anything twice.
    """
    key = f"w{event.writer}"
    count = state.get(key, 0) + 1
    row = DatabaseWrite(TICKS, key, {"count": count, "last": event.n})
    return state.set(key, count), (row, Publish(f"ticked.{key}", str(count).encode()))


tick_counts: Projection[PMap[str, int], Tick] = Projection("tick_counts", pmap(), count_tick)
"""Ticks per writer, kept in the ``ticks`` read model."""


async def folded_rows(store: EventStore) -> dict[str, dict[str, Any]]:
    """The ``ticks`` read model a from-scratch fold of every stored event produces."""
    payloads = [item.unwrap().payload async for item in store.read_all()]
    model = InMemoryReadModel()
    writes = [e for e in fold(tick_counts, payloads).effects if not isinstance(e, Publish)]
    (await model.execute(writes)).unwrap()
    return {key: dict(thaw(row)) for key, row in model.rows(TICKS).items()}


@define
class WriteLoad:
    """``writers`` concurrent writers appending ``appends`` single-event commits in total.

    Writer ``w`` appends round-robin to its own ``streams_per_writer`` streams with
    ``Exactly(version)``; on :class:`~cim.StoreUnavailable` it retries the same event (same id)
    until ``retry_deadline_s`` passes. ``acked`` is the writers' view: acknowledged event ids per
    stream in version order.
    """

    store: EventStore
    category: str
    writers: int
    appends: int
    streams_per_writer: int = 10
    retry_deadline_s: float = 60.0
    backoff_s: float = 0.05
    acked: dict[StreamId, list[UUID]] = field(factory=dict)
    ack_times: list[float] = field(factory=list)
    unavailable: int = 0
    conflicts: int = 0
    resolved_by_read: int = 0
    milestones: list[tuple[int, anyio.Event]] = field(factory=list)
    started: float = 0.0
    finished: float = 0.0

    @property
    def acked_count(self) -> int:
        """Appends acknowledged so far."""
        return len(self.ack_times)

    @property
    def longest_ack_gap(self) -> tuple[float, float]:
        """The (start, end) of the longest time with no acknowledgement (the outage writers saw)."""
        times = [self.started, *sorted(self.ack_times)]
        return max(itertools.pairwise(times), key=lambda gap: gap[1] - gap[0])

    def stalls(self, longer_than: float) -> list[tuple[float, float]]:
        """Every (start, end) with no acknowledgement for more than *longer_than* seconds.

        An outage can show as several stalls: a few acknowledgements in the middle of a leader
        election split it in two.
        """
        times = [self.started, *sorted(self.ack_times)]
        return [(a, b) for a, b in itertools.pairwise(times) if b - a > longer_than]

    @property
    def max_ack_gap_s(self) -> float:
        """The length of :attr:`longest_ack_gap` in seconds."""
        start, end = self.longest_ack_gap
        return end - start

    async def run(self) -> None:
        """Run every writer to completion."""
        if self.appends % self.writers:
            raise ValueError(f"appends {self.appends} must divide among {self.writers} writers")
        self.started = time.monotonic()
        async with anyio.create_task_group() as group:
            for writer in range(self.writers):
                group.start_soon(self._write, writer)
        self.finished = time.monotonic()

    async def wait_for_acks(self, count: int) -> None:
        """Return once at least *count* appends have been acknowledged."""
        if self.acked_count < count:
            reached = anyio.Event()
            self.milestones.append((count, reached))
            await reached.wait()

    async def _write(self, writer: int) -> None:
        streams = [
            StreamId(self.category, f"w{writer}-s{i}") for i in range(self.streams_per_writer)
        ]
        for stream in streams:
            self.acked[stream] = []
        for n in range(self.appends // self.writers):
            stream = streams[n % len(streams)]
            event = NewEvent(Tick(writer, n), event_id=uuid7())
            await self._append_until_acked(stream, event)

    async def _append_until_acked(self, stream: StreamId, event: NewEvent[Tick]) -> None:
        assert event.event_id is not None
        view = self.acked[stream]
        expected = Exactly(len(view))
        deadline = time.monotonic() + self.retry_deadline_s
        while True:
            result = await self.store.append(stream, [event], expected=expected)
            match result:
                case Success(appended):
                    assert appended.version == len(view) + 1, (stream, appended, len(view))
                    break
                case Failure(StoreUnavailable() as error):
                    self.unavailable += 1
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{stream}: store unavailable for too long: {error}")
                    await anyio.sleep(self.backoff_s)
                case Failure(WrongExpectedVersion() as error):
                    # Nobody else writes this stream: either an earlier attempt of this very
                    # event was stored (the retry should have been answered as a duplicate), or
                    # the store read a stale replica. Look, then retry; the audit has the say.
                    self.conflicts += 1
                    stored = await self.store.read(stream, from_version=len(view) + 1)
                    if isinstance(stored, Success) and [e.event_id for e in stored.unwrap()] == [
                        event.event_id
                    ]:
                        self.resolved_by_read += 1
                        break
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{stream}: conflicts until the deadline: {error}")
                    await anyio.sleep(self.backoff_s)
                case Failure(error):
                    raise AssertionError(f"{stream}: unexpected append failure: {error}")
        view.append(event.event_id)
        self.ack_times.append(time.monotonic())
        for count, reached in self.milestones:
            if self.acked_count >= count:
                reached.set()


@frozen
class Audit:
    """The store compared with the writers' view."""

    acknowledged: int
    stored: int
    lost: int
    duplicated: int
    unacknowledged_stored: int
    gapless: bool
    matches_view: bool

    def as_figures(self) -> dict[str, Any]:
        """The audit as a JSON-ready mapping."""
        return {
            "events_acknowledged": self.acknowledged,
            "events_stored": self.stored,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "stored_but_not_acknowledged": self.unacknowledged_stored,
            "versions_gapless": self.gapless,
            "writers_view_equals_store": self.matches_view,
        }


async def audit(store: EventStore, acked: dict[StreamId, list[UUID]], category: str) -> Audit:
    """Read every stream and the global log back and compare them with *acked*."""
    gapless = True
    matches = True
    for stream, view in acked.items():
        envelopes = (await store.read(stream)).unwrap()
        gapless &= [e.version for e in envelopes] == list(range(1, len(envelopes) + 1))
        matches &= [e.event_id for e in envelopes] == view
    everything: list[EventEnvelope[Any]] = []
    async for item in store.read_all():
        envelope = item.unwrap()
        if envelope.stream.category == category:
            everything.append(envelope)
    stored_ids = Counter(e.event_id for e in everything)
    acked_ids = {event_id for view in acked.values() for event_id in view}
    return Audit(
        acknowledged=sum(len(view) for view in acked.values()),
        stored=len(everything),
        lost=len(acked_ids - stored_ids.keys()),
        duplicated=sum(count - 1 for count in stored_ids.values()),
        unacknowledged_stored=len(stored_ids.keys() - acked_ids),
        gapless=gapless,
        matches_view=matches,
    )
