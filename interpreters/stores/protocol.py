"""The ``EventStore`` protocol every store implements (in memory, JetStream, yours).

All expected failures are ``returns`` values; exceptions are programmer errors. The iterator
forms yield one ``Result`` per event, so a message that cannot be decoded is a
:class:`~cim.CorruptEvent` value in the sequence, not an exception that ends it.

The iterator forms are async generators, so they can be closed: they hold resources (a
subscription, an inbox) until they end, and when you stop early you close them, e.g. ``async with contextlib.aclosing(store.subscribe()) as events: ...``. Cancelling the
task that iterates also releases them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from attrs import field, frozen
from returns.result import Result

from cim import (
    AnyVersion,
    AppendError,
    AppendResult,
    EventEnvelope,
    Exactly,
    ExpectedVersion,
    NewEvent,
    NoStream,
    StoreError,
    StreamExists,
    StreamId,
    shown,
    validate_token,
)

__all__ = (
    "EventStore",
    "ChainedAppends",
    "LastPosition",
    "Loaded",
    "ReusedEventIds",
    "Snapshot",
    "SnapshotStore",
    "check_append",
    "check_categories",
    "check_chain",
    "check_from",
    "encoded_size",
    "snapshot_size",
    "utc_now",
)

_ANY = AnyVersion()
_EXPECTATIONS = (AnyVersion, NoStream, StreamExists, Exactly)


class ReusedEventIds(ValueError):
    """Event ids of an append already name other events: one id names one event.

    A retry (the same events with the same ids, to the same stream) is not reuse: it answers
    with the original result. Putting an id to another event (in another stream, in another
    run of events, or twice in one append) is a programmer error, and nothing is stored.
    """

    def __init__(self, ids: Sequence[UUID], used_by: str) -> None:
        self.ids = tuple(ids)
        super().__init__(
            f"event ids {[str(i) for i in self.ids]} of this append already name {used_by}; "
            "a new event needs a new id (a retry repeats the whole append, same ids, same stream)"
        )


def check_append(stream: StreamId, events: Sequence[NewEvent[Any]], expected: object) -> None:
    """Raise ``TypeError`` (or :class:`ReusedEventIds`) for arguments no store can take.

    >>> check_append(StreamId("a", "1"), NewEvent(1), AnyVersion())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    TypeError: events must be a list of NewEvent, got NewEvent (wrap one event: [event])
    """
    _check_stream(stream)
    if type(events) is not list and type(events) is not tuple and not _is_sequence(events):
        hint = " (wrap one event: [event])" if isinstance(events, NewEvent) else ""
        raise TypeError(f"events must be a list of NewEvent, got {type(events).__name__}{hint}")
    for event in events:
        if not isinstance(event, NewEvent):
            raise TypeError(
                f"events must be NewEvent values, got {type(event).__name__}: "
                "wrap the payload, NewEvent(payload)"
            )
    if not isinstance(expected, _EXPECTATIONS):
        raise TypeError(
            "expected must be AnyVersion(), NoStream(), StreamExists() or Exactly(n), "
            f"got {shown(expected)}"
        )
    if len(events) > 1:
        given = [event.event_id for event in events if event.event_id is not None]
        if len(set(given)) < len(given):
            repeated = sorted({i for i in given if given.count(i) > 1}, key=given.index)
            raise ReusedEventIds(repeated, "another event of the same append")


@runtime_checkable
class EventStore(Protocol):
    """An append-only store of event streams with optimistic concurrency.

    * ``append`` is atomic: all of *events* are stored, or none (and the reason is the failure).
      An empty append is refused with :class:`~cim.EmptyAppend`.
    * Appending the same events again (same event ids, e.g. a retry after a lost reply) stores
      them once and answers with the original :class:`~cim.AppendResult`.
    * An event id names one event: ids already given to other events are refused with
      :class:`ReusedEventIds` (a ``ValueError``) and nothing is stored. (JetStream remembers
      ids for its duplicate window; the in-memory store for ever.)
    * Arguments of the wrong kind (a ``str`` for the stream, a bare ``NewEvent`` or payloads for
      *events*, an ``int`` for *expected*) raise ``TypeError`` (:func:`check_append`).
    * versions in a stream run 1..n without gaps; positions are global and increasing.
    * ``read_all`` and ``subscribe`` yield envelopes in global position order; given
      *categories* (a collection of category names; ``None``: all), only events of streams in
      those categories, selected by the store (a JetStream store filters by subject on the
      server), so other categories never reach the reader.
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
        self, *, from_position: int = 1, categories: Collection[str] | None = None
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """Every stored event from *from_position* on (of *categories* only, if given), in
        global order; ends at the current end."""
        ...

    def subscribe(
        self, *, from_position: int = 1, categories: Collection[str] | None = None
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """Every event from *from_position* (of *categories* only, if given): the backlog,
        then live events until cancelled."""
        ...

    async def version(self, stream: StreamId) -> Result[int, StoreError]:
        """The current version of *stream* (0 if it has no events)."""
        ...

    async def read_by_correlation(
        self, correlation_id: str
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """Every event carrying *correlation_id*, in global order."""
        ...


@runtime_checkable
class ChainedAppends(Protocol):
    """A store that can append several events one after another without waiting in between.

    ``append_chain(stream, events, expected=Exactly(v))`` appends each event as its own append:
    event ``i`` is stored only right after event ``i - 1`` (at version ``v + i + 1``), so the
    stored events are always a prefix of *events*. It answers the results of that prefix and
    the failure that stopped the rest (``None`` when all are stored): a
    :class:`~cim.WrongExpectedVersion` when another writer came first (or, for JetStream, when
    another stream's append came in between: then the ``actual`` version may equal the
    expected one), or why the store could not append. The JetStream store sends the whole
    chain in one pipeline, each message checked by the server; unlike ``append``, a chain is
    not recognised again by its event ids. :class:`~interpreters.runtime.CommandHandler` uses
    it for hot streams.
    """

    async def append_chain(
        self, stream: StreamId, events: Sequence[NewEvent[Any]], *, expected: Exactly
    ) -> tuple[tuple[AppendResult, ...], AppendError | None]:
        """Append each of *events* after the one before, starting at version *expected*."""
        ...


@runtime_checkable
class LastPosition(Protocol):
    """A store that can tell the global position of its last event without reading the log.

    The projection runner uses it to report how far behind the store a projection is
    (:meth:`~interpreters.runtime.ProjectionRunner.lag`).
    """

    async def last_position(
        self, *, categories: Collection[str] | None = None
    ) -> Result[int, StoreError]:
        """The position of the last stored event (of *categories* only, if given); 0 if none."""
        ...


def check_chain(stream: StreamId, events: Sequence[NewEvent[Any]], expected: object) -> None:
    """Raise ``TypeError`` for arguments ``append_chain`` cannot take (as :func:`check_append`;
    *expected* must be ``Exactly(n)``)."""
    check_append(stream, events, expected)
    if not isinstance(expected, Exactly):
        raise TypeError(f"a chain starts at an exact version: Exactly(n), got {shown(expected)}")


@frozen
class Snapshot:
    """The serialised ``state`` of *stream* after its event number ``version``."""

    stream: StreamId = field()
    version: int = field()
    state: bytes = field()

    @stream.validator
    def _valid_stream(self, _: object, stream: object) -> None:
        _check_stream(stream)

    @version.validator
    def _valid_version(self, _: object, version: object) -> None:
        check_from("snapshot version", version)

    @state.validator
    def _valid_state(self, _: object, state: object) -> None:
        if not isinstance(state, bytes):
            raise TypeError(
                f"snapshot state must be bytes (serialise it first), got {type(state).__name__}"
            )


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


def encoded_size(headers: Mapping[str, str], body: bytes) -> int:
    """The bytes a message with *headers* and *body* takes against the server's ``max_payload``:
    its header block (``NATS/1.0``, one ``Name: value`` line per header, a blank line; UTF-8)
    plus the body. Both stores measure events with it.

    >>> encoded_size({"Cim-Version": "1"}, b"{}")
    30
    """
    lines = sum(len(name) + len(value.encode()) + 4 for name, value in headers.items())
    return 12 + lines + len(body)


def snapshot_size(snapshot: Snapshot) -> int:
    """The bytes *snapshot* takes as a message (``<version>\n<state>``, an empty header block)."""
    return 12 + len(b"%d\n" % snapshot.version) + len(snapshot.state)


def check_from(name: str, value: object) -> None:
    """Raise ``ValueError`` naming *name* unless *value* is an ``int >= 1`` (a version or a
    position to start from)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {shown(value)}")


def check_categories(categories: object) -> frozenset[str] | None:
    """The category names of a ``categories=`` argument (``None``: every category).

    Raise ``TypeError`` for a bare string or anything but a collection of category names, and
    ``ValueError`` for a name that is not a subject token. An empty collection selects nothing.

    >>> sorted(check_categories(["order", "invoice"]))
    ['invoice', 'order']
    >>> check_categories("order")
    Traceback (most recent call last):
    TypeError: categories must be a collection of category names or None, got str 'order' (wrap one: ['order'])
    """
    if categories is None:
        return None
    if isinstance(categories, str | bytes) or not isinstance(categories, Collection):
        hint = f" (wrap one: [{categories!r}])" if isinstance(categories, str) else ""
        raise TypeError(
            "categories must be a collection of category names or None, "
            f"got {type(categories).__name__} {shown(categories)}{hint}"
        )
    names = frozenset(categories)
    for name in names:
        validate_token("category", name)
    return names


def _check_stream(stream: object) -> None:
    if type(stream) is not StreamId:
        raise TypeError(f"stream must be a StreamId, got {type(stream).__name__} {shown(stream)}")


def _is_sequence(events: object) -> bool:
    return isinstance(events, Sequence) and not isinstance(events, str | bytes | NewEvent)


def utc_now() -> datetime:
    """The current time in UTC (the default clock of the stores)."""
    return datetime.now(UTC)
