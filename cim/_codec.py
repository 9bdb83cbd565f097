"""JSON encoding of envelopes for NATS: routing metadata in headers, payload in the body."""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from itertools import repeat
from operator import attrgetter, itemgetter
from types import MappingProxyType
from typing import Annotated, Any, Generic, NamedTuple, TypeVar
from uuid import UUID
from weakref import WeakSet

import attrs
import cattrs
import msgspec
import orjson
from attrs import field, frozen
from pyrsistent import PMap, pmap
from returns.primitives.container import BaseContainer
from returns.result import Failure, Result, Success

from cim._converter import I64_MAX, I64_MIN, make_payload_converter
from cim._decode_errors import (
    DecodeError,
    InvalidHeader,
    MalformedJson,
    MalformedPayload,
    MissingHeader,
    MissingUpcaster,
    UnknownEventType,
    UnsupportedSchemaVersion,
    UpcastFailed,
)
from cim._events import _MAX_ID_LENGTH, EventEnvelope, NewEvent, id_text
from cim._registry import EventType, EventTypes
from cim._stream_id import StreamId

_P = TypeVar("_P")


class _FastPath(NamedTuple):
    entry: EventType
    version: str
    structure: Callable[[Any, Any], Any]
    plain: msgspec.json.Decoder[Any] | None  # reads the body of a plain class


class _BatchReader(NamedTuple):
    plain: msgspec.json.Decoder[Any]
    cls: type[Any]
    name: str
    version: int


class _Encoding(NamedTuple):
    cls: type[Any]
    name: str
    version: str


class Header(StrEnum):
    """NATS headers the codec writes: a consumer can route on them without decoding the body.

    ``Cim-Position`` is written by :meth:`JsonCodec.encode` (an envelope that has a position) but
    not stored by the stores (:meth:`JsonCodec.encode_new`): a stored event's position is its
    message's stream sequence; :meth:`JsonCodec.decode` reads it from this header, which a store
    sets from the sequence before decoding.
    """

    EVENT_ID = "Cim-Event-Id"
    EVENT_TYPE = "Cim-Event-Type"
    SCHEMA_VERSION = "Cim-Schema-Version"
    STREAM = "Cim-Stream"
    VERSION = "Cim-Version"
    POSITION = "Cim-Position"
    RECORDED_AT = "Cim-Recorded-At"
    CORRELATION_ID = "Cim-Correlation-Id"
    CAUSATION_ID = "Cim-Causation-Id"


class _Invalid(Exception):
    def __init__(self, error: DecodeError) -> None:
        self.error = error


_STOCK: WeakSet[cattrs.Converter] = WeakSet()


def _stock_converter() -> cattrs.Converter:
    """The default converter: one :func:`make_payload_converter` made, which nobody else holds.

    The codec reads a plain payload class with ``msgspec`` only when its converter is one of
    these (a converter passed in may have hooks ``msgspec`` would not run).
    """
    converter = make_payload_converter()
    _STOCK.add(converter)
    return converter


_PLAIN = frozenset({str, int, float, bool})


