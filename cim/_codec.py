"""JSON encoding of envelopes for NATS: routing metadata in headers, payload in the body."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import cattrs
import orjson
from attrs import field, frozen
from pyrsistent import pmap
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
from cim._events import EventEnvelope, id_text
from cim._registry import EventType, EventTypes
from cim._stream_id import StreamId


class Header(StrEnum):
    """NATS headers the codec writes: a consumer can route on them without decoding the body."""

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


@frozen
class JsonCodec:
    """Encode envelopes as ``(headers, body)`` and decode them back, upcasting old versions.

    The body is ``{"payload": {...}, "metadata": {...}}`` as JSON. ``decode`` never raises:
    every way a message can be wrong is a :data:`~cim.DecodeError` value.
    """

    types: EventTypes
    converter: cattrs.Converter = field(factory=make_payload_converter, eq=False, repr=False)

    def encode(self, envelope: EventEnvelope[Any]) -> tuple[dict[str, str], bytes]:
        """The NATS headers and body for *envelope*; ``ValueError`` if its type is not registered."""
        entry = self.types.by_class(type(envelope.payload))
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
            "metadata": dict(envelope.metadata),
        }
        return {str(k): v for k, v in headers.items()}, orjson.dumps(body)

    def encode_payload(self, payload: Any) -> bytes:
        """Only the payload's JSON (for effects and replies that carry a record)."""
        return orjson.dumps(self.converter.unstructure(payload, type(payload)))

    def decode(
        self, headers: Mapping[str, str] | None, data: bytes
    ) -> Result[EventEnvelope[Any], DecodeError]:
        """The envelope in *headers* and *data*, or the precise reason it cannot be read."""
        try:
            return Success(self._decode(headers or {}, data))
        except _Invalid as invalid:
            return Failure(invalid.error)

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
                stream=_parse(headers, Header.STREAM, StreamId.parse),
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
