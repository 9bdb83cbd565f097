"""Look inside a running cim system's JetStream: which event streams exist, what they hold, what
arrives. This is what ``cim streams``, ``cim read`` and ``cim tail`` use.

It reads the messages a :class:`~interpreters.stores.jetstream.JetStreamEventStore` writes (one subject per
event stream, ``<prefix>.<category>.<entity_id>``, the codec's ``Cim-*`` headers) without needing
the event classes: :func:`describe` shows a message decoded when an :class:`~cim.EventTypes` knows
its type, and raw (headers + JSON) otherwise, so an operator can look at any store.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
from datetime import datetime
from typing import Any

import anyio
import attrs
import nats.errors
import nats.js.errors
import orjson
from attrs import frozen
from nats.js.api import ConsumerConfig, DeliverPolicy
from returns.result import Failure, Result, Success

from cim import EventTypes, Header, JsonCodec, StreamId
from interpreters.natsio.describe import describe as describe_exception
from interpreters.natsio.subjects import (
    DEFAULT_STREAM,
    DEFAULT_SUBJECT_PREFIX,
    all_subjects,
    category_subjects,
    stream_subject,
)
from interpreters.stores.jetstream.foreign import check_message
from interpreters.stores.jetstream.payloads import PAYLOAD_REF, OperationFailed, PayloadObjects

__all__ = (
    "DEFAULT_PREFIX",
    "DEFAULT_STREAM",
    "Category",
    "EventStreamCount",
    "InspectError",
    "InspectFailed",
    "NoEventStream",
    "StoredMessage",
    "UnknownStream",
    "categories",
    "describe",
    "event_streams",
    "follow",
    "messages_in",
    "read_stream",
    "resolve_prefix",
    "resolved",
    "subject_of",
)

DEFAULT_PREFIX = DEFAULT_SUBJECT_PREFIX  # the name the CLI options use


@frozen
class NoEventStream:
    """The server has no JetStream stream called ``name`` (nothing written there yet?)."""

    name: str

    def __str__(self) -> str:
        return (
            f"the server has no JetStream stream {self.name!r}: no cim store has written there "
            "yet (run `cim demo --nats-url ...` to create one, or name yours with --stream)"
        )


@frozen
class UnknownStream:
    """The event stream ``stream`` has no events (`cim streams` lists those that do)."""

    stream: str

    def __str__(self) -> str:
        return f"event stream {self.stream!r} has no events (`cim streams` lists the streams)"


@frozen
class InspectFailed:
    """The server did not answer as expected."""

    detail: str

    def __str__(self) -> str:
        return self.detail


InspectError = NoEventStream | UnknownStream | InspectFailed


@frozen
class EventStreamCount:
    """One event stream (``category.entity_id``) and how many events it holds."""

    stream: str
    events: int

    @property
    def category(self) -> str:
        """The stream's category (the part before the first dot)."""
        return self.stream.partition(".")[0]


@frozen
class Category:
    """A category: how many event streams it has and how many events they hold together."""

    name: str
    streams: int
    events: int


@frozen
class StoredMessage:
    """One stored message: its global ``position`` (stream sequence), subject, headers and body.

    ``skipped`` says why the store skips it when reading its event stream (a foreign message, a
    forged version: :mod:`interpreters.stores.jetstream.foreign`), ``None`` for an event.
    """

    position: int
    subject: str
    headers: Mapping[str, str]
    data: bytes
    stored_at: datetime | None = None
    skipped: str | None = None


async def resolved(payloads: PayloadObjects, message: StoredMessage) -> StoredMessage:
    """*message* with its payload fetched from the Object Store when it is stored by reference
    (``Cim-Payload-Ref``, checked against its digest); as it is otherwise, or when the object
    cannot be fetched (its small reference body is shown then)."""
    if PAYLOAD_REF not in message.headers:
        return message
    try:
        body = await payloads.fetch(dict(message.headers))
    except OperationFailed:
        return message
    return attrs.evolve(message, data=body) if isinstance(body, bytes) else message


def subject_of(stream: StreamId, prefix: str = DEFAULT_PREFIX) -> str:
    """The subject of *stream*'s events.

    >>> subject_of(StreamId("order", "o-1"))
    'events.order.o-1'
    """
    return stream_subject(prefix, stream)


def categories(counts: tuple[EventStreamCount, ...]) -> tuple[Category, ...]:
    """Streams grouped by category, by name.

    >>> categories((EventStreamCount("order.o-1", 3), EventStreamCount("order.o-2", 2)))
    (Category(name='order', streams=2, events=5),)
    """
    grouped: dict[str, list[int]] = {}
    for count in counts:
        grouped.setdefault(count.category, []).append(count.events)
    return tuple(Category(name, len(n), sum(n)) for name, n in sorted(grouped.items()))