def _plain_reader(cls: type[Any]) -> msgspec.json.Decoder[Any] | None:
    """A ``msgspec`` decoder of a body whose payload is a *cls*, accepting exactly the bodies
    the stock converter reads (``None`` if *cls* is not such a plain class).

    *cls* must be an attrs class whose ``__init__`` attrs wrote, whose fields all take their
    name as a positional argument, have no converter, have no default or a plain one, and are
    ``str``, ``int``, ``float``, ``bool`` or one of these ``| None``. The decoder reads the
    body into a struct whose ``payload`` has those fields, in order, checking the JSON types as
    the converter's hooks do; the fast path then calls ``cls`` with them, as cattrs does (so
    validators run). It refuses what would make it differ: integers beyond 64 bits (orjson
    reads those as floats, which the converter refuses; it also leaves the unsigned ones above
    ``2**63 - 1`` to the exact path, for msgspec checks bounds within 64 signed bits) and
    unknown members (which it would skip without checking them as orjson does: their UTF-8,
    the range of their numbers).
    """
    init = getattr(cls.__init__, "__code__", None)
    if init is None or not init.co_filename.startswith("<attrs generated"):
        return None
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation that cannot be resolved: cattrs reads the class
        return None
    fields = []
    for attribute in attrs.fields(cls):
        if attribute.converter is not None or not attribute.init or attribute.kw_only:
            return None
        hint, default = hints.get(attribute.name), attribute.default
        kind = _plain_kind(hint)
        if attribute.alias != attribute.name or kind is None:
            return None
        if default is not attrs.NOTHING and not isinstance(default, kind | None):
            return None  # a factory, or a default of another type
        if kind is int:
            hint = _BOUNDED_INT if hint is int else _BOUNDED_INT | None
        fields.append(
            (attribute.name, hint) if default is attrs.NOTHING else (attribute.name, hint, default)
        )
    payload = msgspec.defstruct(
        cls.__name__, fields, kw_only=True, forbid_unknown_fields=True, gc=False
    )
    body = msgspec.defstruct(
        f"{cls.__name__}Body",
        [("payload", payload), ("metadata", dict[str, str] | msgspec.UnsetType, msgspec.UNSET)],
        forbid_unknown_fields=True,
        gc=False,  # neither struct can be part of a cycle: the collector need not track them
    )
    return msgspec.json.Decoder(body)


_BOUNDED_INT = Annotated[int, msgspec.Meta(ge=I64_MIN, le=I64_MAX)]


def _plain_kind(hint: Any) -> type[Any] | None:
    """``str``, ``int``, ``float`` or ``bool`` if *hint* is one of them, alone or ``| None``."""
    if hint in _PLAIN:
        return hint  # type: ignore[no-any-return]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = typing.get_args(hint)
        if len(members) == 2 and type(None) in members:
            (member,) = set(members) - {type(None)}
            return member if member in _PLAIN else None
    return None


def _registry(types: EventTypes) -> EventTypes:
    """*types* itself; anything else (a list of classes, a class) is refused with a hint."""
    if not isinstance(types, EventTypes):
        raise TypeError(
            "types must be an EventTypes registry, e.g. "
            f"EventTypes().register(Opened).register(Deposited); got {types!r}"
        )
    return types


