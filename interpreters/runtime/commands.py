"""Command handling: load an aggregate's state, decide, append with the expected version, retry.

:class:`CommandHandler` turns a pure :class:`~cim.decider.Decider` into a running write side:

1. take the state of *stream* from the handler's state cache without reading (optimistic), or
   load it: the latest snapshot plus newer events, or the fold of every event;
2. ``decide(command, state)`` (a terminal state accepts no command);
3. append the events with ``Exactly(version)``, each stamped with a fresh event id and the
   command's correlation and causation ids;
4. on :class:`~cim.WrongExpectedVersion` (another writer got there first, or the cached state
   was behind) read the newer events, decide again, up to ``max_attempts`` times, then give up
   with :class:`ConcurrencyExhausted`.

>>> import anyio
>>> from attrs import frozen
>>> from returns.result import Success
>>> from cim import EventTypes, StreamId
>>> from cim.decider import Decider
>>> from interpreters.stores.memory import InMemoryEventStore
>>> @frozen
... class Added:
...     amount: int
>>> counter = Decider(0, lambda n, total: Success((Added(n),)), lambda t, e: t + e.amount)
>>> async def main() -> None:
...     store = InMemoryEventStore(types=EventTypes().register(Added))
...     handler = CommandHandler(counter, store)
...     await handler.handle(StreamId("counter", "c-1"), 2)
...     handled = (await handler.handle(StreamId("counter", "c-1"), 3)).unwrap()
...     print(handled.version, handled.state)
>>> anyio.run(main)
2 5
"""

from __future__ import annotations

import logging
import random
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import anyio
import attrs
import orjson
from attrs import frozen
from returns.result import Failure, Result, Success
from uuid_utils.compat import uuid7

from cim import (
    EventEnvelope,
    Exactly,
    NewEvent,
    StoreError,
    StreamId,
    WrongExpectedVersion,
    make_payload_converter,
)
from cim.decider import Decider, Rejection, state_of
from interpreters.stores.protocol import EventStore, SnapshotStore

__all__ = ("CommandError", "CommandHandler", "ConcurrencyExhausted", "Handled")

C = TypeVar("C")
E = TypeVar("E")
S = TypeVar("S")

_log = logging.getLogger("cim.commands")


@frozen
class Handled(Generic[S]):
    """A handled command: the ``events`` appended (ids stamped), the stream's new ``version``,
    the global ``position`` of the last event (``None`` when the decision was no events) and the
    aggregate's ``state`` after them."""

    stream: StreamId
    events: tuple[NewEvent[Any], ...]
    version: int
    position: int | None
    state: S


@frozen
class ConcurrencyExhausted:
    """Every attempt lost the race to another writer; ``last`` is the final conflict."""

    stream: StreamId
    attempts: int
    last: WrongExpectedVersion

    def __str__(self) -> str:
        return f"gave up on {self.stream} after {self.attempts} conflicting attempts ({self.last})"


CommandError = Rejection | ConcurrencyExhausted | StoreError

_TERMINAL = Rejection("the aggregate is in a terminal state and accepts no command", "terminal")


