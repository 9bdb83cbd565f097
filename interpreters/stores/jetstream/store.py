"""``JetStreamEventStore``: the event store on NATS JetStream.

>>> async def main() -> None:                                           # doctest: +SKIP
...     async with await JetStreamEventStore.connect("nats://127.0.0.1:4222", types=types) as store:
...         await store.append(StreamId("order", "o-1"), [NewEvent(Placed(...))], expected=NoStream())

Design (see ``docs/event-store.md``):

* one subject per stream, ``<prefix>.<category>.<entity_id>``; one message per event, with the
  codec's headers; ``Nats-Msg-Id`` is the event id; the position of an event is its stream
  sequence; its version travels in the ``Cim-Version`` header;
* the server checks concurrency: every append carries ``Nats-Expected-Last-Subject-Sequence``
  (the sequence of the stream's last event, from a cache of the store's own writes and reads or
  from a direct get); the stored versions are therefore always right, with no read-then-write race;
* one event is one plain publish; several events are one atomic batch (all or nothing);
* reads of a stream are batch direct gets ending on the server's end-of-batch marker (no
  consumer, no timeout guessing); a ``read_all`` longer than one batch streams the rest from an
  ordered consumer, up to the count the first batch announced, and ``subscribe`` is one ordered
  consumer; both delete their consumer when they end;
* connecting only looks at a stream and buckets that are already right (a read-only login can
  open the store), and a refused JetStream API call is :class:`StoreAccessDenied` at once;
* snapshots and the correlation index live in two KV buckets next to the stream.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import re
from collections import OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, NamedTuple, TypeVar, cast
from uuid import UUID

import anyio
import nats
import orjson
from attrs import define, field
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.errors import Error as NatsError
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, NotFoundError
from returns.result import Failure, Result, Success
from uuid_utils.compat import uuid7

from cim import (
    MAX_TOKEN_BYTES,
    AnyVersion,
    AppendError,
    AppendResult,
    AppendTooLarge,
    CorruptEvent,
    EmptyAppend,
    EventEnvelope,
    EventTooLarge,
    EventTypes,
    Exactly,
    ExpectedVersion,
    Header,
    JsonCodec,
    NewEvent,
    NoStream,
    PermissionDenied,
    SnapshotTooLarge,
    StoreError,
    StoreUnavailable,
    StreamExists,
    StreamId,
    WrongExpectedVersion,
)
from cim._stream_id import validate_token
from interpreters.stores.jetstream._acks import AckInbox, Denied, NoReply, NoResponders
from interpreters.stores.jetstream._atomic import BATCH_LIMIT, publish_atomic
from interpreters.stores.jetstream._direct_get import SEQUENCE, DirectGetError, DirectReader
from interpreters.stores.jetstream._ordered_reader import (
    ConsumerError,
    OrderedReader,
    sequence_and_pending,
)
from interpreters.stores.jetstream._stream_config import (
    IncompatibleStream,
    OverlappingSubjects,
    StreamSettings,
    desired_config,
    needs_update,
    problems,
)
from interpreters.stores.protocol import (
    Loaded,
    ReusedEventIds,
    Snapshot,
    check_append,
    check_chain,
    check_from,
    snapshot_size,
    utc_now,
)

__all__ = ("IncompatibleStream", "JetStreamEventStore", "OverlappingSubjects", "StoreAccessDenied")

MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST_SUBJECT_SEQUENCE = "Nats-Expected-Last-Subject-Sequence"
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
SUBJECT = "Nats-Subject"
_POSITION = Header.POSITION.value
_EVENT_ID = Header.EVENT_ID.value
_ANY = AnyVersion()
WRONG_LAST_SEQUENCE = 10071
WRONG_LAST_MSG_ID = 10070
SUBJECTS_OVERLAP = 10065  # JetStream API error: subjects overlap with an existing stream
BATCH_DUPLICATE_ID = 10201
_TIP_CACHE_SIZE = 100_000
_ANY_VERSION_ATTEMPTS = 100
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_QUOTED = re.compile(r'"([^"]+)"')

Storage = Literal["file", "memory"]
_T = TypeVar("_T")


class _Tip(NamedTuple):
    """The last event of a stream: its stream sequence, version and event id.

    The id is a ``UUID`` when this store appended the event, its header text when read back.
    """

    sequence: int
    version: int
    event_id: UUID | str | None


_EMPTY = _Tip(0, 0, None)
_RETRY_LOOKBACK = 1_000  # events before the tip searched for a batch retried without expectation
_CLOSED = StoreUnavailable("the store is closed (nothing was sent to the server)")


def _is_last(tip: _Tip, ids: list[UUID]) -> bool:
    """Whether *tip* is the last event of an append with event ids *ids*."""
    known = tip.event_id
    if known is None:
        return False
    return known == ids[-1] if type(known) is UUID else known == str(ids[-1])


def _placed_after(expected: ExpectedVersion) -> int | None:
    """The version *expected* puts an append right after (``None`` when it does not say)."""
    if isinstance(expected, Exactly):
        return expected.version
    return 0 if isinstance(expected, NoStream) else None


class _Unavailable(Exception):
    def __init__(self, error: AppendError) -> None:
        self.error = error


class StoreAccessDenied(PermissionError):
    """The NATS login may not use a JetStream API the store needs to open (a configuration error).

    Raised by ``JetStreamEventStore.connect`` / ``from_client`` at once, instead of a timeout:
    ``subject`` is the refused subject (when the server names it; nats-py lower-cases the
    server's error text), ``detail`` that text.
    """

    def __init__(self, purpose: str, subject: str | None, detail: str) -> None:
        self.subject = subject
        self.detail = detail
        target = f"publish to {subject!r}" if subject else "use a subject it needs"
        super().__init__(
            f"{purpose}: permission denied, this login may not {target} ({detail}); "
            "grant it the JetStream API subjects listed in docs/deployment.md"
        )


Refusal = Callable[[str | None, str], None]


@define(eq=False)
class _PermissionWatch:
    """Turn the server's asynchronous permission violations into fast failures.

    nats-py reports ``-ERR 'Permissions Violation for Publish to "x"'`` only to the error
    callback, and a request would wait for its timeout; this fails the store's pending appends
    at once, and tells the listeners (the connect phase) about it. Installed before the store
    makes its first request; :meth:`uninstall` restores the client's own callback.
    """

    nc: Client
    acks: AckInbox
    listeners: list[Refusal] = field(factory=list)
    _original: Callable[[Exception], Awaitable[None]] | None = field(default=None, init=False)

    def install(self) -> None:
        """Wrap the client's error callback."""
        self._original = self.nc._error_cb
        self.nc._error_cb = self._on_error

    def uninstall(self) -> None:
        """Give the client its own error callback back (if nobody wrapped ours since)."""
        if self._original is not None and self.nc._error_cb == self._on_error:
            self.nc._error_cb = self._original
        self.listeners.clear()

    async def _on_error(self, error: Exception) -> None:
        text = str(error)
        if "permissions violation" in text.lower():
            quoted = _QUOTED.search(text)
            subject = quoted.group(1) if quoted else None
            self.acks.deny(subject, text)
            for listener in list(self.listeners):
                listener(subject, text)
        if self._original is not None:
            await self._original(error)


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


@define(eq=False)
class JetStreamEventStore:
    """The event store on a JetStream stream; build it with :meth:`connect` or :meth:`from_client`.

    ``clock`` and ``new_id`` are the sources of ``recorded_at`` and event ids (UUIDv7).
    ``request_timeout`` bounds each round trip to the server: past it, an operation answers
    :class:`~cim.StoreUnavailable` (an append's outcome is then unknown: retry it with the same
    event ids, which stores it once).
    """

    nc: Client
    types: EventTypes
    stream_name: str
    subject_prefix: str
    clock: Callable[[], datetime] = utc_now
    new_id: Callable[[], UUID] = uuid7
    request_timeout: float = 5.0
    owns_client: bool = False
    _codec: JsonCodec = field(init=False)
    _reader: DirectReader = field(init=False)
    _index_reader: DirectReader = field(init=False)
    _snapshot_reader: DirectReader = field(init=False)
    _tips: OrderedDict[str, _Tip] = field(init=False, factory=OrderedDict)
    _acks: AckInbox = field(init=False)
    _watch: _PermissionWatch = field(init=False)
    _closed: bool = field(init=False, default=False)
    _consumers: list[OrderedReader] = field(init=False, factory=list)
    _all_subjects: str = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._codec = JsonCodec(self.types)
        self._all_subjects = f"{self.subject_prefix}.>"
        self._acks = AckInbox(self.nc)
        self._watch = _PermissionWatch(self.nc, self._acks)
        self._reader = DirectReader(self.nc, self.stream_name, self.request_timeout)
        self._index_reader = DirectReader(
            self.nc, f"KV_{self.correlation_bucket}", self.request_timeout
        )
        self._snapshot_reader = DirectReader(
            self.nc, f"KV_{self.snapshot_bucket}", self.request_timeout
        )

    # ---------------------------------------------------------------- construction

    @classmethod
    def connect(
        cls,
        url: str | list[str],
        *,
        types: EventTypes,
        stream: str = "CIM_EVENTS",
        subject_prefix: str = "events",
        replicas: int = 1,
        duplicate_window: float = 120.0,
        storage: Storage = "file",
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], UUID] = uuid7,
        request_timeout: float = 5.0,
        **nats_options: Any,
    ) -> _Connecting:
        """Connect to *url* and make sure the stream exists with the settings the store needs.

        ``nats_options`` go to :func:`nats.connect` unchanged (``tls=``, ``user_credentials=``,
        ``user=``/``password=``, ``token=``, ``nkeys_seed=``, ...). Raises
        :class:`IncompatibleStream` when a stream of that name exists with settings that would
        lose or misplace events. The returned object is awaitable and an async context manager.
        """

        async def opening() -> JetStreamEventStore:
            nc = await nats.connect(url, **nats_options)
            try:
                return await cls._open(
                    nc,
                    types=types,
                    stream=stream,
                    subject_prefix=subject_prefix,
                    replicas=replicas,
                    duplicate_window=duplicate_window,
                    storage=storage,
                    clock=clock,
                    new_id=new_id,
                    request_timeout=request_timeout,
                    owns_client=True,
                )
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
        stream: str = "CIM_EVENTS",
        subject_prefix: str = "events",
        replicas: int = 1,
        duplicate_window: float = 120.0,
        storage: Storage = "file",
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], UUID] = uuid7,
        request_timeout: float = 5.0,
    ) -> JetStreamEventStore:
        """A store on an existing nats-py client (closing the store leaves the client open)."""
        return await cls._open(
            nc,
            types=types,
            stream=stream,
            subject_prefix=subject_prefix,
            replicas=replicas,
            duplicate_window=duplicate_window,
            storage=storage,
            clock=clock,
            new_id=new_id,
            request_timeout=request_timeout,
            owns_client=False,
        )

    @classmethod
    async def _open(
        cls,
        nc: Client,
        *,
        types: EventTypes,
        stream: str,
        subject_prefix: str,
        replicas: int,
        duplicate_window: float,
        storage: Storage,
        clock: Callable[[], datetime],
        new_id: Callable[[], UUID],
        request_timeout: float,
        owns_client: bool,
    ) -> JetStreamEventStore:
        if not _NAME.match(stream):
            raise ValueError(f"stream name {stream!r} must be letters, digits, '-' or '_'")
        for token in subject_prefix.split("."):
            validate_token("subject_prefix token", token)
        if len(subject_prefix.encode()) > MAX_TOKEN_BYTES:  # subjects stay far below 4 KiB
            raise ValueError(f"subject_prefix must be at most {MAX_TOKEN_BYTES} bytes of UTF-8")
        if replicas not in (1, 3, 5):
            raise ValueError(f"replicas must be 1, 3 or 5, got {replicas!r}")
        if storage not in ("file", "memory"):
            raise ValueError(f"storage must be 'file' or 'memory', got {storage!r}")
        if duplicate_window <= 0:
            raise ValueError(f"duplicate_window must be > 0 seconds, got {duplicate_window!r}")
        if not request_timeout > 0:
            raise ValueError(f"request_timeout must be > 0 seconds, got {request_timeout!r}")
        store = cls(
            nc,
            types,
            stream,
            subject_prefix,
            clock=clock,
            new_id=new_id,
            request_timeout=request_timeout,
            owns_client=owns_client,
        )
        storage_type = api.StorageType.FILE if storage == "file" else api.StorageType.MEMORY
        store._watch.install()
        try:
            await store._ensure_stream(
                StreamSettings(
                    stream, (f"{subject_prefix}.>",), replicas, storage_type, duplicate_window
                )
            )
            await store._acks.open()
            for reader in (store._reader, store._index_reader, store._snapshot_reader):
                await reader.open()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await store.close()
            raise
        return store

    async def _ensure_stream(self, settings: StreamSettings) -> None:
        """Create or update the stream and the two KV buckets; only look when they are right.

        A login that may only read opens the store when everything exists (it needs no create
        or update rights then); a refusal is :class:`StoreAccessDenied` at once.
        """
        js = self.nc.jetstream(timeout=self.request_timeout)
        name = settings.name
        info = await self._stream_info(js, name)
        if info is None:
            try:
                await self._admin(
                    js.add_stream(desired_config(settings)),
                    f"stream {name!r} does not exist and cannot be created",
                )
            except BadRequestError as error:
                if error.err_code != SUBJECTS_OVERLAP:
                    raise
                subjects = settings.subjects[0]
                other = None
                with contextlib.suppress(NatsError):
                    other = await js.find_stream_name_by_subject(subjects)
                raise OverlappingSubjects(name, subjects, other) from None
        else:
            found = problems(settings, info.config)
            if found:
                raise IncompatibleStream(name, found)
            if needs_update(settings, info.config):
                await self._update(js, desired_config(settings), name)
        for bucket in (self.correlation_bucket, self.snapshot_bucket):
            bucket_stream = f"KV_{bucket}"
            info = await self._stream_info(js, bucket_stream)
            if info is None:
                await self._admin(
                    js.create_key_value(
                        api.KeyValueConfig(
                            bucket=bucket,
                            history=1,
                            storage=settings.storage,
                            replicas=settings.replicas,
                            direct=True,
                        )
                    ),
                    f"KV bucket {bucket!r} does not exist and cannot be created",
                )
            elif (info.config.num_replicas or 1) != settings.replicas or not (
                info.config.allow_direct
            ):
                config = dataclasses.replace(
                    info.config, num_replicas=settings.replicas, allow_direct=True
                )
                await self._update(js, config, bucket_stream)

    async def _stream_info(self, js: JetStreamContext, name: str) -> api.StreamInfo | None:
        try:
            return await self._admin(js.stream_info(name), f"cannot look up stream {name!r}")
        except NotFoundError:
            return None

    async def _update(self, js: JetStreamContext, config: api.StreamConfig, name: str) -> None:
        try:
            await self._admin(js.update_stream(config), f"stream {name!r} needs an update")
        except NatsError as error:
            raise IncompatibleStream(name, [f"update refused: {error}"]) from None

    async def _admin(self, call: Awaitable[_T], purpose: str) -> _T:
        """Await a JetStream API *call*, failing at once if the server refuses its subject."""
        refusals: list[tuple[str | None, str]] = []
        with anyio.CancelScope() as scope:

            def refused(subject: str | None, detail: str) -> None:
                if subject is None or subject.startswith("$js.") or "subscription" in detail:
                    refusals.append((subject, detail))
                    scope.cancel()

            self._watch.listeners.append(refused)
            try:
                return await call
            finally:
                self._watch.listeners.remove(refused)
        raise StoreAccessDenied(purpose, *refusals[0])

    @property
    def correlation_bucket(self) -> str:
        """The KV bucket holding the correlation index."""
        return f"{self.stream_name}_correlation"

    @property
    def snapshot_bucket(self) -> str:
        """The KV bucket holding snapshots."""
        return f"{self.stream_name}_snapshots"

    @property
    def max_event_bytes(self) -> int:
        """The largest encoded event (headers and body) the server accepts (its max_payload)."""
        return int(self.nc.max_payload)

    async def close(self) -> None:
        """Release the store's inboxes, and close the connection if :meth:`connect` opened it."""
        if self._closed:
            return
        self._closed = True
        for reader in self._consumers:  # running subscribe/read_all iterations end
            reader.stop(_CLOSED.detail)
        with anyio.CancelScope(shield=True):
            self._watch.uninstall()
            for part in (self._acks, self._reader, self._index_reader, self._snapshot_reader):
                with contextlib.suppress(Exception):
                    await part.close()
            if self.owns_client and not self.nc.is_closed:
                with contextlib.suppress(OSError, NatsError):  # the connection may be gone
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
        return f"{self.subject_prefix}.{stream.category}.{stream.entity_id}"

    # ---------------------------------------------------------------- append

    async def append(
        self,
        stream: StreamId,
        events: Sequence[NewEvent[Any]],
        *,
        expected: ExpectedVersion = _ANY,
    ) -> Result[AppendResult, AppendError]:
        """Append *events* to *stream* if it is at the *expected* version (all or nothing)."""
        check_append(stream, events, expected)
        if self._closed:
            return Failure(_CLOSED)
        count = len(events)
        if not count:
            return Failure(EmptyAppend(stream))
        if count > BATCH_LIMIT:
            return Failure(AppendTooLarge(count, BATCH_LIMIT))
        subject = f"{self.subject_prefix}.{stream.category}.{stream.entity_id}"
        new_id = self.new_id
        ids = [event.event_id or new_id() for event in events]
        try:
            return await self._append(stream, subject, events, ids, self.clock(), expected)
        except _Unavailable as unavailable:
            self._tips.pop(subject, None)
            return Failure(unavailable.error)

    async def append_chain(
        self, stream: StreamId, events: Sequence[NewEvent[Any]], *, expected: Exactly
    ) -> tuple[tuple[AppendResult, ...], AppendError | None]:
        """Append each of *events* as its own append after the one before, in one pipeline.

        The first message carries ``Nats-Expected-Last-Subject-Sequence`` (the stream's tip);
        each next one ``Nats-Expected-Last-Msg-Id`` naming the message before it (a fresh
        ``Nats-Msg-Id`` per message), so the server stores it only right after that one: the
        stored events are a prefix, at consecutive positions. They are sent without waiting for
        acks (see :class:`~interpreters.stores.protocol.ChainedAppends`).
        """
        check_chain(stream, events, expected)
        if self._closed:
            return (), _CLOSED
        if not events:
            return (), EmptyAppend(stream)
        subject = self.subject(stream)
        try:
            return await self._append_chain(stream, subject, events, expected)
        except _Unavailable as unavailable:
            self._tips.pop(subject, None)
            return (), unavailable.error

    async def _append_chain(
        self, stream: StreamId, subject: str, events: Sequence[NewEvent[Any]], expected: Exactly
    ) -> tuple[tuple[AppendResult, ...], AppendError | None]:
        tip = await self._tip(subject, fresh=False)
        if tip.version != expected.version:
            tip = await self._tip(subject, fresh=True)
            if tip.version != expected.version:
                return (), WrongExpectedVersion(stream, expected, tip.version)
        recorded_at, new_id = self.clock(), self.new_id
        encode, limit = self._codec.encode_new, self.max_event_bytes
        failure: AppendError | None = None
        messages: list[tuple[dict[str, str], bytes, UUID]] = []
        previous = ""
        for index, event in enumerate(events):
            event_id = event.event_id or new_id()
            headers, body = encode(
                event,
                stream=stream,
                version=tip.version + index + 1,
                event_id=event_id,
                recorded_at=recorded_at,
            )
            headers[MSG_ID] = uuid7().hex
            if index:
                headers[EXPECTED_LAST_MSG_ID] = previous
            else:
                headers[EXPECTED_LAST_SUBJECT_SEQUENCE] = str(tip.sequence)
            previous = headers[MSG_ID]
            size = _size(headers) + len(body)
            if size > limit:
                failure = EventTooLarge(event_id, size, limit)
                break
            messages.append((headers, body, event_id))
        replies: list[Awaitable[Msg]] = []
        try:
            for headers, body, _ in messages:
                replies.append(await self._acks.send(subject, body, headers, self.request_timeout))
        except (Denied, NoResponders, ConnectionClosedError, NatsError, OSError) as error:
            failure = StoreUnavailable(f"{subject}: {error!r}")
        acks: list[dict[str, Any] | Exception] = []
        for reply in replies:
            try:
                acks.append(orjson.loads((await reply).data))
            except Exception as error:  # each reply is awaited, whatever the ones before said
                acks.append(error)
        stored = [i for i, ack in enumerate(acks) if isinstance(ack, dict) and "error" not in ack]
        results: tuple[AppendResult, ...] = ()
        if stored:
            last = stored[-1]
            sequence = int(cast(dict[str, Any], acks[last])["seq"])
            results = tuple(
                AppendResult(tip.version + i + 1, sequence - (last - i)) for i in range(last + 1)
            )
            self._remember(subject, _Tip(sequence, results[-1].version, messages[last][2]))
        if len(results) < len(acks):
            at = Exactly(tip.version + len(results))
            failure = await self._chain_failure(stream, subject, acks[len(results)], at)
        return results, failure

    async def _chain_failure(
        self, stream: StreamId, subject: str, ack: dict[str, Any] | Exception, expected: Exactly
    ) -> AppendError:
        """Why the message acked with *ack* (the first not stored of a chain) was refused."""
        if isinstance(ack, NoReply):
            return StoreUnavailable(
                f"no ack for {subject!r} ({ack}): the append may or may not be stored"
            )
        if isinstance(ack, Denied):
            return PermissionDenied("publish", subject, str(ack))
        if isinstance(ack, Exception):
            return StoreUnavailable(f"{subject}: {ack!r}")
        error = ack.get("error") or {}
        if error.get("err_code") in (WRONG_LAST_SEQUENCE, WRONG_LAST_MSG_ID):
            tip = await self._tip(subject, fresh=True)
            return WrongExpectedVersion(stream, expected, tip.version)
        return _api_failure(subject, error)

    async def _append(
        self,
        stream: StreamId,
        subject: str,
        events: Sequence[NewEvent[Any]],
        ids: list[UUID],
        recorded_at: datetime,
        expected: ExpectedVersion,
    ) -> Result[AppendResult, AppendError]:
        empty = type(expected) is NoStream or (type(expected) is Exactly and not expected.version)
        fresh = False
        for _ in range(_ANY_VERSION_ATTEMPTS):
            if empty:
                tip = _EMPTY
            else:
                tip = await self._tip(subject, fresh=fresh)
                retried = await self._retried(stream, tip, ids)
                if retried is not None:
                    return Success(retried)
                if not expected.accepts(tip.version):
                    if not fresh:  # the cache may be behind: ask the server
                        fresh = True
                        continue
                    return await self._conflict(stream, expected, tip, ids)
            if len(events) == 1 and self._acks.direct:  # one frame, headers written once
                frame = self._encode_frame(stream, events[0], ids[0], recorded_at, tip)
                if isinstance(frame, EventTooLarge):
                    return Failure(frame)
                reply = await self._publish(subject, frame)
            else:
                messages = self._encode(stream, subject, events, ids, recorded_at, tip)
                if isinstance(messages, EventTooLarge):
                    return Failure(messages)
                reply = await self._publish(subject, messages)
            error = reply.get("error")
            if error is None:
                return Success(await self._acked(subject, reply, tip, len(events), ids[-1]))
            code = error.get("err_code")
            if code in (WRONG_LAST_SEQUENCE, BATCH_DUPLICATE_ID):
                tip = await self._tip(subject, fresh=True)
                retried = await self._retried(stream, tip, ids)
                if retried is not None:
                    return Success(retried)
                if code == BATCH_DUPLICATE_ID:  # stored before, or ids of other events
                    after = _placed_after(expected)
                    start = (
                        max(1, tip.version - _RETRY_LOOKBACK + 1) if after is None else after + 1
                    )
                    found = await self._find_run(stream, ids, start)
                    if found is not None:
                        return Success(found)
                    raise ReusedEventIds(ids, f"earlier events of stream {self.stream_name!r}")
                if isinstance(expected, AnyVersion | StreamExists) and tip.version > 0:
                    fresh = True
                    continue
                return await self._conflict(stream, expected, tip, ids)
            raise _Unavailable(_api_failure(subject, error))
        return Failure(StoreUnavailable(f"{subject}: too much contention, gave up appending"))

    def _encode_frame(
        self,
        stream: StreamId,
        event: NewEvent[Any],
        event_id: UUID,
        recorded_at: datetime,
        tip: _Tip,
    ) -> tuple[bytes, bytes] | EventTooLarge:
        """The header block and body of a one-event append after *tip*, or why it is too large."""
        block, body = self._codec.encode_new_block(
            event,
            stream=stream,
            version=tip.version + 1,
            event_id=event_id,
            recorded_at=recorded_at,
            trailer=f"{EXPECTED_LAST_SUBJECT_SEQUENCE}: {tip.sequence}\r\n",
        )
        size, limit = len(block) + len(body), self.max_event_bytes
        return EventTooLarge(event_id, size, limit) if size > limit else (block, body)

    def _encode(
        self,
        stream: StreamId,
        subject: str,
        events: Sequence[NewEvent[Any]],
        ids: list[UUID],
        recorded_at: datetime,
        tip: _Tip,
    ) -> list[tuple[str, dict[str, str], bytes]] | EventTooLarge:
        """The messages of an append after *tip*, or the first event too large to send."""
        messages: list[tuple[str, dict[str, str], bytes]] = []
        encode, limit = self._codec.encode_new, self.max_event_bytes
        version = tip.version
        for event, event_id in zip(events, ids, strict=True):
            version += 1
            headers, body = encode(
                event, stream=stream, version=version, event_id=event_id, recorded_at=recorded_at
            )
            headers[MSG_ID] = headers[_EVENT_ID]
            size = _size(headers) + len(body)
            if size > limit:
                return EventTooLarge(event_id, size, limit)
            messages.append((subject, headers, body))
        messages[0][1][EXPECTED_LAST_SUBJECT_SEQUENCE] = str(tip.sequence)
        return messages

    async def _conflict(
        self, stream: StreamId, expected: ExpectedVersion, tip: _Tip, ids: list[UUID]
    ) -> Result[AppendResult, AppendError]:
        """``WrongExpectedVersion``, unless these very events are stored where *expected* put
        them (an earlier attempt landed, then others appended): then the original result."""
        after = _placed_after(expected)
        if after is not None:
            found = await self._find_run(stream, ids, after + 1)
            if found is not None:
                return Success(found)
        return Failure(WrongExpectedVersion(stream, expected, tip.version))

    async def _retried(self, stream: StreamId, tip: _Tip, ids: list[UUID]) -> AppendResult | None:
        """The original result if *tip* ends an earlier attempt of this append, else ``None``.

        Only the tip's id is known: for several events the run before it is read to confirm,
        and a run that differs means ids of other events (:class:`ReusedEventIds`).
        """
        if not _is_last(tip, ids):
            return None
        if len(ids) == 1:
            return AppendResult(tip.version, tip.sequence)
        found = await self._find_run(stream, ids, max(1, tip.version - len(ids) + 1))
        if found is None:
            raise ReusedEventIds(ids, f"events of {self.subject(stream)!r}")
        return found

    async def _find_run(self, stream: StreamId, ids: list[UUID], start: int) -> AppendResult | None:
        """Where events *ids* are stored as one run in *stream* at or after version *start*."""
        run: list[EventEnvelope[Any]] = []
        async with contextlib.aclosing(self.iter_stream(stream, from_version=start)) as read:
            async for item in read:
                if not isinstance(item, Success):
                    return None
                envelope = item.unwrap()
                if run or envelope.event_id == ids[0]:
                    run.append(envelope)
                    if len(run) == len(ids):
                        break
        if [envelope.event_id for envelope in run] != ids:
            return None
        return AppendResult(run[-1].version, run[-1].position)

    async def _publish(
        self,
        subject: str,
        messages: list[tuple[str, dict[str, str], bytes]] | tuple[bytes, bytes],
    ) -> dict[str, Any]:
        """Publish *messages* and return the ack: a ready frame (header block, body) for a
        direct ack inbox, one plain message, or an atomic batch."""
        try:
            if isinstance(messages, tuple):
                block, body = messages
                msg = await self._acks.request(subject, body, block, self.request_timeout)
            elif len(messages) == 1:
                _, headers, body = messages[0]
                msg = await self._acks.request(subject, body, headers, self.request_timeout)
            else:
                msg = await publish_atomic(self.nc, uuid7().hex, messages, self._request)
        except Denied as denied:
            raise _Unavailable(PermissionDenied("publish", subject, str(denied))) from None
        except NoResponders:
            raise _Unavailable(
                StoreUnavailable(f"no JetStream stream captures {subject!r}")
            ) from None
        except NoReply as error:
            raise _Unavailable(
                StoreUnavailable(
                    f"no ack for {subject!r} ({error}): the append may or may not be stored; "
                    "retry it with the same event ids"
                )
            ) from None
        except (ConnectionClosedError, NatsError, OSError) as error:
            raise _Unavailable(StoreUnavailable(f"{subject}: {error!r}")) from None
        try:
            reply = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            raise _Unavailable(
                StoreUnavailable(f"{subject}: unreadable ack {msg.data[:200]!r}")
            ) from None
        if not isinstance(reply, dict):
            raise _Unavailable(StoreUnavailable(f"{subject}: unreadable ack {reply!r}"))
        return reply

    async def _request(self, subject: str, body: bytes, headers: dict[str, str]) -> Msg:
        return await self._acks.request(subject, body, headers, self.request_timeout)

    async def _acked(
        self, subject: str, reply: dict[str, Any], tip: _Tip, count: int, last_id: UUID
    ) -> AppendResult:
        sequence = int(reply["seq"])
        if reply.get("duplicate"):  # stored before (retry inside the duplicate window)
            original = await self._get(self._reader.at(sequence))
            headers = (original.headers or {}) if original else {}
            self._tips.pop(subject, None)
            if original is not None and headers.get(SUBJECT) != subject:
                raise ReusedEventIds([last_id], f"an event of {headers.get(SUBJECT)!r}")
            return AppendResult(int(headers.get(Header.VERSION, "0")), sequence)
        result = AppendResult(tip.version + count, sequence)
        self._remember(subject, _Tip(sequence, result.version, last_id))
        return result

    def _remember(self, subject: str, tip: _Tip) -> None:
        self._tips[subject] = tip
        self._tips.move_to_end(subject)
        if len(self._tips) > _TIP_CACHE_SIZE:
            self._tips.popitem(last=False)

    async def _tip(self, subject: str, *, fresh: bool) -> _Tip:
        if not fresh and subject in self._tips:
            return self._tips[subject]
        msg = await self._get(self._reader.last(subject))
        if msg is None:
            self._tips.pop(subject, None)
            return _EMPTY
        headers = msg.headers or {}
        version = _version_of(headers)
        if version is None:  # not an event of ours: no version to build on, ever
            decoded = self._decode_stored(msg)
            if isinstance(decoded, Failure):
                raise _Unavailable(decoded.failure())
            version = decoded.unwrap().version
        tip = _Tip(int(headers[SEQUENCE]), version, headers.get(Header.EVENT_ID))
        self._remember(subject, tip)
        return tip

    async def _get(self, pending: Awaitable[Msg | None]) -> Msg | None:
        try:
            return await pending
        except DirectGetError as error:
            raise _Unavailable(StoreUnavailable(str(error))) from None
        except (ConnectionClosedError, NatsError, OSError) as error:
            raise _Unavailable(StoreUnavailable(repr(error))) from None

    # ---------------------------------------------------------------- reads

    def _decode(self, msg: Msg, position: str) -> Result[EventEnvelope[Any], StoreError]:
        headers = msg.headers if msg.headers is not None else {}
        headers[_POSITION] = position
        decoded = self._codec.decode(headers, msg.data)
        if isinstance(decoded, Success):
            return decoded
        return Failure(CorruptEvent(int(position), decoded.failure()))

    def _decode_stored(self, msg: Msg) -> Result[EventEnvelope[Any], StoreError]:
        """Decode a direct-get answer (its position is the ``Nats-Sequence`` header)."""
        return self._decode(msg, (msg.headers or {}).get(SEQUENCE, "0"))

    async def _messages(self, subject: str, start: int) -> AsyncGenerator[list[Msg], None]:
        """Direct-get batches of *subject* from *start*; a failure raises :class:`_Unavailable`."""
        try:
            async with contextlib.aclosing(self._reader.batches(subject, start=start)) as batches:
                async for batch in batches:
                    yield batch
        except DirectGetError as error:
            raise _Unavailable(StoreUnavailable(str(error))) from None
        except (ConnectionClosedError, NatsError, OSError) as error:
            raise _Unavailable(StoreUnavailable(repr(error))) from None

    def _start_of(self, subject: str, from_version: int) -> int:
        """Where to start reading *subject* for *from_version*: after a known earlier event."""
        known = self._tips.get(subject)
        if known is not None and 0 < known.version < from_version:
            return known.sequence + 1  # history is immutable: later versions come after it
        return 1

    async def _batch_of(self, subject: str, start: int) -> tuple[list[Msg], int]:
        """One direct-get batch of *subject* from *start*, and where the next starts (0: none).

        Remembers the stream's tip when the batch is its last.
        """
        try:
            answer = await self._reader.batch(subject, start=start)
        except DirectGetError as error:
            raise _Unavailable(StoreUnavailable(str(error))) from None
        except (ConnectionClosedError, NatsError, OSError) as error:
            raise _Unavailable(StoreUnavailable(repr(error))) from None
        messages = answer.messages
        if messages and answer.pending:
            return messages, answer.last + 1
        if messages:
            headers = messages[-1].headers or {}
            version = _version_of(headers)
            if version is not None:
                tip = _Tip(int(headers[SEQUENCE]), version, headers.get(Header.EVENT_ID))
                self._remember(subject, tip)
        return messages, 0

    async def read(
        self, stream: StreamId, *, from_version: int = 1
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """The events of *stream* from *from_version* on (empty if the stream does not exist)."""
        check_from("from_version", from_version)
        subject = f"{self.subject_prefix}.{stream.category}.{stream.entity_id}"
        start = self._start_of(subject, from_version)
        found: list[EventEnvelope[Any]] = []
        decode = self._decode_stored
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
        except _Unavailable as unavailable:
            return Failure(unavailable.error)
        return Success(tuple(found))

    async def iter_stream(
        self, stream: StreamId, *, from_version: int = 1
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """The events of *stream* one at a time (for long streams)."""
        check_from("from_version", from_version)
        subject = f"{self.subject_prefix}.{stream.category}.{stream.entity_id}"
        start = self._start_of(subject, from_version)
        try:
            while start:
                messages, start = await self._batch_of(subject, start)
                for msg in messages:
                    if from_version == 1 or not _version_below(msg, from_version):
                        yield self._decode_stored(msg)
        except _Unavailable as unavailable:
            yield Failure(unavailable.error)

    async def read_all(
        self, *, from_position: int = 1
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """Every stored event from *from_position* on, in global order; ends at the current end.

        The first batch is a batch direct get, which also says how many events follow; if any
        do, they stream from an ordered consumer (deleted at the end), up to that count.
        """
        check_from("from_position", from_position)
        try:
            first = await self._reader.batch(self._all_subjects, start=from_position)
        except DirectGetError as error:
            yield Failure(StoreUnavailable(str(error)))
            return
        except (ConnectionClosedError, NatsError, OSError) as error:
            yield Failure(StoreUnavailable(repr(error)))
            return
        if not first.pending:
            for msg in first.messages:
                yield self._decode_stored(msg)
            return
        remaining = first.pending
        rest = self._consume(first.last + 1, idle_timeout=self.request_timeout)
        async with contextlib.aclosing(rest) as batches:
            for msg in first.messages:
                yield self._decode_stored(msg)
            async for batch in batches:
                for result, left in batch:
                    yield result
                    remaining -= 1
                    if not remaining or not left:
                        return

    async def _consume(
        self, start: int, *, idle_timeout: float | None
    ) -> AsyncGenerator[list[tuple[Result[EventEnvelope[Any], StoreError], int]], None]:
        """Events from *start* on, from an ordered consumer: (result, events after it) batches."""
        reader = OrderedReader(
            self.nc,
            self.stream_name,
            self._all_subjects,
            start,
            self.request_timeout,
            idle_timeout,
        )
        if self._closed:
            yield [(Failure(_CLOSED), 0)]
            return
        self._consumers.append(reader)
        try:
            try:
                await self._admin(reader.open(), f"cannot read {self.stream_name!r}")
            except StoreAccessDenied as denied:
                failure = PermissionDenied("create consumer", denied.subject or "", denied.detail)
                yield [(Failure(failure), 0)]
                return
            async with contextlib.aclosing(reader.batches()) as batches:
                async for batch in batches:
                    decoded = []
                    for msg in batch:
                        position, pending = sequence_and_pending(msg)
                        decoded.append((self._decode(msg, str(position)), pending))
                    yield decoded
        except ConsumerError as error:
            yield [(Failure(StoreUnavailable(str(error))), 0)]
        finally:
            self._consumers.remove(reader)
            await reader.close()

    async def subscribe(
        self, *, from_position: int = 1
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
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
        subject = self.subject(stream)
        try:
            msg = await self._get(self._reader.last(subject))
        except _Unavailable as unavailable:
            return Failure(unavailable.error)
        if msg is None:
            return Success(0)
        decoded = self._decode_stored(msg)
        if isinstance(decoded, Failure):
            return Failure(decoded.failure())
        envelope = decoded.unwrap()
        self._remember(subject, _Tip(envelope.position, envelope.version, str(envelope.event_id)))
        return Success(envelope.version)

    # ---------------------------------------------------------------- correlation index

    async def read_by_correlation(
        self, correlation_id: str
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """Every event carrying *correlation_id*, in global order.

        Answered from the correlation index (a KV bucket with one key per correlated event),
        which is first brought up to date with the events appended since the last call.
        """
        try:
            await self._index_up_to_date()
            key_prefix = f"$KV.{self.correlation_bucket}.c.{_digest(correlation_id)}"
            positions: set[int] = set()
            try:
                async with contextlib.aclosing(
                    self._index_reader.batches(f"{key_prefix}.*")
                ) as batches:
                    async for batch in batches:
                        positions.update(_position_of_key(m) for m in batch)
            except DirectGetError as error:
                raise _Unavailable(StoreUnavailable(str(error))) from None
            found: dict[int, Result[EventEnvelope[Any], StoreError]] = {}

            async def fetch(position: int) -> None:
                msg = await self._get(self._reader.at(position))
                if msg is not None:
                    found[position] = self._decode_stored(msg)

            async with anyio.create_task_group() as group:
                for position in positions:
                    group.start_soon(fetch, position)
        except _Unavailable as unavailable:
            return Failure(unavailable.error)
        events = []
        for position in sorted(found):
            result = found[position]
            if isinstance(result, Failure):
                return Failure(result.failure())
            if result.unwrap().correlation_id == correlation_id:
                events.append(result.unwrap())
        return Success(tuple(events))

    async def _index_up_to_date(self) -> None:
        watermark_subject = f"$KV.{self.correlation_bucket}.watermark"
        mark = await self._get(self._index_reader.last(watermark_subject))
        start = int(mark.data) + 1 if mark is not None else 1
        js = self.nc.jetstream(timeout=self.request_timeout)
        acks = []
        last = start - 1
        async with contextlib.aclosing(self._messages(self._all_subjects, start)) as batches:
            async for batch in batches:
                for msg in batch:
                    headers = msg.headers or {}
                    last = int(headers[SEQUENCE])
                    correlation = headers.get(Header.CORRELATION_ID)
                    if correlation is not None:
                        key = f"c.{_digest(correlation)}.{last}"
                        acks.append(
                            await js.publish_async(f"$KV.{self.correlation_bucket}.{key}", b"")
                        )
        try:
            for ack in acks:
                await ack
            if last >= start:
                await js.publish(watermark_subject, str(last).encode())
        except (NatsError, OSError) as error:
            raise _Unavailable(StoreUnavailable(f"correlation index: {error!r}")) from None

    # ---------------------------------------------------------------- snapshots

    def _snapshot_subject(self, stream: StreamId) -> str:
        key = base64.urlsafe_b64encode(str(stream).encode()).decode()
        return f"$KV.{self.snapshot_bucket}.s.{key}"

    async def save_snapshot(
        self, stream: StreamId, version: int, state: bytes
    ) -> Result[Snapshot, StoreError]:
        """Remember *state* as the state of *stream* after event *version* (in the KV bucket)."""
        snapshot = Snapshot(stream, version, state)
        if self._closed:
            return Failure(_CLOSED)
        subject = self._snapshot_subject(stream)
        body = b"%d\n" % version + state
        size = snapshot_size(snapshot)
        if size > self.max_event_bytes:
            return Failure(SnapshotTooLarge(stream, size, self.max_event_bytes))
        try:
            reply = await self._publish(subject, [(subject, {}, body)])
        except _Unavailable as unavailable:
            return Failure(unavailable.error)
        if "error" in reply:
            return Failure(_api_failure(subject, reply["error"]))
        return Success(snapshot)

    async def load_snapshot(self, stream: StreamId) -> Result[Loaded, StoreError]:
        """The latest snapshot of *stream* and the events after it."""
        try:
            msg = await self._get(self._snapshot_reader.last(self._snapshot_subject(stream)))
        except _Unavailable as unavailable:
            return Failure(unavailable.error)
        snapshot = None
        if msg is not None:
            version, _, state = msg.data.partition(b"\n")
            snapshot = Snapshot(stream, int(version), state)
        after = 1 if snapshot is None else snapshot.version + 1
        events = await self.read(stream, from_version=after)
        if snapshot is not None and events == Success(()):  # is the stream there at all?
            current = await self.version(stream)
            if isinstance(current, Failure):
                return current
            if current.unwrap() < snapshot.version:  # saved with a wrong version: ignore it
                snapshot, events = None, await self.read(stream)
        return events.map(lambda read: Loaded(snapshot, read))


def _api_failure(subject: str, error: dict[str, Any]) -> StoreUnavailable | PermissionDenied:
    description = str(error.get("description", error))
    if error.get("code") == 403 or "permission" in description.lower():
        return PermissionDenied("publish", subject, description)
    return StoreUnavailable(f"{subject}: {description} (code {error.get('err_code')})")


def _size(headers: dict[str, str]) -> int:
    """The size of the header block of *headers* (counted against max_payload with the body)."""
    names, values = "".join(headers), "".join(headers.values())
    return 12 + 4 * len(headers) + len(names) + len(values.encode())


def _version_of(headers: dict[str, str]) -> int | None:
    """The ``Cim-Version`` of a stored event, or ``None`` when it has no valid one."""
    text = headers.get(Header.VERSION, "")
    if not text.isascii() or not text.isdigit() or text.startswith("0"):
        return None
    return int(text)


def _version_below(msg: Msg, version: int) -> bool:
    try:
        return int((msg.headers or {}).get(Header.VERSION, "0")) < version
    except ValueError:
        return False


def _position_of_key(msg: Msg) -> int:
    """The event position an index entry points at: the last token of its key."""
    return int((msg.headers or {})[SUBJECT].rsplit(".", 1)[1])


def _digest(correlation_id: str) -> str:
    return hashlib.sha256(correlation_id.encode()).hexdigest()[:32]