@frozen
class JsonCodec:
    """Encode envelopes as ``(headers, body)`` and decode them back, upcasting old versions.

    The body is ``{"payload": {...}, "metadata": {...}}`` as JSON. ``decode`` never raises:
    every way a message can be wrong is a :data:`~cim.DecodeError` value. Configure a custom
    ``converter`` fully before building the codec: the codec prepares its hooks once. With the
    default converter, payload classes of plain fields (``str``, ``int``, ``float``, ``bool``,
    optional or not) are read with ``msgspec`` in one pass; a codec given its own converter
    reads every payload with that converter (its hooks may differ from what ``msgspec`` does).
    """

    types: EventTypes = field(converter=_registry)
    converter: cattrs.Converter = field(factory=_stock_converter, eq=False, repr=False)
    _fast: Mapping[str, _FastPath] = field(init=False, eq=False, repr=False)
    _encodings: Mapping[type[Any], _Encoding] = field(init=False, eq=False, repr=False)
    _readers: Mapping[tuple[str, str], _BatchReader] = field(init=False, eq=False, repr=False)

    @_fast.default
    def _prepare_fast_paths(self) -> Mapping[str, _FastPath]:
        """For each registered type: what decoding its current version needs, prepared once.

        A payload class of plain fields (see :func:`_plain_reader`) read with the codec's own
        converter has its whole body read by one ``msgspec`` decoder, which checks the JSON
        types as this converter does; other classes are structured by cattrs without its
        detailed validation. Either way a failure retries on the exact path, which reports it
        in detail.
        """
        quick = self.converter.copy(detailed_validation=False)
        stock = self.converter in _STOCK
        paths = {}
        for entry in self.types:
            try:
                structure = quick.get_structure_hook(entry.cls)
            except Exception:  # cattrs cannot build it: decoding reports why, on the exact path
                continue
            plain = _plain_reader(entry.cls) if stock else None
            paths[entry.name] = _FastPath(entry, str(entry.version), structure, plain)
        return MappingProxyType(paths)

    @_readers.default
    def _prepare_batch_readers(self) -> Mapping[tuple[str, str], _BatchReader]:
        """The fast paths :meth:`decode_many` takes in one loop, those of plain classes, by the
        type name and current schema version text the headers of such a message carry."""
        return MappingProxyType(
            {
                (name, path.version): _BatchReader(
                    path.plain, path.entry.cls, name, path.entry.version
                )
                for name, path in self._fast.items()
                if path.plain is not None
            }
        )

    @_encodings.default
    def _prepare_encodings(self) -> Mapping[type[Any], _Encoding]:
        """For each registered class: the type name and version text its headers carry."""
        return MappingProxyType(
            {e.cls: _Encoding(e.cls, e.name, str(e.version)) for e in self.types}
        )

    def encode(self, envelope: EventEnvelope[Any]) -> tuple[dict[str, str], bytes]:
        """The NATS headers and body for *envelope*; ``TypeError`` if its type is not registered."""
        try:
            entry = self.types.by_class(type(envelope.payload))
        except KeyError:
            raise _unregistered(envelope.payload) from None
        if (envelope.event_type, envelope.schema_version) != (entry.name, entry.version):
            raise ValueError(
                f"envelope says {envelope.event_type!r} v{envelope.schema_version} but its payload "
                f"is registered as {entry.name!r} v{entry.version}"
            )
        headers = {
            Header.EVENT_ID: str(envelope.event_id),
            Header.EVENT_TYPE: entry.name,
            Header.SCHEMA_VERSION: str(entry.version),
            Header.STREAM: str(envelope.stream),
            Header.VERSION: str(envelope.version),
            Header.POSITION: str(envelope.position),
            Header.RECORDED_AT: envelope.recorded_at.isoformat(),
        }
        if envelope.correlation_id is not None:
            headers[Header.CORRELATION_ID] = envelope.correlation_id
        if envelope.causation_id is not None:
            headers[Header.CAUSATION_ID] = envelope.causation_id
        body = {
            "payload": self.converter.unstructure(envelope.payload, entry.cls),
            "metadata": dict(envelope.metadata) if envelope.metadata else {},
        }
        return {str(k): v for k, v in headers.items()}, orjson.dumps(body)

    def encode_new(
        self,
        event: NewEvent[Any],
        *,
        stream: StreamId,
        version: int,
        event_id: UUID,
        recorded_at: datetime,
    ) -> tuple[dict[str, str], bytes]:
        """``encode(types.envelope(event, position=0, ...))`` without building the envelope, and
        without ``Cim-Position``.

        For stores, whose append encodes every event before the server assigns its position:
        the stored position is the message's stream sequence, which a read puts back in the
        headers before :meth:`decode` (so no ``Cim-Position`` is stored). It checks
        what the envelope's validators would: a registered payload type, a ``StreamId``, a
        ``UUID`` id, a version ``>= 1`` and an aware time (*event* was checked when built).

        >>> from datetime import UTC, datetime
        >>> from uuid import UUID
        >>> from attrs import frozen
        >>> @frozen
        ... class Opened:
        ...     owner: str
        >>> codec = JsonCodec(EventTypes().register(Opened))
        >>> headers, body = codec.encode_new(
        ...     NewEvent(Opened("ann")), stream=StreamId("account", "a-1"), version=1,
        ...     event_id=UUID(int=1), recorded_at=datetime(2026, 1, 1, tzinfo=UTC))
        >>> headers["Cim-Stream"], headers["Cim-Version"], body
        ('account.a-1', '1', b'{"payload":{"owner":"ann"},"metadata":{}}')
        """
        encoding = self._checked(event, stream, version, event_id, recorded_at)
        headers = {
            _EVENT_ID: str(event.event_id or event_id),
            _EVENT_TYPE: encoding.name,
            _SCHEMA_VERSION: encoding.version,
            _STREAM: f"{stream.category}.{stream.entity_id}",
            _VERSION: str(version),
            _RECORDED_AT: recorded_at.isoformat(),
        }
        if event.correlation_id is not None:
            headers[_CORRELATION_ID] = event.correlation_id
        if event.causation_id is not None:
            headers[_CAUSATION_ID] = event.causation_id
        return headers, self._body(event, encoding)

    def _checked(
        self,
        event: NewEvent[Any],
        stream: StreamId,
        version: int,
        event_id: UUID,
        recorded_at: datetime,
    ) -> _Encoding:
        """How *event*'s type is encoded, after the checks the envelope's validators would make."""
        try:
            encoding = self._encodings[type(event.payload)]
        except KeyError:
            raise _unregistered(event.payload) from None
        if type(stream) is not StreamId:
            raise TypeError(f"stream must be a StreamId, got {type(stream).__name__}")
        if not isinstance(version, int):
            raise TypeError(f"version must be an int, got {type(version).__name__}")
        if version < 1:
            raise ValueError(f"version must be >= 1, got {version!r}")
        if not isinstance(event_id, UUID):
            raise TypeError(f"event_id must be a UUID, got {type(event_id).__name__}")
        if not isinstance(recorded_at, datetime) or recorded_at.utcoffset() is None:
            raise ValueError(f"recorded_at must be a timezone-aware datetime, got {recorded_at!r}")
        return encoding

    def _body(self, event: NewEvent[Any], encoding: _Encoding) -> bytes:
        metadata = event.metadata
        body = {
            "payload": self.converter.unstructure(event.payload, encoding.cls),
            "metadata": dict(metadata) if metadata else {},
        }
        return orjson.dumps(body)

    def encode_payload(self, payload: Any) -> bytes:
        """Only the payload's JSON (for effects and replies that carry a record)."""
        return orjson.dumps(self.converter.unstructure(payload, type(payload)))

    def decode(
        self, headers: Mapping[str, str] | None, data: bytes
    ) -> Result[EventEnvelope[Any], DecodeError]:
        """The envelope in *headers* and *data*, or the precise reason it cannot be read."""
        if headers:
            try:
                envelope = self._decode_current(headers, data)
            except Exception:  # any doubt: the exact path below decides and names the error
                pass
            else:
                success: Success[EventEnvelope[Any]] = _new(Success)
                _fill_success(success, envelope)
                return success
        try:
            return Success(self._decode(headers or {}, data))
        except _Invalid as invalid:
            return Failure(invalid.error)

    def decode_many(
        self, messages: Iterable[tuple[Mapping[str, str] | None, bytes]]
    ) -> list[Result[EventEnvelope[Any], DecodeError]]:
        """``[decode(headers, data) for headers, data in messages]``, with per-batch work where
        :meth:`decode` does it per event: for reading many events at once (a store's read).

        The values are exactly :meth:`decode`'s, successes and errors alike, in order. A batch
        of well-formed messages at their types' current versions, each type's payload class a
        plain one (see the class docstring), each message's headers a ``dict``, is decoded one
        header at a time rather than one message at a time: each header's values are taken
        from every message and checked together by C-level bulk operations (event ids and
        decimals converted by one ``msgspec`` call each, each distinct correlation or causation
        id checked once, streams parsed through a cache), each body is read by its type's
        ``msgspec`` decoder, and a last loop builds the envelopes. On anything else in the
        batch (an old version, a bad or missing header or body, another kind of payload class)
        the whole batch is decoded message by message by :meth:`decode`, so every check and
        every error stays :meth:`decode`'s.

        >>> from attrs import frozen
        >>> @frozen
        ... class Opened:
        ...     owner: str
        >>> codec = JsonCodec(EventTypes().register(Opened))
        >>> message = codec.encode_new(
        ...     NewEvent(Opened("ann")), stream=StreamId("account", "a-1"), version=1,
        ...     event_id=UUID(int=1), recorded_at=datetime.fromisoformat("2026-01-01T00:00Z"))
        >>> headers = {**message[0], "Cim-Position": "1"}
        >>> [result.unwrap().payload for result in codec.decode_many([(headers, message[1])])]
        [Opened(owner='ann')]
        >>> [type(result.failure()).__name__ for result in codec.decode_many([(None, b"{}")])]
        ['MissingHeader']
        """
        batch = list(messages)
        if len(batch) > 1:
            try:
                return self._decode_batch(batch)
            except Exception:  # any doubt: each message by itself, which names every error
                pass
        decode = self.decode
        return [decode(headers, data) for headers, data in batch]

    def _decode_batch(
        self, batch: list[tuple[Mapping[str, str] | None, bytes]]
    ) -> list[Result[EventEnvelope[Any], DecodeError]]:
        """The batch fast path: accepts only what :meth:`_decode_current` accepts for every
        message, and builds the same envelopes; raises on anything else (the caller then
        decodes message by message).

        Each check runs once over the whole batch, in C (``map``, ``join``, ``msgspec``), not
        once per message in Python: a header missing anywhere makes its getter raise, a value
        that is not text makes ``join`` or its parser raise. Versions and positions must be
        canonical decimals below ``2**63`` here (a leading zero, which the exact path reads,
        or a larger number takes it); ids are checked as :func:`id_text` checks them.
        """
        headers = list(map(_HEADERS_OF, batch))
        if {*map(type, headers)} != _DICTS:
            raise _NotCurrent  # another mapping's get may differ from dict.get
        kinds = zip(map(_EVENT_TYPE_OF, headers), map(_SCHEMA_VERSION_OF, headers), strict=True)
        readers = list(map(self._readers.__getitem__, kinds))
        version_texts = list(map(_VERSION_OF, headers))
        position_texts = list(map(_POSITION_OF, headers))
        if {*map(type, version_texts), *map(type, position_texts)} != _STRS:
            raise _NotCurrent  # int() of a str subclass may answer otherwise (its own __int__)
        digits = "".join((*version_texts, *position_texts))
        if not (digits.isascii() and digits.isdigit()):
            raise _NotCurrent  # no sign, space, point or exponent; lax msgspec refuses 0s ahead
        versions = _convert(version_texts, _VERSIONS, strict=False)
        positions = _convert(position_texts, _POSITIONS, strict=False)
        recorded = list(map(_from_iso, map(_RECORDED_AT_OF, headers)))
        if not all(map(_TZINFO_OF, recorded)):
            raise _NotCurrent
        correlations = list(map(_GET, headers, repeat(_CORRELATION_ID), repeat(_ABSENT)))
        causations = list(map(_GET, headers, repeat(_CAUSATION_ID), repeat(_ABSENT)))
        _check_ids(list({*correlations, *causations} - _ABSENT_ONLY))
        streams = list(map(_stream, map(_STREAM_OF, headers)))
        bodies = list(map(_DECODE, map(_PLAIN_OF, readers), map(_DATA_OF, batch)))
        columns = zip(
            _convert(list(map(_EVENT_ID_OF, headers)), _UUIDS),
            streams,
            versions,
            positions,
            readers,
            bodies,
            recorded,
            map(_NONE_IF_ABSENT.get, correlations, correlations),
            map(_NONE_IF_ABSENT.get, causations, causations),
            strict=True,
        )
        decoded: list[Result[EventEnvelope[Any], DecodeError]] = []
        append, fill = decoded.append, _fill_success
        for (
            event_id,
            stream,
            version,
            position,
            reader,
            body,
            moment,
            correlation,
            causation,
        ) in columns:
            _, cls, name, schema_version = reader
            metadata = body.metadata
            envelope: _Draft[Any] = _Draft()
            envelope.event_id = event_id
            envelope.stream = stream
            envelope.version = version
            envelope.position = position
            envelope.event_type = name
            envelope.schema_version = schema_version
            envelope.payload = cls(*_astuple(body.payload))
            envelope.recorded_at = moment
            envelope.correlation_id = correlation
            envelope.causation_id = causation
            envelope.metadata = pmap(metadata) if metadata else _NO_METADATA
            envelope.__class__ = EventEnvelope  # type: ignore[assignment]
            success: Success[EventEnvelope[Any]] = _new(Success)
            fill(success, envelope)
            append(success)
        return decoded

    def _decode_current(self, headers: Mapping[str, str], data: bytes) -> EventEnvelope[Any]:
        """The fast path for the common case: a well-formed message at the current schema version.

        It accepts only what :meth:`_decode` accepts and builds the same envelope; on anything
        unusual (an upcast to do, any bad value) it raises, and :meth:`_decode` finds the precise
        error. The checks of ``EventEnvelope``'s validators are all made here, so the envelope is
        built without running them again. (A header value that is not text makes its parser
        raise, so it too takes the exact path.)
        """
        entry, version, structure, plain = self._fast[headers[_EVENT_TYPE]]
        if headers[_SCHEMA_VERSION] != version:
            raise _NotCurrent
        if plain is not None:
            body = plain.decode(data)
            metadata = body.metadata
            payload = entry.cls(*_astuple(body.payload))
        else:
            body = orjson.loads(data)
            raw, metadata = body["payload"], body.get("metadata", _EMPTY)
            if type(body) is not dict or type(raw) is not dict or type(metadata) is not dict:
                raise _NotCurrent
            for key, value in metadata.items():
                if type(key) is not str or type(value) is not str:
                    raise _NotCurrent
            payload = structure(raw, entry.cls)
        version_text, position_text = headers[_VERSION], headers[_POSITION]
        if type(version_text) is not str or type(position_text) is not str:
            raise _NotCurrent  # bytes have isdigit() too, and int() reads them
        if not (version_text.isdigit() and position_text.isdigit()):
            raise _NotCurrent
        if not (version_text.isascii() and position_text.isascii()) or version_text[0] == "0":
            raise _NotCurrent
        if len(version_text) > 20 or len(position_text) > 20:
            raise _NotCurrent
        recorded_at = datetime.fromisoformat(headers[_RECORDED_AT])
        if recorded_at.tzinfo is None:  # fromisoformat gives a fixed offset or no tzinfo
            raise _NotCurrent
        correlation_id = headers.get(_CORRELATION_ID)
        if correlation_id is not None or _CORRELATION_ID in headers:
            correlation_id = id_text(_CORRELATION_ID, correlation_id)
        causation_id = headers.get(_CAUSATION_ID)
        if causation_id is not None or _CAUSATION_ID in headers:
            causation_id = id_text(_CAUSATION_ID, causation_id)
        envelope: _Draft[Any] = _Draft()
        envelope.event_id = _convert(headers[_EVENT_ID], UUID)
        envelope.stream = _stream(headers[_STREAM])
        envelope.version = int(version_text)
        envelope.position = int(position_text)
        envelope.event_type = entry.name
        envelope.schema_version = entry.version
        envelope.payload = payload
        envelope.recorded_at = recorded_at
        envelope.correlation_id = correlation_id
        envelope.causation_id = causation_id
        envelope.metadata = pmap(metadata) if metadata else _NO_METADATA
        envelope.__class__ = EventEnvelope  # type: ignore[assignment]
        return envelope  # type: ignore[return-value]

    def _decode(self, headers: Mapping[str, str], data: bytes) -> EventEnvelope[Any]:
        event_type = _required(headers, Header.EVENT_TYPE)
        entry = self.types.find(event_type)
        if entry is None:
            raise _Invalid(UnknownEventType(event_type))
        schema_version = _parse(headers, Header.SCHEMA_VERSION, _positive_int)
        try:
            body = orjson.loads(data)
        except (orjson.JSONDecodeError, TypeError) as exc:
            raise _Invalid(MalformedJson(str(exc))) from None
        if not isinstance(body, dict) or not isinstance(body.get("payload"), dict):
            raise _Invalid(MalformedJson('expected an object with an object "payload"'))
        metadata = body.get("metadata", {})
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise _Invalid(MalformedJson('"metadata" must be an object of strings'))
        payload = self._payload(entry, schema_version, body["payload"])
        try:
            return EventEnvelope(
                event_id=_parse(headers, Header.EVENT_ID, UUID),
                stream=_parse(headers, Header.STREAM, _stream),
                version=_parse(headers, Header.VERSION, _positive_int),
                position=_parse(headers, Header.POSITION, _natural_int),
                event_type=entry.name,
                schema_version=entry.version,
                payload=payload,
                recorded_at=_parse(headers, Header.RECORDED_AT, _aware_datetime),
                correlation_id=_optional(headers, Header.CORRELATION_ID),
                causation_id=_optional(headers, Header.CAUSATION_ID),
                metadata=pmap(metadata),
            )
        except (TypeError, ValueError) as exc:  # pragma: no cover - every header is checked above
            raise _Invalid(InvalidHeader("*", "", str(exc))) from None

    def _payload(self, entry: EventType, version: int, raw: dict[str, Any]) -> Any:
        if version > entry.version:
            raise _Invalid(UnsupportedSchemaVersion(entry.name, version, entry.version))
        if version < entry.oldest_readable:
            raise _Invalid(MissingUpcaster(entry.name, version, entry.version))
        for step in range(version, entry.version):
            try:
                raw = entry.upcasters[step](raw)
            except Exception as exc:  # an upcaster is user code: its failure is a value here
                raise _Invalid(
                    UpcastFailed(entry.name, step, f"{type(exc).__name__}: {exc}")
                ) from None
            if not isinstance(raw, dict):
                raise _Invalid(
                    UpcastFailed(entry.name, step, f"returned {type(raw).__name__}, not dict")
                )
        try:
            return self.converter.structure(raw, entry.cls)
        except Exception as exc:  # cattrs reports through several exception types
            raise _Invalid(MalformedPayload(entry.name, _describe(exc))) from None