class CommandHandler(Generic[C, E, S]):
    """Handle commands for one kind of aggregate with *decider* on *store*.

    * *snapshots*: a :class:`~interpreters.stores.protocol.SnapshotStore` (often the store itself); with
      *snapshot_every* = ``n`` a snapshot is saved whenever a stream's version crosses a multiple
      of ``n``. States are serialised as JSON with the codec's strict converter, as *state_type*
      (default: the type of ``decider.initial``).
    * *cache_size*: how many streams' latest states to keep in memory (0 turns the cache off).

    The cache is optimistic: on a hit the command is decided on the cached state at version
    ``v`` and appended with ``Exactly(v)`` without reading first, so a command costs one round
    trip. It never hides another writer's events:

    * if someone appended after ``v``, the store refuses the append
      (:class:`~cim.WrongExpectedVersion`, checked by the server); the handler reads the events
      after ``v`` and decides again. That optimistic try counts as one of ``max_attempts``;
    * a decision that appends nothing (a :class:`~cim.decider.Rejection`, a terminal state, or
      no events) cannot be checked that way, so before returning it the handler reads the
      events after ``v`` and decides again on the current state, and returns that outcome.
    """

    def __init__(
        self,
        decider: Decider[C, E, S],
        store: EventStore,
        *,
        snapshots: SnapshotStore | None = None,
        max_attempts: int = 3,
        snapshot_every: int | None = None,
        state_type: Any = None,
        cache_size: int = 1024,
    ) -> None:
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        if snapshot_every is not None and (
            not isinstance(snapshot_every, int) or snapshot_every < 1
        ):
            raise ValueError(f"snapshot_every must be None or an int >= 1, got {snapshot_every!r}")
        if snapshot_every is not None and snapshots is None:
            raise ValueError("snapshot_every needs a snapshot store: pass snapshots=...")
        if not isinstance(cache_size, int) or cache_size < 0:
            raise ValueError(f"cache_size must be an int >= 0, got {cache_size!r}")
        self.decider = decider
        self.store = store
        self.snapshots = snapshots
        self.max_attempts = max_attempts
        self.snapshot_every = snapshot_every
        self.state_type: Any = type(decider.initial) if state_type is None else state_type
        self._converter = make_payload_converter()
        self._cache: OrderedDict[StreamId, tuple[int, S]] = OrderedDict()
        self._cache_size = cache_size

    async def handle(
        self,
        stream: StreamId,
        command: C,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Result[Handled[S], CommandError]:
        """Decide *command* on *stream* and append the events it causes.

        *correlation_id* defaults to a fresh UUIDv7 and *causation_id* to the correlation id
        (a command that starts a conversation is its own cause).
        """
        correlation = correlation_id if correlation_id is not None else str(uuid7())
        causation = causation_id if causation_id is not None else correlation
        conflict: WrongExpectedVersion | None = None
        optimistic = True
        for attempt in range(1, self.max_attempts + 1):
            decision = await self._decision(stream, command, optimistic=optimistic)
            if isinstance(decision, Failure):
                return Failure(decision.failure())
            version, state, payloads, cached = decision.unwrap()
            if not payloads:
                return Success(Handled(stream, (), version, None, state))
            events = tuple(_stamp(p, correlation, causation) for p in payloads)
            appended = await self.store.append(stream, events, expected=Exactly(version))
            if isinstance(appended, Success):
                result = appended.unwrap()
                new_state = state_of(self.decider, (e.payload for e in events), state)
                self._remember(stream, result.version, new_state)
                await self._maybe_snapshot(stream, version, result.version, new_state)
                return Success(Handled(stream, events, result.version, result.position, new_state))
            error = appended.failure()
            if not isinstance(error, WrongExpectedVersion):
                return Failure(error)
            conflict = error
            optimistic = False
            if not cached and attempt < self.max_attempts:  # a real race: let the winner finish
                await anyio.sleep(random.uniform(0, 0.002 * attempt))
        assert conflict is not None
        return Failure(ConcurrencyExhausted(stream, self.max_attempts, conflict))

    async def _decision(
        self, stream: StreamId, command: C, *, optimistic: bool
    ) -> Result[tuple[int, S, Sequence[Any], bool], CommandError]:
        """``(version, state, payloads, cached)``: what to append, decided on which state.

        With *optimistic* and a cached state, a decision with events is made on the cache alone
        (``cached`` is then true: the append checks it). Anything else is decided on the state
        as currently stored: a rejection or an empty decision on a cached state is made again
        after reading the newer events.
        """
        if optimistic:
            hit = self._cache.get(stream)
            if hit is not None:
                version, state = hit
                if not self.decider.is_terminal(state):
                    decided = self.decider.decide(command, state)
                    if isinstance(decided, Success) and decided.unwrap():
                        return Success((version, state, decided.unwrap(), True))
        loaded = await self.load(stream)
        if isinstance(loaded, Failure):
            return Failure(loaded.failure())
        version, state = loaded.unwrap()
        if self.decider.is_terminal(state):
            return Failure(_TERMINAL)
        return self.decider.decide(command, state).map(
            lambda payloads: (version, state, payloads, False)
        )

    async def load(self, stream: StreamId) -> Result[tuple[int, S], StoreError]:
        """The current ``(version, state)`` of *stream* (version 0 and the initial state if new)."""
        cached = self._cache.get(stream)
        if cached is not None:
            version, state = cached
            newer = await self.store.read(stream, from_version=version + 1)
            return newer.map(lambda events: self._advance(stream, version, state, events))
        if self.snapshots is not None:
            loaded = await self.snapshots.load_snapshot(stream)
            if isinstance(loaded, Success):
                snap = loaded.unwrap()
                if snap.snapshot is None:  # no snapshot yet: the events are the whole stream
                    return Success(self._advance(stream, 0, self.decider.initial, snap.events))
                start = self._thaw(snap.snapshot.state)
                if start is not None:
                    return Success(
                        self._advance(stream, snap.snapshot.version, start[0], snap.events)
                    )
        everything = await self.store.read(stream)
        return everything.map(lambda events: self._advance(stream, 0, self.decider.initial, events))

    def _advance(
        self, stream: StreamId, version: int, state: S, events: Sequence[EventEnvelope[Any]]
    ) -> tuple[int, S]:
        if events:
            state = state_of(self.decider, (e.payload for e in events), state)
            version = events[-1].version
        self._remember(stream, version, state)
        return version, state

    def _remember(self, stream: StreamId, version: int, state: S) -> None:
        if self._cache_size == 0 or version == 0:
            return
        self._cache[stream] = (version, state)
        self._cache.move_to_end(stream)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    async def _maybe_snapshot(self, stream: StreamId, before: int, after: int, state: S) -> None:
        every = self.snapshot_every
        if self.snapshots is None or every is None or after // every == before // every:
            return
        data = orjson.dumps(self._converter.unstructure(state, self.state_type))
        saved = await self.snapshots.save_snapshot(stream, after, data)
        if isinstance(saved, Failure):  # a snapshot only speeds loading up: never fail a command
            _log.warning(
                "snapshot of %s at version %d not saved: %s", stream, after, saved.failure()
            )

    def _thaw(self, data: bytes) -> tuple[S] | None:
        try:
            return (self._converter.structure(orjson.loads(data), self.state_type),)
        except Exception as exc:  # a stale or foreign snapshot: fall back to the events
            _log.warning("ignoring unreadable snapshot (%s: %s)", type(exc).__name__, exc)
            return None


def _stamp(payload: Any, correlation: str, causation: str) -> NewEvent[Any]:
    if isinstance(payload, NewEvent):
        return attrs.evolve(
            payload,
            event_id=payload.event_id or uuid7(),
            correlation_id=payload.correlation_id or correlation,
            causation_id=payload.causation_id or causation,
        )
    return NewEvent(payload, event_id=uuid7(), correlation_id=correlation, causation_id=causation)