async def resolve_prefix(
    js: Any, stream_name: str = DEFAULT_STREAM, prefix: str | None = None
) -> Result[str, InspectError]:
    """*prefix* when given, else the subject prefix of the cim store in the JetStream stream
    *stream_name*: ``p`` when the stream captures exactly the subjects ``p.>`` (as a
    :class:`~interpreters.stores.jetstream.JetStreamEventStore` creates it)."""
    if prefix is not None:
        return Success(prefix)
    try:
        info = await js.stream_info(stream_name)
    except nats.js.errors.NotFoundError:
        return Failure(NoEventStream(stream_name))
    except (nats.errors.Error, TimeoutError) as exc:
        return Failure(InspectFailed(describe_exception(exc)))
    subjects = list(info.config.subjects or ())
    if len(subjects) == 1 and subjects[0].endswith(".>") and len(subjects[0]) > 2:
        return Success(subjects[0][:-2])
    return Failure(
        InspectFailed(
            f"stream {stream_name!r} captures the subjects {subjects}, not one '<prefix>.>': "
            "name the store's subject prefix with --prefix"
        )
    )


async def event_streams(
    js: Any, *, stream_name: str = DEFAULT_STREAM, prefix: str = DEFAULT_PREFIX
) -> Result[tuple[EventStreamCount, ...], InspectError]:
    """Every event stream under *prefix* in the JetStream stream *stream_name*, with its count."""
    try:
        info = await js.stream_info(stream_name, subjects_filter=all_subjects(prefix))
    except nats.js.errors.NotFoundError:
        return Failure(NoEventStream(stream_name))
    except (nats.errors.Error, TimeoutError) as exc:
        return Failure(InspectFailed(describe_exception(exc)))
    subjects: dict[str, int] = info.state.subjects or {}
    start = len(prefix) + 1
    return Success(
        tuple(EventStreamCount(s[start:], n) for s, n in sorted(subjects.items()) if n > 0)
    )


async def read_stream(
    js: Any,
    stream: StreamId,
    *,
    stream_name: str = DEFAULT_STREAM,
    prefix: str = DEFAULT_PREFIX,
    limit: int | None = None,
    on_message: Callable[[], None] | None = None,
) -> Result[tuple[StoredMessage, ...], InspectError]:
    """The messages of event stream *stream*, oldest first (at most *limit*), each checked as
    the store checks it (``skipped`` set on foreign messages and forged versions); *on_message*
    is called after each one is read (a progress bar's advance).

    A stream with no events is :class:`UnknownStream`; a missing JetStream stream is
    :class:`NoEventStream`. Each message is one direct lookup of the next one on the subject,
    so the read ends as soon as there is no next message (no timeout).
    """
    subject = subject_of(stream, prefix)
    found: list[StoredMessage] = []
    sequence, version = 1, 0
    try:
        while limit is None or len(found) < limit:
            try:
                raw = await js.get_msg(stream_name, seq=sequence, subject=subject, next=True)
            except nats.js.errors.NotFoundError as exc:
                if found or not _stream_missing(exc):
                    break
                return Failure(NoEventStream(stream_name))
            headers = dict(raw.headers or {})
            problem = check_message(headers, str(stream), version + 1, position=raw.seq)
            skipped = None
            if problem is None:
                version += 1
            else:
                skipped = str(problem)
            found.append(
                StoredMessage(raw.seq, raw.subject, headers, raw.data or b"", raw.time, skipped)
            )
            sequence = raw.seq + 1
            if on_message is not None:
                on_message()
    except (nats.errors.Error, TimeoutError) as exc:
        return Failure(InspectFailed(describe_exception(exc)))
    if not found:
        return Failure(UnknownStream(str(stream)))
    return Success(tuple(found))


async def messages_in(
    js: Any, stream: StreamId, *, stream_name: str = DEFAULT_STREAM, prefix: str = DEFAULT_PREFIX
) -> int | None:
    """How many messages event stream *stream* holds (one stream-info request; ``None`` when
    the server does not say): the length of a progress bar before reading it."""
    subject = subject_of(stream, prefix)
    try:
        info = await js.stream_info(stream_name, subjects_filter=subject)
    except (nats.errors.Error, TimeoutError):
        return None
    return int((info.state.subjects or {}).get(subject, 0))