_EMPTY: dict[str, str] = {}
_NO_METADATA: PMap[str, str] = pmap()
_ENVELOPE_FIELDS = (
    "event_id",
    "stream",
    "version",
    "position",
    "event_type",
    "schema_version",
    "payload",
    "recorded_at",
    "correlation_id",
    "causation_id",
    "metadata",
)
if tuple(a.name for a in attrs.fields(EventEnvelope)) != _ENVELOPE_FIELDS:  # pragma: no cover
    raise ImportError("EventEnvelope's fields changed: update JsonCodec._decode_current")


class _Draft(Generic[_P]):  # the same base as EventEnvelope, or the layouts differ
    """A record with ``EventEnvelope``'s slots that can be written: the fast path fills one, then
    makes it an ``EventEnvelope`` by setting its class (a third of the cost of filling a frozen
    envelope's slots through their descriptors, which the attrs ``__init__`` also does)."""

    __slots__ = _ENVELOPE_FIELDS
    event_id: UUID
    stream: StreamId
    version: int
    position: int
    event_type: str
    schema_version: int
    payload: Any
    recorded_at: datetime
    correlation_id: str | None
    causation_id: str | None
    metadata: PMap[str, str]


def _can_draft() -> bool:
    """Whether a filled ``_Draft`` becomes an envelope equal to the one attrs builds."""
    fields: dict[str, Any] = {"event_id": UUID(int=1), "stream": StreamId("a", "b")}
    fields |= {"version": 1, "position": 0, "event_type": "T", "schema_version": 1}
    fields |= {"payload": None, "recorded_at": datetime.fromisoformat("2026-01-01T00:00+00:00")}
    fields |= {"correlation_id": None, "causation_id": None, "metadata": pmap()}
    draft: Any = _Draft()
    for name, value in fields.items():
        setattr(draft, name, value)
    draft.__class__ = EventEnvelope
    return type(draft) is EventEnvelope and draft == EventEnvelope(**fields)


