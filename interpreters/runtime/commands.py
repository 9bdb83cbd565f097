"""Command handling: one writer per stream, group commit, idempotent commands, retries.

:class:`CommandHandler` turns a pure :class:`~cim.decider.Decider` into a running write side:

1. commands for one stream wait in that stream's queue (bounded: a full queue answers
   :class:`Overloaded`) and are decided one after another, in arrival order, each on the state
   the previous one produced; commands for different streams run concurrently;
2. while one append of a stream is in flight, the commands arriving meanwhile wait; when it is
   acknowledged, the writer takes all of them (a *group*), decides each on the state the one
   before produced, and appends their events together after ``Exactly(version)`` (group
   commit): as a chain of one-event appends sent without waiting, each checked by the server
   (:class:`~interpreters.stores.protocol.ChainedAppends`), or, when a command has several
   events, as one atomic append. Every event keeps its own id, version and position, and every
   command gets its own :class:`Handled` (its version and the position of its last event);
3. the state comes from the handler's state cache without reading (optimistic), or is loaded:
   the latest snapshot plus newer events, or the fold of every event;
4. on :class:`~cim.WrongExpectedVersion` (another process wrote first, or the cached state was
   behind) the writer reads the newer events and decides the group again, with jittered
   exponential backoff within ``retry_budget`` seconds, then gives up with
   :class:`ConcurrencyExhausted`;
5. a command with a ``command_id`` gets event ids derived from it, and the events carry the id
   and a digest of the command: a retry of an applied command is answered with the original
   :class:`Handled` (also on another handler), a retry with another body is refused with
   :class:`CommandIdReused`.

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
...     again = (await handler.handle(StreamId("counter", "c-1"), 4, command_id="cmd-9")).unwrap()
...     retry = (await handler.handle(StreamId("counter", "c-1"), 4, command_id="cmd-9")).unwrap()
...     print(again.version, retry.version, retry.events == again.events)
>>> anyio.run(main)
2 5
3 3 True

Why this module is longer than ~500 lines: the per-stream writer (queues, groups, chains),
command-id recognition and conflict retries all act on one piece of state, a stream's queue and
its known version, under one invariant (each command gets exactly one outcome, decided on the
state its events follow); split across modules, that invariant would have no single place to
be read and checked. The parts with no share in it (``command_event_id``, the error values,
the client in :mod:`~interpreters.runtime.command_client`, routing in
:mod:`~interpreters.runtime.ownership`) live apart.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid5

import anyio
import anyio.lowlevel
import attrs
import orjson
from attrs import frozen
from pyrsistent import pmap
from returns.result import Failure, Result, Success
from uuid_utils.compat import uuid7

from cim import (
    AppendError,
    AppendTooLarge,
    EventEnvelope,
    EventTooLarge,
    Exactly,
    NewEvent,
    StoreError,
    StreamId,
    WrongExpectedVersion,
    id_text,
    make_payload_converter,
)
from cim.decider import Decider, Rejection, state_of
from interpreters.runtime import _metrics, _tracing
from interpreters.stores.protocol import (
    ChainedAppends,
    EventStore,
    ReusedEventIds,
    SnapshotStore,
)

__all__ = (
    "COMMAND_DIGEST",
    "COMMAND_ID",
    "CommandError",
    "CommandHandler",
    "CommandIdReused",
    "ConcurrencyExhausted",
    "Handled",
    "Overloaded",
    "command_event_id",
)

C = TypeVar("C")
E = TypeVar("E")
S = TypeVar("S")

_log = logging.getLogger("cim.commands")

COMMAND_ID = "cim-command-id"
"""The event metadata key holding the ``command_id`` of the command that caused the event."""

COMMAND_DIGEST = "cim-command-digest"
"""The event metadata key holding a digest of that command's body (type and fields)."""

_COMMAND_NAMESPACE = UUID("6c3a9b0e-2f4d-5e1a-9c7b-3d8e4f5a6b7c")
_REMEMBERED_COMMANDS = 1000  # command ids remembered per cached stream (newest kept)
_HOT_STREAMS = 1024  # streams remembered as busy lately


