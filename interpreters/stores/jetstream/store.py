"""``JetStreamEventStore``: the event store on NATS JetStream, a facade over its parts.

>>> async def main() -> None:                                           # doctest: +SKIP
...     async with await JetStreamEventStore.connect("nats://127.0.0.1:4222", types=types) as store:
...         await store.append(StreamId("order", "o-1"), [NewEvent(Placed(...))], expected=NoStream())

Design (see ``docs/event-store.md``):

* one subject per stream, ``<prefix>.<category>.<entity_id>``; one message per event, with the
  codec's headers; ``Nats-Msg-Id`` is the event id; the position of an event is its stream
  sequence; its version travels in the ``Cim-Version`` header;
* the server checks concurrency (:mod:`._append`): every append carries
  ``Nats-Expected-Last-Subject-Sequence``, from the tip cache (:mod:`._tips`) or a direct get;
* reads of a stream are batch direct gets, ``read_all`` and the backlog of ``subscribe``
  bursts of batch direct gets on a tapped inbox (:mod:`._replay`), live events an ordered
  consumer (:mod:`._reads`), all of them optionally filtered by category on the server; messages that
  are not events of the stream (foreign, forged versions) are skipped and reported
  (:mod:`.foreign`);
* connecting only looks at a stream and buckets that are already right (:mod:`._provision`);
* the correlation index (:mod:`._correlation`) and snapshots (:mod:`._snapshots`) live in two KV
  buckets next to the stream.

Every part shares one :class:`~._core.StoreCore`; a failure of the server inside a part is a
``OperationFailed`` (:mod:`._failure`) that the public method here answers as ``Failure``.
"""

from __future__ import annotations

import contextlib
from collections.abc import (
    AsyncGenerator,
    Awaitable,
    Callable,
    Collection,
    Generator,
    Mapping,
    Sequence,
)
from datetime import datetime
from types import TracebackType
from typing import Any, Unpack
from uuid import UUID

import anyio
from attrs import define, evolve, field, fields
from nats.aio.client import Client
from returns.result import Failure, Result, Success

from cim import (
    AnyVersion,
    AppendError,
    AppendResult,
    AppendTooLarge,
    EmptyAppend,
    EventEnvelope,
    EventTypes,
    Exactly,
    ExpectedVersion,
    JsonCodec,
    NewEvent,
    StoreError,
    StoreUnavailable,
    StreamId,
)
from interpreters.natsio.connection import ConnectOptions, connect_or_refused
from interpreters.natsio.errors import SERVER_ERRORS
from interpreters.natsio.subjects import category_subjects, stream_subject
from interpreters.stores.jetstream._acks import AckInbox
from interpreters.stores.jetstream._append import Appends
from interpreters.stores.jetstream._atomic import BATCH_LIMIT
from interpreters.stores.jetstream._core import CLOSED, StoreCore
from interpreters.stores.jetstream._correlation import CorrelationIndex
from interpreters.stores.jetstream._direct_get import SEQUENCE, DirectGetError, DirectReader
from interpreters.stores.jetstream._failure import OperationFailed
from interpreters.stores.jetstream._provision import (
    IncompatibleStream,
    OverlappingSubjects,
    PermissionWatch,
    StoreAccessDenied,
    ensure_stream,
)
from interpreters.stores.jetstream._reads import Reads
from interpreters.stores.jetstream._snapshots import Snapshots
from interpreters.stores.jetstream.foreign import ForeignMessage
from interpreters.stores.jetstream.regions import RegionalCopy, ReplicaBehind
from interpreters.stores.jetstream.settings import StoreOptions, StoreSettings
from interpreters.stores.protocol import (
    Loaded,
    Snapshot,
    check_append,
    check_categories,
    check_chain,
)

__all__ = ("IncompatibleStream", "JetStreamEventStore", "OverlappingSubjects", "StoreAccessDenied")

_ANY = AnyVersion()


class _Connecting:
    """``await JetStreamEventStore.connect(...)`` or ``async with JetStreamEventStore.connect(...)``."""

    def __init__(self, opening: Callable[[], Awaitable[JetStreamEventStore]]) -> None:
        self._opening = opening
        self._store: JetStreamEventStore | None = None

    def __await__(self) -> Generator[Any, None, JetStreamEventStore]:
        return self._opening().__await__()

    async def __aenter__(self) -> JetStreamEventStore:
        self._store = await self._opening()
        return self._store

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._store is not None:
            await self._store.close()


_SETTINGS = frozenset(attribute.name for attribute in fields(StoreSettings))