if not _can_draft():  # pragma: no cover - CPython lets a class be set between equal layouts
    raise ImportError("EventEnvelope's layout changed: update cim._codec._Draft")

_new = object.__new__
_convert = msgspec.convert
_astuple = msgspec.structs.astuple
_EVENT_TYPE, _SCHEMA_VERSION = Header.EVENT_TYPE.value, Header.SCHEMA_VERSION.value
_EVENT_ID, _STREAM, _VERSION = Header.EVENT_ID.value, Header.STREAM.value, Header.VERSION.value
_POSITION, _RECORDED_AT = Header.POSITION.value, Header.RECORDED_AT.value
_CORRELATION_ID, _CAUSATION_ID = Header.CORRELATION_ID.value, Header.CAUSATION_ID.value


def _success_filler() -> Callable[[Success[Any], Any], None]:
    """What fills a ``Success`` made by ``object.__new__`` with its value, as ``Success(value)``
    would: decoding makes one per event.

    ``Success(value)`` runs two Python ``__init__``s to fill one slot; the slot's own setter
    costs half, and called inline no Python frame at all. Any other layout of ``returns``
    gets ``Success.__init__``.
    """
    fill = getattr(vars(BaseContainer).get("_inner_value"), "__set__", None)
    if fill is None:  # pragma: no cover - another returns
        return Success.__init__
    probe: Any = object()
    made: Success[Any] = _new(Success)
    fill(made, probe)
    same = made == Success(probe) and made.unwrap() is probe
    return fill if same else Success.__init__  # pragma: no branch