def command_event_id(stream: StreamId, command_id: str, index: int) -> UUID:
    """The id of event number *index* (0-based) caused by command *command_id* on *stream*.

    A UUIDv5, so every retry of the command names its events the same way.

    >>> command_event_id(StreamId("account", "a-1"), "cmd-1", 0)
    UUID('...')
    """
    return uuid5(_COMMAND_NAMESPACE, f"{stream}\x1f{command_id}\x1f{index}")


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
    """Other writers kept winning for ``attempts`` tries (within the retry budget); ``last`` is
    the final conflict. Retrying later with the same ``command_id`` is safe."""

    stream: StreamId
    attempts: int
    last: WrongExpectedVersion

    def __str__(self) -> str:
        return f"gave up on {self.stream} after {self.attempts} conflicting attempts ({self.last})"


@frozen
class Overloaded:
    """``limit`` commands for ``stream`` are waiting already: nothing was done, try again
    later (with the same ``command_id``)."""

    stream: StreamId
    limit: int

    def __str__(self) -> str:
        return f"{self.stream} is overloaded: {self.limit} commands are waiting already"


@frozen
class CommandIdReused:
    """``command_id`` already names another command (a different body) on ``stream``:
    nothing was done. A retry must repeat the command exactly; a new command needs a new id."""

    stream: StreamId
    command_id: str

    def __str__(self) -> str:
        return f"command id {self.command_id!r} already names a different command on {self.stream}"


CommandError = Rejection | ConcurrencyExhausted | Overloaded | CommandIdReused | StoreError

_TERMINAL = Rejection("the aggregate is in a terminal state and accepts no command", "terminal")

Outcome = Result[Handled[Any], CommandError]


class _Ticket:
    """One caller's command waiting in its stream's queue, and its outcome once decided."""

    __slots__ = (
        "causation",
        "command",
        "command_id",
        "correlation",
        "digest",
        "outcome",
        "span",
        "trace",
        "wake",
    )

    def __init__(
        self, command: Any, correlation: str, causation: str, command_id: str | None, digest: str
    ) -> None:
        self.command = command
        self.correlation = correlation
        self.causation = causation
        self.command_id = command_id
        self.digest = digest
        self.outcome: Outcome | None = None
        self.wake: anyio.Event | None = None  # made when the caller has to wait
        self.span: _tracing.Span | None = None  # the command's span (only while tracing)
        self.trace: dict[str, str] = {}  # its trace context, for its events' metadata

    def wait(self) -> anyio.Event:
        """The event that wakes this ticket's caller (its outcome is in, or it may drive)."""
        if self.wake is None:
            self.wake = anyio.Event()
        return self.wake

    def notify(self) -> None:
        """Wake this ticket's caller if it waits."""
        if self.wake is not None:
            self.wake.set()


class _Writer:
    """The queue of one stream and whether a caller is driving it (the leader)."""

    __slots__ = ("leading", "queue")

    def __init__(self) -> None:
        self.queue: deque[_Ticket] = deque()
        self.leading = False


@frozen
class _Done:
    """What a command with an id produced: its body's digest and its outcome."""

    digest: str
    outcome: Outcome


class _Known(Generic[S]):
    """A stream's state at ``version`` and the outcomes of the recent commands with ids."""

    __slots__ = ("commands", "state", "version")

    def __init__(self, version: int, state: S, commands: dict[str, _Done]) -> None:
        self.version = version
        self.state = state
        self.commands = commands


@frozen
class _Pending:
    """An accepted command of a group: its events end at index ``last`` of the group's append."""

    stream: StreamId
    events: tuple[NewEvent[Any], ...]
    version: int
    last: int
    state: Any