async def follow(
    js: Any,
    *,
    stream_name: str = DEFAULT_STREAM,
    prefix: str = DEFAULT_PREFIX,
    category: str | None = None,
    from_position: int | None = None,
) -> AsyncGenerator[StoredMessage, None]:
    """Subscribe now; the returned iterator yields messages as they are stored (from
    *from_position* when given, else only new ones) until it is closed or cancelled.

    Uses an ordered, ephemeral consumer that the server removes when we go away. Raises
    ``nats.js.errors.NotFoundError`` when there is no JetStream stream *stream_name*.
    """
    subject = category_subjects(prefix, category) if category else all_subjects(prefix)
    config = None
    policy = DeliverPolicy.NEW
    if from_position is not None:
        policy = DeliverPolicy.BY_START_SEQUENCE
        config = ConsumerConfig(opt_start_seq=from_position)
    await js.stream_info(stream_name)  # fail fast (NotFoundError) on a missing stream
    subscription = await js.subscribe(
        subject,
        stream=stream_name,
        ordered_consumer=True,
        deliver_policy=policy,
        config=config,
    )
    return _delivered(subscription)


async def _delivered(subscription: Any) -> AsyncGenerator[StoredMessage, None]:
    try:
        async for msg in subscription.messages:
            yield StoredMessage(
                msg.metadata.sequence.stream,
                msg.subject,
                dict(msg.headers or {}),
                msg.data or b"",
                msg.metadata.timestamp,
            )
    finally:
        with anyio.CancelScope(shield=True):
            await subscription.unsubscribe()


def describe(
    message: StoredMessage, types: EventTypes | None = None, prefix: str = DEFAULT_PREFIX
) -> dict[str, Any]:
    """*message* as JSON-ready data: decoded (upcast to the current schema) when *types* knows
    its event type, raw otherwise. ``error`` says why the message is not an event: why its
    stream's read skips it (``skipped``: then ``version`` is ``None``), or that it is not a cim
    event (no ``Cim-Event-Type`` or ``Cim-Version`` header, or a version that is not a number),
    or, with *types*, why it did not decode.

    >>> headers = {"Cim-Event-Type": "Placed", "Cim-Version": "1"}
    >>> message = StoredMessage(7, "events.order.o-1", headers, b'{"payload": {"n": 1}}')
    >>> row = describe(message)
    >>> row["position"], row["stream"], row["event_type"], row["payload"], row["error"]
    (7, 'order.o-1', 'Placed', {'n': 1}, None)
    >>> describe(StoredMessage(8, "events.order.o-1", {}, b"hello"))["error"]
    'not a cim event: no Cim-Event-Type, Cim-Version header'
    """
    headers = message.headers
    row: dict[str, Any] = {
        "position": message.position,
        "stream": headers.get(Header.STREAM) or message.subject.removeprefix(f"{prefix}."),
        "version": _int_or_none(headers.get(Header.VERSION)),
        "event_type": headers.get(Header.EVENT_TYPE),
        "schema_version": _int_or_none(headers.get(Header.SCHEMA_VERSION)),
        "event_id": headers.get(Header.EVENT_ID),
        "recorded_at": headers.get(Header.RECORDED_AT)
        or (message.stored_at.isoformat() if message.stored_at else None),
        "correlation_id": headers.get(Header.CORRELATION_ID),
        "causation_id": headers.get(Header.CAUSATION_ID),
        "payload": None,
        "decoded": False,
        "error": None,
    }
    try:
        body = orjson.loads(message.data)
        row["payload"] = body.get("payload") if isinstance(body, dict) else body
    except orjson.JSONDecodeError:
        row["payload"] = message.data.decode("utf-8", errors="replace")
    if message.skipped is not None:  # never shown as an event of the stream
        row["version"], row["error"] = None, message.skipped
        return row
    row["error"] = _not_cim(headers)
    if types is None or row["error"] is not None:
        return row
    codec = JsonCodec(types)
    decoded = codec.decode({**headers, Header.POSITION: str(message.position)}, message.data)
    if isinstance(decoded, Failure):
        row["error"] = str(decoded.failure())
        return row
    envelope = decoded.unwrap()
    entry = types.by_class(type(envelope.payload))
    row["payload"] = codec.converter.unstructure(envelope.payload, entry.cls)
    row["schema_version"] = envelope.schema_version
    row["decoded"] = True
    return row


def _not_cim(headers: Mapping[str, str]) -> str | None:
    """Why a message with *headers* is not a cim event, or ``None`` when it looks like one."""
    missing = [h.value for h in (Header.EVENT_TYPE, Header.VERSION) if h.value not in headers]
    if missing:
        return f"not a cim event: no {', '.join(missing)} header"
    version = headers[Header.VERSION.value]
    if _int_or_none(version) is None:
        return f"not a cim event: {Header.VERSION.value} {version!r} is not a number"
    return None


def _stream_missing(exc: nats.js.errors.NotFoundError) -> bool:
    return getattr(exc, "err_code", None) == 10059  # stream not found (10037: no message)


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None