_fill_success = _success_filler()


class _NotCurrent(Exception):
    """The message is not a well-formed one at its type's current version: take the exact path."""


_HEADERS_OF, _DATA_OF = itemgetter(0), itemgetter(1)
_EVENT_ID_OF, _EVENT_TYPE_OF = itemgetter(_EVENT_ID), itemgetter(_EVENT_TYPE)
_SCHEMA_VERSION_OF, _STREAM_OF = itemgetter(_SCHEMA_VERSION), itemgetter(_STREAM)
_VERSION_OF, _POSITION_OF = itemgetter(_VERSION), itemgetter(_POSITION)
_RECORDED_AT_OF = itemgetter(_RECORDED_AT)
_PLAIN_OF = itemgetter(0)
_TZINFO_OF = attrgetter("tzinfo")
_DECODE = msgspec.json.Decoder.decode
_GET = dict.get
_DICTS, _STRS = {dict}, {str}
_UUIDS = list[UUID]
_VERSIONS = list[Annotated[int, msgspec.Meta(ge=1, le=I64_MAX)]]
_POSITIONS = list[Annotated[int, msgspec.Meta(le=I64_MAX)]]
_from_iso = datetime.fromisoformat
_ABSENT = object()
_ABSENT_ONLY = {_ABSENT}
_NONE_IF_ABSENT = {_ABSENT: None}


