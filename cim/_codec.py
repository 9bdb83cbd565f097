"""JSON encoding of envelopes for NATS: routing metadata in headers, payload in the body."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple
from uuid import UUID, SafeUUID

import attrs
import cattrs
import orjson
from attrs import field, frozen
from pyrsistent import PMap, pmap
from returns.primitives.container import BaseContainer
from returns.result import Failure, Result, Success

from cim._converter import make_payload_converter
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
from cim._events import EventEnvelope, NewEvent, id_text
from cim._registry import EventType, EventTypes
from cim._stream_id import StreamId


class _FastPath(NamedTuple):
    entry: EventType
    version: str
    structure: Callable[[Any, Any], Any]


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
    ``converter`` fully before building the codec: the codec prepares its hooks once.
    """

    types: EventTypes = field(converter=_registry)
    converter: cattrs.Converter = field(factory=make_payload_converter, eq=False, repr=False)
    _fast: Mapping[str, _FastPath] = field(init=False, eq=False, repr=False)
    _encodings: Mapping[type[Any], _Encoding] = field(init=False, eq=False, repr=False)

    @_fast.default
    def _prepare_fast_paths(self) -> Mapping[str, _FastPath]:
        """For each registered type: what decoding its current version needs, prepared once.

        Payloads are structured without cattrs' detailed validation (a failure retries on the
        exact path, which reports it in detail).
        """
        quick = self.converter.copy(detailed_validation=False)
        paths = {}
        for entry in self.types:
            try:
                structure = quick.get_structure_hook(entry.cls)
            except Exception:  # cattrs cannot build it: decoding reports why, on the exact path
                continue
            paths[entry.name] = _FastPath(entry, str(entry.version), structure)
        return MappingProxyType(paths)

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
                return _succeed(self._decode_current(headers, data))
            except Exception:  # any doubt: the exact path below decides and names the error
                pass
        try:
            return Success(self._decode(headers or {}, data))
        except _Invalid as invalid:
            return Failure(invalid.error)

    def _decode_current(self, headers: Mapping[str, str], data: bytes) -> EventEnvelope[Any]:
        """The fast path for the common case: a well-formed message at the current schema version.

        It accepts only what :meth:`_decode` accepts and builds the same envelope; on anything
        unusual (an upcast to do, any bad value) it raises, and :meth:`_decode` finds the precise
        error. The checks of ``EventEnvelope``'s validators are all made here, so the envelope is
        built without running them again. (A header value that is not text makes its parser
        raise, so it too takes the exact path.)
        """
        entry, version, structure = self._fast[headers[_EVENT_TYPE]]
        if headers[_SCHEMA_VERSION] != version:
            raise _NotCurrent
        body = orjson.loads(data)
        raw, metadata = body["payload"], body.get("metadata", _EMPTY)
        if type(body) is not dict or type(raw) is not dict or type(metadata) is not dict:
            raise _NotCurrent
        for key, value in metadata.items():
            if type(key) is not str or type(value) is not str:
                raise _NotCurrent
        correlation_id = headers.get(_CORRELATION_ID)
        causation_id = headers.get(_CAUSATION_ID)
        envelope: EventEnvelope[Any] = _new(EventEnvelope)
        _set_event_id(envelope, _uuid(headers[_EVENT_ID]))
        _set_stream(envelope, _stream(headers[_STREAM]))
        version_text, position_text = headers[_VERSION], headers[_POSITION]
        if not (version_text.isdigit() and position_text.isdigit()):
            raise _NotCurrent
        if not (version_text.isascii() and position_text.isascii()) or version_text[0] == "0":
            raise _NotCurrent
        if len(version_text) > 20 or len(position_text) > 20:
            raise _NotCurrent
        _set_version(envelope, int(version_text))
        _set_position(envelope, int(position_text))
        _set_event_type(envelope, entry.name)
        _set_schema_version(envelope, entry.version)
        _set_payload(envelope, structure(raw, entry.cls))
        recorded_at = datetime.fromisoformat(headers[_RECORDED_AT])
        if recorded_at.tzinfo is None:  # fromisoformat gives a fixed offset or no tzinfo
            raise _NotCurrent
        _set_recorded_at(envelope, recorded_at)
        if correlation_id is not None or _CORRELATION_ID in headers:
            correlation_id = id_text(_CORRELATION_ID, correlation_id)
        _set_correlation_id(envelope, correlation_id)
        if causation_id is not None or _CAUSATION_ID in headers:
            causation_id = id_text(_CAUSATION_ID, causation_id)
        _set_causation_id(envelope, causation_id)
        _set_metadata(envelope, pmap(metadata) if metadata else _NO_METADATA)
        return envelope

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

# The fast path fills a new envelope's slots directly (a frozen class refuses setattr).
_new = object.__new__
(
    _set_event_id,
    _set_stream,
    _set_version,
    _set_position,
    _set_event_type,
    _set_schema_version,
    _set_payload,
    _set_recorded_at,
    _set_correlation_id,
    _set_causation_id,
    _set_metadata,
) = (EventEnvelope.__dict__[name].__set__ for name in _ENVELOPE_FIELDS)
_set_uuid_int, _set_uuid_safety = (UUID.__dict__[name].__set__ for name in ("int", "is_safe"))
_EVENT_TYPE, _SCHEMA_VERSION = Header.EVENT_TYPE.value, Header.SCHEMA_VERSION.value
_EVENT_ID, _STREAM, _VERSION = Header.EVENT_ID.value, Header.STREAM.value, Header.VERSION.value
_POSITION, _RECORDED_AT = Header.POSITION.value, Header.RECORDED_AT.value
_CORRELATION_ID, _CAUSATION_ID = Header.CORRELATION_ID.value, Header.CAUSATION_ID.value
_UNKNOWN_SAFETY = SafeUUID.unknown


def _success_factory() -> Callable[[EventEnvelope[Any]], Success[EventEnvelope[Any]]]:
    """``Success``, or a quicker maker of the same value: decoding makes one per event.

    ``Success(value)`` runs two Python ``__init__``s to fill one slot; filling the slot directly
    costs half. Any other layout of ``returns`` gets plain ``Success``.
    """
    slot = vars(BaseContainer).get("_inner_value")
    if slot is None or not hasattr(slot, "__set__"):  # pragma: no cover - another returns
        return Success
    fill = slot.__set__

    def succeed(value: EventEnvelope[Any]) -> Success[EventEnvelope[Any]]:
        success: Success[EventEnvelope[Any]] = _new(Success)
        fill(success, value)
        return success

    probe: Any = object()
    made = succeed(probe)
    same = made == Success(probe) and made.unwrap() is probe
    return succeed if same else Success  # pragma: no branch


_succeed = _success_factory()


class _NotCurrent(Exception):
    """The message is not a well-formed one at its type's current version: take the exact path."""


def _unregistered(payload: object) -> TypeError:
    name = type(payload).__qualname__
    return TypeError(
        f"{name} is not a registered event type: register its class, "
        f"e.g. EventTypes().register({name}), and pass that registry as types="
    )


def _uuid(text: str) -> UUID:
    """``UUID(text)`` for text without braces or a ``urn:uuid:`` prefix (those raise here).

    Parses exactly as ``UUID`` does (hyphens dropped, 32 hex digits) without its general checks.
    """
    digits = text.replace("-", "")
    if len(digits) != 32 or not (digits.isascii() and digits.isalnum()):
        raise ValueError("badly formed hexadecimal UUID string")
    uuid = _new(UUID)
    _set_uuid_int(uuid, int(digits, 16))
    _set_uuid_safety(uuid, _UNKNOWN_SAFETY)
    return uuid


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