class CommandHandler(Generic[C, E, S]):
    """Handle commands for one kind of aggregate with *decider* on *store*.

    * *snapshots*: a :class:`~interpreters.stores.protocol.SnapshotStore` (often the store itself); with
      *snapshot_every* = ``n`` a snapshot is saved whenever a stream's version crosses a multiple
      of ``n``. States are serialised as JSON with the codec's strict converter, as *state_type*
      (default: the type of ``decider.initial``).
    * *cache_size*: how many streams' latest states to keep in memory (0 turns the cache off).
    * *queue_limit*: how many commands may wait for one stream (more: :class:`Overloaded`).
    * *max_group*: how many commands at most share one append (and *max_group_events* events).
    * *retry_budget*: seconds a group keeps retrying against other writers (jittered
      exponential backoff); *max_attempts* (default: no limit) caps the attempts as well.

    One writer per stream: a stream's commands are decided in arrival order, each on the state
    the previous one produced, and the commands that arrive while an append is in flight are
    appended together as one atomic append (group commit). No task runs in the background: the
    first caller of an idle stream drives its queue until its own command is answered, then
    hands over to the next waiting caller; an idle stream's queue is dropped.

    The cache is optimistic: on a hit a group is decided on the cached state at version ``v``
    and appended with ``Exactly(v)`` without reading first. It never hides another writer's
    events: if someone appended after ``v``, the store refuses the append and the group is
    decided again on the stored state; a group that appends nothing (rejections, terminal state,
    no events) cannot be checked that way, so it is decided again after reading the newer events.
    """

    def __init__(
        self,
        decider: Decider[C, E, S],
        store: EventStore,
        *,
        snapshots: SnapshotStore | None = None,
        max_attempts: int | None = None,
        retry_budget: float = 5.0,
        snapshot_every: int | None = None,
        state_type: Any = None,
        cache_size: int = 1024,
        queue_limit: int = 1024,
        max_group: int = 256,
        max_group_events: int = 1000,
    ) -> None:
        if max_attempts is not None and (not isinstance(max_attempts, int) or max_attempts < 1):
            raise ValueError(f"max_attempts must be None or an int >= 1, got {max_attempts!r}")
        if not isinstance(retry_budget, int | float) or not retry_budget >= 0:
            raise ValueError(f"retry_budget must be seconds >= 0, got {retry_budget!r}")
        if snapshot_every is not None and (
            not isinstance(snapshot_every, int) or snapshot_every < 1
        ):
            raise ValueError(f"snapshot_every must be None or an int >= 1, got {snapshot_every!r}")
        if snapshot_every is not None and snapshots is None:
            raise ValueError("snapshot_every needs a snapshot store: pass snapshots=...")
        for name, value, least in (
            ("cache_size", cache_size, 0),
            ("queue_limit", queue_limit, 1),
            ("max_group", max_group, 1),
            ("max_group_events", max_group_events, 1),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
        self.decider = decider
        self.store = store
        self.snapshots = snapshots
        self.max_attempts = max_attempts
        self.retry_budget = float(retry_budget)
        self.snapshot_every = snapshot_every
        self.state_type: Any = type(decider.initial) if state_type is None else state_type
        self.queue_limit = queue_limit
        self.max_group = max_group
        self.max_group_events = max_group_events
        self._converter = make_payload_converter()
        self._cache: OrderedDict[StreamId, _Known[S]] = OrderedDict()
        self._cache_size = cache_size
        self._writers: dict[StreamId, _Writer] = {}
        self._hot: dict[StreamId, None] = {}  # streams whose last group had several commands

    @property
    def busy_streams(self) -> int:
        """How many streams have commands waiting or in flight now (their queues use memory)."""
        return len(self._writers)

    async def handle(
        self,
        stream: StreamId,
        command: C,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        command_id: str | None = None,
    ) -> Result[Handled[S], CommandError]:
        """Decide *command* on *stream* and append the events it causes.

        *correlation_id* defaults to a fresh UUIDv7 and *causation_id* to the correlation id
        (a command that starts a conversation is its own cause). With *command_id* the command
        is idempotent: a retry is answered with the original :class:`Handled`.

        Cancelling the call withdraws the command if it is still waiting; once its group's
        append is sent, the command completes (the caller just does not hear the outcome).
        """
        if command_id is not None:
            id_text("command_id", command_id)
        if type(stream) is not StreamId:
            raise TypeError(f"stream must be a StreamId, got {type(stream).__name__}")
        correlation = correlation_id if correlation_id is not None else str(uuid7())
        causation = causation_id if causation_id is not None else correlation
        digest = self.digest(command) if command_id is not None else ""
        ticket = _Ticket(command, correlation, causation, command_id, digest)
        tracer, meters = _tracing.tracer(), _metrics.instruments()
        if tracer is None and meters is None:
            return await self._enqueue(stream, ticket)
        return await self._observed(stream, ticket, tracer, meters)

    async def _observed(
        self,
        stream: StreamId,
        ticket: _Ticket,
        tracer: _tracing.Tracer | None,
        meters: _metrics.Instruments | None,
    ) -> Outcome:
        """:meth:`_enqueue` in a ``cim.handle`` span (a child of the current span), counted
        and timed."""
        started = time.perf_counter()
        if tracer is None:
            outcome = await self._enqueue(stream, ticket)
        else:
            with tracer.start_as_current_span(
                "cim.handle", attributes=_tracing.command_attributes(stream, ticket.command)
            ) as span:
                ticket.span, ticket.trace = span, _tracing.carrier(span)
                outcome = await self._enqueue(stream, ticket)
                _tracing.handled(span, _outcome_name(outcome), outcome)
        if meters is not None:
            attributes = {
                _metrics.CATEGORY: stream.category,
                _metrics.OUTCOME: _outcome_name(outcome),
            }
            meters.commands.add(1, attributes)
            meters.command_duration.record(time.perf_counter() - started, attributes)
        return outcome

    async def _enqueue(self, stream: StreamId, ticket: _Ticket) -> Outcome:
        """*ticket*'s outcome: written at once on an idle stream, else queued behind the others."""
        writer = self._writers.get(stream)
        if writer is None:  # an idle stream: this caller writes at once, others queue behind
            writer = self._writers[stream] = _Writer()
            writer.leading = True
            if stream in self._hot:  # busy lately: let the callers ready now join this append
                writer.queue.append(ticket)
                try:
                    await anyio.lowlevel.checkpoint()
                    await self._lead(stream, writer, ticket)
                finally:
                    writer.leading = False
                    if ticket.outcome is None and ticket in writer.queue:
                        writer.queue.remove(ticket)
                    self._hand_over(stream, writer)
                assert ticket.outcome is not None  # _lead returns once it has one
                return ticket.outcome
            try:
                return await self._solo(stream, ticket)
            finally:
                writer.leading = False
                self._hand_over(stream, writer)
        if len(writer.queue) >= self.queue_limit:
            return Failure(Overloaded(stream, self.queue_limit))
        writer.queue.append(ticket)
        try:
            while ticket.outcome is None:
                if writer.leading:
                    await ticket.wait().wait()
                    ticket.wake = None
                    continue
                writer.leading = True
                try:
                    await self._lead(stream, writer, ticket)
                finally:
                    writer.leading = False
        finally:
            if ticket.outcome is None and ticket in writer.queue:  # withdrawn while waiting
                writer.queue.remove(ticket)
            if not writer.leading:
                self._hand_over(stream, writer)
        assert ticket.outcome is not None  # the loop above ends only with an outcome
        return ticket.outcome

    def _mark(self, stream: StreamId, *, hot: bool) -> None:
        """Remember whether *stream*'s commands arrived together lately (bounded)."""
        if hot:
            self._hot[stream] = None
            if len(self._hot) > _HOT_STREAMS:
                del self._hot[next(iter(self._hot))]
        else:
            self._hot.pop(stream, None)

    def _hand_over(self, stream: StreamId, writer: _Writer) -> None:
        """Wake the next waiting caller to drive *writer*'s queue, or drop the idle queue."""
        if writer.queue:
            writer.queue[0].notify()
        elif self._writers.get(stream) is writer:
            del self._writers[stream]

    async def _solo(self, stream: StreamId, ticket: _Ticket) -> Outcome:
        """*ticket*'s outcome, on an idle stream: with a cached state and events to append, the
        old single-command path (one append, no group bookkeeping); anything else is a group of
        one."""
        hit = self._cache.get(stream)
        if hit is None or ticket.command_id is not None or self.decider.is_terminal(hit.state):
            return (await self._run_group(stream, [ticket]))[0]
        decided = self._decide(stream, ticket, hit.state, hit.version)
        payloads = decided.value_or(())
        if not payloads:  # a rejection or no events: checked on the stored state
            return (await self._run_group(stream, [ticket], attempts=0, fresh=True))[0]
        events = _stamp(stream, payloads, ticket)
        watch = _AppendWatch.of(stream, hit.version, [(ticket, len(events) - 1)], len(events))
        appended = await self.store.append(stream, events, expected=Exactly(hit.version))
        if watch is not None:
            watch.done(*_stored(appended, len(events)))
        if isinstance(appended, Failure):
            if isinstance(appended.failure(), WrongExpectedVersion):
                return (await self._run_group(stream, [ticket], attempts=1, fresh=True))[0]
            return Failure(appended.failure())
        result = appended.unwrap()
        if result.version != hit.version + len(events):  # not appended now (see _append)
            return (await self._run_group(stream, [ticket], attempts=1, fresh=True))[0]
        state = state_of(self.decider, (e.payload for e in events), hit.state)
        self._remember(stream, _Known(result.version, state, hit.commands))
        await self._maybe_snapshot(stream, hit.version, result.version, state)
        return Success(Handled(stream, events, result.version, result.position, state))

    def _decide(
        self, stream: StreamId, ticket: _Ticket, state: S, version: int
    ) -> Result[Sequence[Any], Rejection]:
        """The decider's answer to *ticket*'s command on *state* (in a ``cim.decide`` span)."""
        tracer = None if ticket.span is None else _tracing.tracer()
        if tracer is None or ticket.span is None:
            return self.decider.decide(ticket.command, state)
        with _tracing.child(tracer, "cim.decide", ticket.span, stream, version) as span:
            decided = self.decider.decide(ticket.command, state)
            _tracing.decided(span, decided)
        return decided

    def digest(self, command: object) -> str:
        """A digest of *command*'s type and fields (a retry must have the same one)."""
        kind = type(command)
        try:
            body = orjson.dumps(self._converter.unstructure(command), option=orjson.OPT_SORT_KEYS)
        except (TypeError, ValueError, orjson.JSONEncodeError):
            body = repr(command).encode()
        name = f"{kind.__module__}.{kind.__qualname__}".encode()
        return hashlib.sha256(name + b"\x1f" + body).hexdigest()[:32]

    async def _lead(self, stream: StreamId, writer: _Writer, ticket: _Ticket) -> None:
        """Decide and append groups from the front of *writer*'s queue until *ticket* is done."""
        while True:
            group = [writer.queue.popleft()]
            while writer.queue and len(group) < self.max_group:
                group.append(writer.queue.popleft())
            self._mark(stream, hot=len(group) > 1)
            if group[0] is ticket and len(group) == 1:  # the caller's own command only
                outcomes = await self._run_group(stream, group)
            else:
                with anyio.CancelScope(shield=True):  # others' commands are always answered
                    try:
                        outcomes = await self._run_group(stream, group)
                    except BaseException:  # a bug: the others wait for the next leader
                        writer.queue.extendleft(reversed([t for t in group if t is not ticket]))
                        raise
            for waiting, outcome in zip(group, outcomes, strict=True):
                waiting.outcome = outcome
                waiting.notify()
            if ticket.outcome is not None:
                return
            await anyio.lowlevel.checkpoint_if_cancelled()  # a cancelled leader leaves here

    async def _run_group(
        self, stream: StreamId, group: list[_Ticket], *, attempts: int = 0, fresh: bool = False
    ) -> list[Outcome]:
        """The outcome of each command of *group*, decided in order and appended together
        (*attempts* already made; *fresh*: read the stored state first)."""
        deadline: float | None = None  # set at the first conflict
        answered: list[Outcome] = []
        while True:
            rest = group[len(answered) :]
            known = await self._known(stream, fresh=fresh)
            if isinstance(known, Failure):
                return answered + [Failure(known.failure())] * len(rest)
            cached, base = known.unwrap()
            planned = self._plan(stream, base, rest)
            if planned is None:  # more events than one append takes: one command at a time
                return answered + [await self._alone(stream, ticket) for ticket in rest]
            items, events = planned
            if not events:
                if cached and not all(_recognised(t, base) for t in rest):
                    fresh = True  # decisions without events are checked on the stored state
                    continue
                outcomes = [_resolved(item, ()) for item in items]
                self._settle(stream, base, rest, outcomes, base.version, base.state)
                return answered + outcomes
            attempts += 1
            watch = _AppendWatch.of(
                stream,
                base.version,
                [(t, i.last) for t, i in zip(rest, items, strict=True) if isinstance(i, _Pending)],
                len(events),
            )
            try:
                positions, error = await self._append(stream, base.version, items, events)
            except ReusedEventIds as exc:
                if watch is not None:
                    watch.done((), exc)
                if len(rest) > 1:  # a retried command outside what the group saw: alone
                    return answered + [await self._alone(stream, ticket) for ticket in rest]
                raise
            if watch is not None:
                watch.done(positions, error)
            if positions:  # the commands up to the last one stored are answered
                done = len(rest) if error is None else _answered(items, len(positions))
                outcomes = [_resolved(item, positions) for item in items[:done]]
                state = _last_state(items[:done], base.state)
                version = base.version + len(positions)
                self._settle(stream, base, rest[:done], outcomes, version, state)
                await self._maybe_snapshot(stream, base.version, version, state)
                answered += outcomes
                if error is None:
                    return answered
                if isinstance(error, WrongExpectedVersion):
                    fresh = False  # go on from there: a real conflict shows at the next append
                    continue
                rest = group[len(answered) :]
            if not isinstance(error, WrongExpectedVersion):
                if len(rest) > 1 and isinstance(error, EventTooLarge | AppendTooLarge):
                    # refused before it was stored: each command on its own, the culprit fails
                    return answered + [await self._alone(stream, ticket) for ticket in rest]
                # the store failed (the append may or may not be stored): never decided again
                # here, so a command without an id is never applied twice
                return answered + [Failure(error)] * len(rest) if error is not None else answered
            fresh = True
            out_of_attempts = self.max_attempts is not None and attempts >= self.max_attempts
            now = anyio.current_time()
            if deadline is None:
                deadline = now + self.retry_budget
            if out_of_attempts or now >= deadline:
                return answered + [
                    item
                    if _recognised(ticket, base) and not isinstance(item, _Pending)
                    else Failure(ConcurrencyExhausted(stream, attempts, error))
                    for ticket, item in zip(rest, items, strict=True)
                ]
            if not cached:  # a real race with another process: let the winner finish
                pause = random.uniform(0, min(0.05, 0.001 * 2**attempts))
                await anyio.sleep(min(pause, max(0.0, deadline - now)))

    async def _alone(self, stream: StreamId, ticket: _Ticket) -> Outcome:
        """The outcome of *ticket* decided and appended by itself (a group of one)."""
        return (await self._run_group(stream, [ticket]))[0]

    async def _append(
        self,
        stream: StreamId,
        version: int,
        items: list[Outcome | _Pending],
        events: tuple[NewEvent[Any], ...],
    ) -> tuple[tuple[int, ...], AppendError | None]:
        """Append a group's *events* after *version*: the positions of those stored (a
        prefix) and the failure that stopped the rest.

        One command with one event is one append. Several commands of one event each are a
        chain when the store can (each event its own append, sent without waiting, each
        checked by the server); otherwise all events are one atomic append.
        """
        store = self.store
        if (
            len(events) > 1
            and all(len(i.events) == 1 for i in items if isinstance(i, _Pending))
            and isinstance(store, ChainedAppends)
        ):
            results, error = await store.append_chain(stream, events, expected=Exactly(version))
            return tuple(r.position for r in results), error
        appended = await store.append(stream, list(events), expected=Exactly(version))
        if isinstance(appended, Failure):
            return (), appended.failure()
        result, count = appended.unwrap(), len(events)
        if result.version != version + count:  # these ids were stored before (a retry the
            # handler did not know): nothing was appended now; read the stream, decide again
            return (), WrongExpectedVersion(stream, Exactly(version), result.version)
        last = result.position
        # one atomic append stores its events at consecutive positions
        return tuple(last - (count - 1 - i) for i in range(count)), None

    def _plan(
        self, stream: StreamId, base: _Known[S], group: list[_Ticket]
    ) -> tuple[list[Outcome | _Pending], tuple[NewEvent[Any], ...]] | None:
        """Each command of *group* decided on the state the one before produced, and the
        events to append (``None``: more than one append takes)."""
        version, state = base.version, base.state
        remembered = base.commands
        seen: dict[str, tuple[str, Outcome | _Pending]] = {}  # command ids of this group
        items: list[Outcome | _Pending] = []
        events: list[NewEvent[Any]] = []
        for ticket in group:
            item: Outcome | _Pending
            earlier: tuple[str, Outcome | _Pending] | None = None
            if ticket.command_id is not None:
                done = remembered.get(ticket.command_id)
                earlier = (done.digest, done.outcome) if done else seen.get(ticket.command_id)
            if earlier is not None:  # a retry: the original answer, or a reused id
                digest, original = earlier
                reused = Failure(CommandIdReused(stream, ticket.command_id or ""))
                items.append(original if digest == ticket.digest else reused)
                continue
            if self.decider.is_terminal(state):
                item = Failure(_TERMINAL)
            else:
                decided = self._decide(stream, ticket, state, version)
                if isinstance(decided, Failure):
                    item = Failure(decided.failure())
                elif not decided.unwrap():
                    item = Success(Handled(stream, (), version, None, state))
                else:
                    stamped = _stamp(stream, decided.unwrap(), ticket)
                    if len(events) + len(stamped) > self.max_group_events and len(group) > 1:
                        return None
                    events.extend(stamped)
                    state = state_of(self.decider, (e.payload for e in stamped), state)
                    version += len(stamped)
                    item = _Pending(stream, stamped, version, len(events) - 1, state)
            items.append(item)
            if ticket.command_id is not None:
                seen[ticket.command_id] = (ticket.digest, item)
        return items, tuple(events)

    def _settle(
        self,
        stream: StreamId,
        base: _Known[S],
        group: list[_Ticket],
        outcomes: list[Outcome],
        version: int,
        state: S,
    ) -> None:
        """Remember the state after a confirmed group and the outcomes of its command ids."""
        commands = base.commands  # the base is replaced by the known state after the group
        for ticket, outcome in zip(group, outcomes, strict=True):
            if ticket.command_id is not None and ticket.command_id not in commands:
                commands[ticket.command_id] = _Done(ticket.digest, outcome)
        self._remember(stream, _Known(version, state, commands))

    async def _known(
        self, stream: StreamId, *, fresh: bool
    ) -> Result[tuple[bool, _Known[S]], StoreError]:
        """``(cached, known)``: the cached state (unless *fresh*), or the state as stored."""
        hit = self._cache.get(stream)
        if hit is not None and not fresh:
            return Success((True, hit))
        loaded = await self._load(stream)
        return loaded.map(lambda known: (False, known))

    async def load(self, stream: StreamId) -> Result[tuple[int, S], StoreError]:
        """The current ``(version, state)`` of *stream* (version 0 and the initial state if new)."""
        loaded = await self._load(stream)
        return loaded.map(lambda known: (known.version, known.state))

    async def _load(self, stream: StreamId) -> Result[_Known[S], StoreError]:
        cached = self._cache.get(stream)
        if cached is not None:
            newer = await self.store.read(stream, from_version=cached.version + 1)
            return newer.map(lambda events: self._advance(stream, cached, events))
        if self.snapshots is not None:
            loaded = await self.snapshots.load_snapshot(stream)
            if isinstance(loaded, Success):
                snap = loaded.unwrap()
                if snap.snapshot is None:  # no snapshot yet: the events are the whole stream
                    start = _Known(0, self.decider.initial, {})
                    return Success(self._advance(stream, start, snap.events))
                thawed = self._thaw(snap.snapshot.state)
                if thawed is not None:
                    start = _Known(snap.snapshot.version, thawed[0], {})
                    return Success(self._advance(stream, start, snap.events))
        everything = await self.store.read(stream)
        return everything.map(
            lambda events: self._advance(stream, _Known(0, self.decider.initial, {}), events)
        )

    def _advance(
        self, stream: StreamId, known: _Known[S], events: Sequence[EventEnvelope[Any]]
    ) -> _Known[S]:
        """*known* after *events*, with the command ids they carry."""
        if not events:
            self._remember(stream, known)
            return known
        commands = known.commands  # *known* is replaced by the state after *events*
        state = known.state
        run: list[EventEnvelope[Any]] = []
        for index, event in enumerate(events, start=1):
            state = self.decider.evolve(state, event.payload)
            command_id = event.metadata.get(COMMAND_ID)
            if command_id is None:
                continue
            run.append(event)
            following = events[index].metadata.get(COMMAND_ID) if index < len(events) else None
            if following != command_id:
                handled = Handled(
                    stream,
                    tuple(_as_new(e) for e in run),
                    event.version,
                    event.position,
                    state,
                )
                digest = event.metadata.get(COMMAND_DIGEST, "")
                commands.pop(command_id, None)
                commands[command_id] = _Done(digest, Success(handled))
                run = []
        advanced = _Known(events[-1].version, state, commands)
        self._remember(stream, advanced)
        return advanced

    def _remember(self, stream: StreamId, known: _Known[S]) -> None:
        if self._cache_size == 0 or known.version == 0:
            return
        commands = known.commands
        while len(commands) > _REMEMBERED_COMMANDS:  # the oldest first
            del commands[next(iter(commands))]
        self._cache[stream] = known
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


def _outcome_name(outcome: Outcome) -> str:
    """The ``cim.outcome`` of a command's outcome (see docs/observability.md)."""
    if isinstance(outcome, Success):
        return "accepted"
    error = outcome.failure()
    if isinstance(error, Rejection):
        return "rejected"
    if isinstance(error, ConcurrencyExhausted):
        return "conflict"
    if isinstance(error, Overloaded):
        return "overloaded"
    if isinstance(error, CommandIdReused):
        return "command_id_reused"
    return "store_error"


def _stored(
    appended: Result[Any, AppendError], count: int
) -> tuple[tuple[int, ...], AppendError | None]:
    """The positions of *count* events one atomic append stored, and its failure."""
    if isinstance(appended, Failure):
        return (), appended.failure()
    last = appended.unwrap().position
    return tuple(last - (count - 1 - i) for i in range(count)), None


class _AppendWatch:
    """The ``cim.append`` spans (one per traced command of a group) and the append latency of
    one append; made only while tracing or metrics are on."""

    __slots__ = ("commands", "meters", "spans", "started", "stream")

    def __init__(
        self,
        stream: StreamId,
        spans: list[tuple[_tracing.Span, int]],
        meters: _metrics.Instruments | None,
    ) -> None:
        self.stream = stream
        self.spans = spans
        self.meters = meters
        self.started = time.perf_counter()

    @classmethod
    def of(
        cls, stream: StreamId, version: int, commands: list[tuple[_Ticket, int]], events: int
    ) -> _AppendWatch | None:
        """A watch of the append after *version* of *events* for *commands* (each with the
        index of its last event), or ``None`` when telemetry is off."""
        tracer, meters = _tracing.tracer(), _metrics.instruments()
        if tracer is None and meters is None:
            return None
        spans = []
        if tracer is not None:
            for ticket, last in commands:
                if ticket.span is not None:
                    span = _tracing.start_append(
                        tracer, ticket.span, stream, version, events, len(commands)
                    )
                    spans.append((span, last))
        return cls(stream, spans, meters)

    def done(self, positions: Sequence[int], error: object | None) -> None:
        """End the spans and record the latency: *positions* were stored, then *error*."""
        if self.meters is not None:
            outcome = (
                "appended"
                if error is None
                else "conflict"
                if isinstance(error, WrongExpectedVersion)
                else "error"
            )
            attributes = {_metrics.CATEGORY: self.stream.category, _metrics.OUTCOME: outcome}
            self.meters.append_duration.record(time.perf_counter() - self.started, attributes)
        for span, last in self.spans:
            _tracing.appended(span, positions[last] if last < len(positions) else None, error)


def _last_state(items: list[Outcome | _Pending], state: Any) -> Any:
    """The state after the last accepted command of a group (*state* if none)."""
    for item in reversed(items):
        if isinstance(item, _Pending):
            return item.state
    return state


def _recognised(ticket: _Ticket, known: _Known[Any]) -> bool:
    """Whether *ticket* is a retry of a command *known* remembers."""
    return ticket.command_id is not None and ticket.command_id in known.commands


def _resolved(item: Outcome | _Pending, positions: Sequence[int]) -> Outcome:
    """The outcome of *item* once the events of its group are stored at *positions*."""
    if isinstance(item, _Pending):
        return Success(
            Handled(item.stream, item.events, item.version, positions[item.last], item.state)
        )
    return item


def _answered(items: list[Outcome | _Pending], stored: int) -> int:
    """How many of *items* are answered when only the first *stored* events were stored."""
    for index, item in enumerate(items):
        if isinstance(item, _Pending) and item.last == stored - 1:
            return index + 1
    raise AssertionError(f"no command ends at event {stored}")  # pragma: no cover


def _as_new(envelope: EventEnvelope[Any]) -> NewEvent[Any]:
    return NewEvent(
        envelope.payload,
        event_id=envelope.event_id,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        metadata=envelope.metadata,
    )


def _stamp(stream: StreamId, payloads: Sequence[Any], ticket: _Ticket) -> tuple[NewEvent[Any], ...]:
    """*payloads* as events with ids, correlation and causation (and the command id)."""
    stamped: list[NewEvent[Any]] = []
    command_id = ticket.command_id
    for index, payload in enumerate(payloads):
        event_id = None if command_id is None else command_event_id(stream, command_id, index)
        if not isinstance(payload, NewEvent):
            metadata = (
                ticket.trace
                if command_id is None
                else {**ticket.trace, COMMAND_ID: command_id, COMMAND_DIGEST: ticket.digest}
            )
            stamped.append(
                NewEvent(
                    payload,
                    event_id=event_id or uuid7(),
                    correlation_id=ticket.correlation,
                    causation_id=ticket.causation,
                    metadata=metadata or {},
                )
            )
            continue
        metadata_map = payload.metadata
        if ticket.trace:  # the command's trace context, unless the event names its own
            metadata_map = pmap(ticket.trace).update(metadata_map)
        if command_id is not None:
            metadata_map = metadata_map.update(
                {COMMAND_ID: command_id, COMMAND_DIGEST: ticket.digest}
            )
        stamped.append(
            attrs.evolve(
                payload,
                event_id=event_id or payload.event_id or uuid7(),
                correlation_id=payload.correlation_id or ticket.correlation,
                causation_id=payload.causation_id or ticket.causation,
                metadata=metadata_map,
            )
        )
    return tuple(stamped)