def _check_ids(ids: list[str]) -> None:
    """Raise unless every one of *ids* passes :func:`id_text` (checked together, in C); only
    ``str`` itself here (a subclass's own methods may answer :func:`id_text` otherwise)."""
    if not {*map(type, ids)} <= _STRS:
        raise _NotCurrent
    text = "".join(ids)
    lengths = list(map(len, ids))
    if min(lengths, default=1) < 1 or max(lengths, default=0) > _MAX_ID_LENGTH:
        raise _NotCurrent
    if not text.isprintable():
        raise _NotCurrent
    if list(map(str.strip, ids)) != ids:
        raise _NotCurrent


def _unregistered(payload: object) -> TypeError:
    name = type(payload).__qualname__
    return TypeError(
        f"{name} is not a registered event type: register its class, "
        f"e.g. EventTypes().register({name}), and pass that registry as types="
    )


@lru_cache(maxsize=4096)
def _stream(text: str) -> StreamId:
    """``StreamId.parse``, remembered: the events of one stream all carry the same header."""
    return StreamId.parse(text)


def _required(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        raise _Invalid(MissingHeader(name))
    if not isinstance(value, str):
        raise _Invalid(InvalidHeader(name, repr(value), "header values must be text"))
    return value


def _parse(headers: Mapping[str, str], name: str, parse: Any) -> Any:
    value = _required(headers, name)
    try:
        return parse(value)
    except (TypeError, ValueError) as exc:
        raise _Invalid(InvalidHeader(name, value, str(exc))) from None


def _optional(headers: Mapping[str, str], name: str) -> str | None:
    if name not in headers:
        return None
    return _parse(headers, name, lambda text: id_text(name, text))  # type: ignore[no-any-return]


def _positive_int(text: str) -> int:
    number = _natural_int(text)
    if number < 1:
        raise ValueError("must be >= 1")
    return number


def _natural_int(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise ValueError("must be a decimal integer")
    return int(text)


def _aware_datetime(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        raise ValueError("must carry a UTC offset")
    return moment


def _describe(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        notes = cattrs.transform_error(exc)
        return "; ".join(notes) if notes else str(exc)
    return f"{type(exc).__name__}: {exc}"