def _settings(settings: StoreSettings | None, options: Mapping[str, Any]) -> StoreSettings:
    """*settings* (default: the defaults) with the fields in *options* replaced."""
    if settings is not None and not isinstance(settings, StoreSettings):
        raise TypeError(f"settings must be a StoreSettings, got {type(settings).__name__}")
    unknown = sorted(set(options) - _SETTINGS)
    if unknown:
        raise TypeError(f"unknown store option(s) {unknown}: the options are {sorted(_SETTINGS)}")
    values: dict[str, Any] = (
        {} if settings is None else {name: getattr(settings, name) for name in _SETTINGS}
    )
    values.update(options)
    return StoreSettings(**values)


@define(eq=False)
class JetStreamEventStore:
    """The event store on a JetStream stream; build it with :meth:`connect` or :meth:`from_client`.

    Its options are one :class:`~interpreters.stores.jetstream.settings.StoreSettings`
    (``settings``). ``request_timeout`` bounds each round trip to the server: past it, an
    operation answers :class:`~cim.StoreUnavailable` (an append's outcome is then unknown: retry
    it with the same event ids, which stores it once).
    """

    nc: Client
    types: EventTypes
    settings: StoreSettings
    owns_client: bool = False
    _core: StoreCore = field(init=False)
    _reads: Reads = field(init=False)
    _appends: Appends = field(init=False)
    _correlation: CorrelationIndex = field(init=False)
    _snapshots: Snapshots = field(init=False)

    def __attrs_post_init__(self) -> None:
        settings, nc = self.settings, self.nc
        timeout = settings.request_timeout
        acks = AckInbox(nc)
        reader = DirectReader(nc, settings.read_stream, timeout)
        self._core = StoreCore(
            nc,
            settings,
            JsonCodec(self.types),
            reader,
            acks,
            PermissionWatch(nc, acks),
            copy=None if settings.in_home_region else RegionalCopy(nc, settings, reader),
        )
        self._reads = Reads(self._core)
        self._appends = Appends(self._core, self._reads)
        self._correlation = CorrelationIndex(
            self._core,
            self._reads,
            settings.correlation_bucket,
            DirectReader(nc, f"KV_{settings.correlation_bucket}", timeout),
        )
        self._snapshots = Snapshots(
            self._core,
            self._reads,
            self._appends,
            settings.snapshot_bucket,
            DirectReader(nc, f"KV_{settings.snapshot_bucket}", timeout),
        )

    # ---------------------------------------------------------------- construction

    @classmethod
    def connect(
        cls,
        url: str | list[str] | ConnectOptions,
        *,
        types: EventTypes,
        settings: StoreSettings | None = None,
        **options: Unpack[StoreOptions],
    ) -> _Connecting:
        """Connect to *url* and make sure the stream exists with the settings the store needs.

        *url* is a server URL (or several), or a :class:`~interpreters.natsio.ConnectOptions`
        (credentials, TLS, user/password and any other ``nats.connect`` option: the vocabulary
        the ``cim`` command uses too). The store's options are *settings*, or its fields as
        keyword arguments (``stream=``, ``subject_prefix=``, ... overriding *settings*).
        Other keyword arguments (``user=``, ``tls=``, reconnect settings: the form earlier
        versions documented) still go to ``nats.connect`` unchanged, as if given in
        ``ConnectOptions.nats_options``; type checkers know only the store's options, so
        prefer ``ConnectOptions``. Raises :class:`IncompatibleStream` when a stream of that
        name exists with settings that would lose or misplace events. The returned object is
        awaitable and an async context manager.
        """
        given: dict[str, Any] = dict(options)
        chosen = _settings(settings, {k: v for k, v in given.items() if k in _SETTINGS})
        target = url if isinstance(url, ConnectOptions) else ConnectOptions.of(url)
        passed_on = {k: v for k, v in given.items() if k not in _SETTINGS}
        if passed_on:
            target = evolve(target, nats_options={**target.nats_options, **passed_on})
        problem = target.problem()
        if problem is not None:
            raise ValueError(problem)

        async def opening() -> JetStreamEventStore:
            nc = await connect_or_refused(target.nats_kwargs())  # refused login: at once
            try:
                return await cls._open(nc, types, chosen, owns_client=True)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await nc.close()
                raise

        return _Connecting(opening)

    @classmethod
    async def from_client(
        cls,
        nc: Client,
        *,
        types: EventTypes,
        settings: StoreSettings | None = None,
        **options: Unpack[StoreOptions],
    ) -> JetStreamEventStore:
        """A store on an existing nats-py client (closing the store leaves the client open);
        options as for :meth:`connect`."""
        return await cls._open(nc, types, _settings(settings, options), owns_client=False)

    @classmethod
    async def _open(
        cls, nc: Client, types: EventTypes, settings: StoreSettings, *, owns_client: bool
    ) -> JetStreamEventStore:
        store = cls(nc, types, settings, owns_client=owns_client)
        core = store._core
        core.watch.install()
        try:
            await ensure_stream(nc, core.watch, settings)
            await core.acks.open()
            for reader in store._readers():
                await reader.open()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await store.close()
            raise
        return store

    def _readers(self) -> tuple[DirectReader, ...]:
        return (self._core.reader, self._correlation.reader, self._snapshots.reader)

    @property
    def stream_name(self) -> str:
        """The JetStream stream holding the events (in the home region)."""
        return self.settings.stream

    @property
    def read_stream(self) -> str:
        """The stream this store reads: :attr:`stream_name`, or its regional copy (a mirror)
        when the store runs in another region than the home region."""
        return self.settings.read_stream

    @property
    def namespace(self) -> str:
        """The name the runtime keeps this store's state under (``Namespace.of(store)``): the
        stream it reads, so each region has its own checkpoints, read models, dead letters."""
        return self.settings.read_stream

    @property
    def bucket_region(self) -> str | None:
        """The cluster this store's buckets (and ``Namespace.of(store)``'s) are placed in."""
        return self.settings.bucket_region

    @property
    def subject_prefix(self) -> str:
        """The first token(s) of every event subject."""
        return self.settings.subject_prefix

    @property
    def request_timeout(self) -> float:
        """Seconds each round trip to the server may take."""
        return self.settings.request_timeout

    @property
    def clock(self) -> Callable[[], datetime]:
        """The source of ``recorded_at``."""
        return self.settings.clock

    @property
    def new_id(self) -> Callable[[], UUID]:
        """The source of event ids."""
        return self.settings.new_id

    @property
    def correlation_bucket(self) -> str:
        """The KV bucket holding the correlation index."""
        return self.settings.correlation_bucket

    @property
    def snapshot_bucket(self) -> str:
        """The KV bucket holding snapshots."""
        return self.settings.snapshot_bucket

    @property
    def max_event_bytes(self) -> int:
        """The largest encoded event (headers and body) the server accepts (its max_payload)."""
        return self._core.max_event_bytes

    async def close(self) -> None:
        """Release the store's inboxes, and close the connection if :meth:`connect` opened it."""
        core = self._core
        if core.closed:
            return
        core.closed = True
        for reader in core.consumers:  # running subscribe/read_all iterations end
            reader.stop(CLOSED.detail)
        with anyio.CancelScope(shield=True):
            core.watch.uninstall()
            parts: list[AckInbox | DirectReader] = [core.acks, *self._readers()]
            for part in parts:
                with contextlib.suppress(Exception):
                    await part.close()
            if self.owns_client and not self.nc.is_closed:
                with contextlib.suppress(*SERVER_ERRORS):  # the connection may be gone
                    await self.nc.close()

    async def __aenter__(self) -> JetStreamEventStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def subject(self, stream: StreamId) -> str:
        """The NATS subject of *stream*: ``<prefix>.<category>.<entity_id>``."""
        return stream_subject(self.settings.subject_prefix, stream)

    # ---------------------------------------------------------------- the EventStore protocol

    async def append(
        self,
        stream: StreamId,
        events: Sequence[NewEvent[Any]],
        *,
        expected: ExpectedVersion = _ANY,
    ) -> Result[AppendResult, AppendError]:
        """Append *events* to *stream* if it is at the *expected* version (all or nothing)."""
        check_append(stream, events, expected)
        core = self._core
        if core.closed:
            return Failure(CLOSED)
        count = len(events)
        if not count:
            return Failure(EmptyAppend(stream))
        if count > BATCH_LIMIT:
            return Failure(AppendTooLarge(count, BATCH_LIMIT))
        subject = core.subject(stream)
        settings = self.settings
        new_id = settings.new_id
        ids = [event.event_id or new_id() for event in events]
        try:
            appended = await self._appends.append(
                stream, subject, events, ids, settings.clock(), expected
            )
            if settings.read_your_writes and isinstance(appended, Success):
                behind = await self._replicated(appended.unwrap().position)
                if behind is not None:
                    return Failure(behind)
        except OperationFailed as failure:
            core.tips.forget(subject)
            return Failure(failure.error)
        return appended

    async def append_chain(
        self, stream: StreamId, events: Sequence[NewEvent[Any]], *, expected: Exactly
    ) -> tuple[tuple[AppendResult, ...], AppendError | None]:
        """Append each of *events* as its own append after the one before, in one pipeline
        (see :class:`~interpreters.stores.protocol.ChainedAppends`): each message is checked by
        the server (the first against the stream's tip, each next one against the message
        before it), so the stored events are a prefix of *events* at consecutive positions."""
        check_chain(stream, events, expected)
        core = self._core
        if core.closed:
            return (), CLOSED
        if not events:
            return (), EmptyAppend(stream)
        subject = core.subject(stream)
        try:
            stored, error = await self._appends.chain(stream, subject, events, expected)
            if self.settings.read_your_writes and stored:
                behind = await self._replicated(stored[-1].position)
                if behind is not None:
                    return stored, error or behind
        except OperationFailed as failure:
            core.tips.forget(subject)
            return (), failure.error
        return stored, error

    async def _replicated(self, position: int) -> ReplicaBehind | None:
        """Wait until this store's reads see *position* (at once in the home region)."""
        copy = self._core.copy
        return None if copy is None else await copy.wait_for(position)

    async def wait_for_position(self, position: int) -> Result[int, StoreError]:
        """Wait until this store's reads see global *position*: at once in the home region; in
        another region until the regional copy has it, at most ``replica_timeout`` seconds
        (then :class:`~interpreters.stores.jetstream.ReplicaBehind`). Answers *position*."""
        if self._core.closed:
            return Failure(CLOSED)
        try:
            behind = await self._replicated(position)
        except OperationFailed as failure:
            return Failure(failure.error)
        return Success(position) if behind is None else Failure(behind)

    async def read(
        self, stream: StreamId, *, from_version: int = 1
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """The events of *stream* from *from_version* on (empty if the stream does not exist)."""
        return await self._reads.read(stream, from_version=from_version)

    def iter_stream(
        self, stream: StreamId, *, from_version: int = 1
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """The events of *stream* one at a time (for long streams)."""
        return self._reads.iter_stream(stream, from_version=from_version)

    def read_all(
        self, *, from_position: int = 1, categories: Collection[str] | None = None
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """Every stored event from *from_position* on, in global order; ends at the current end.

        With *categories*, only the events of streams of those categories (``None``: all),
        filtered by the server. Read in bursts of batch direct gets (the first says how many
        events follow: the read ends after them); no consumer is created. A message that is not
        a cim event is a :class:`~cim.CorruptEvent` value.
        """
        return self._reads.read_all(from_position=from_position, categories=categories)

    def subscribe(
        self, *, from_position: int = 1, categories: Collection[str] | None = None
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """Every event from *from_position*: the backlog, then live events until cancelled.

        With *categories*, only the events of streams of those categories (``None``: all):
        filtered by the server. The backlog comes in bursts of batch direct gets (one category
        or all), then an ordered push consumer from the next position delivers live events; it
        is deleted when the iteration ends (cancelled, closed or broken out of).
        """
        return self._reads.subscribe(from_position=from_position, categories=categories)

    async def version(self, stream: StreamId) -> Result[int, StoreError]:
        """The current version of *stream* (0 if it has no events): its last genuine event's
        (in another region than the home region: as its copy has it)."""
        return await self._reads.version(stream)

    async def foreign_messages(
        self, stream: StreamId
    ) -> Result[tuple[ForeignMessage, ...], StoreError]:
        """The messages on *stream*'s subject that reads skip, in order: foreign messages (not
        cim events) and forged versions (see :mod:`interpreters.stores.jetstream.foreign`).

        Each is also logged once at WARNING (logger ``interpreters.stores.jetstream``) when a
        read meets it.
        """
        return await self._reads.foreign_messages(stream)

    async def read_by_correlation(
        self, correlation_id: str
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """Every event carrying *correlation_id*, in global order (from the correlation index,
        a KV bucket brought up to date with the events appended since the last call)."""
        return await self._correlation.read_by_correlation(correlation_id)

    async def last_position(
        self, *, categories: Collection[str] | None = None
    ) -> Result[int, StoreError]:
        """The position of the last stored event (of *categories* only, if given); 0 if none:
        one direct get of the last message per category subject (or of all events)."""
        names = check_categories(categories)
        prefix = self.settings.subject_prefix
        subjects = (
            [self._core.all_subjects]
            if names is None
            else [category_subjects(prefix, name) for name in sorted(names)]
        )
        last = 0
        for subject in subjects:
            try:
                msg = await self._core.reader.last(subject)
            except DirectGetError as exc:
                return Failure(StoreUnavailable(str(exc)))
            if msg is not None:
                last = max(last, int((msg.headers or {}).get(SEQUENCE, "0")))
        return Success(last)

    async def save_snapshot(
        self, stream: StreamId, version: int, state: bytes
    ) -> Result[Snapshot, StoreError]:
        """Remember *state* as the state of *stream* after event *version* (in the KV bucket)."""
        return await self._snapshots.save(stream, version, state)

    async def load_snapshot(self, stream: StreamId) -> Result[Loaded, StoreError]:
        """The latest snapshot of *stream* and the events after it."""
        return await self._snapshots.load(stream)
