"""cim: event sourcing on NATS JetStream with a pure functional core.

This package is the pure core: values and pure functions only. It never does I/O, never reads a
clock and never makes up ids; those enter as arguments. Interpreters (``interpreters``) run the
effects it describes; laws (``laws``) prove it right.
"""

from cim._codec import Header, JsonCodec
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
from cim._registry import EventType, EventTypes, Upcaster
from cim._shown import shown
from cim._store_errors import (
    AppendError,
    AppendTooLarge,
    CorruptEvent,
    EmptyAppend,
    EventTooLarge,
    PermissionDenied,
    SnapshotTooLarge,
    StoreError,
    StoreUnavailable,
)
from cim._stream_id import MAX_TOKEN_BYTES, StreamId, validate_token
from cim._versions import (
    AnyVersion,
    AppendResult,
    Exactly,
    ExpectedVersion,
    NoStream,
    StreamExists,
    WrongExpectedVersion,
)

__all__ = (
    "MAX_TOKEN_BYTES",
    "AnyVersion",
    "AppendError",
    "AppendResult",
    "AppendTooLarge",
    "CorruptEvent",
    "DecodeError",
    "EmptyAppend",
    "EventEnvelope",
    "EventTooLarge",
    "EventType",
    "EventTypes",
    "Exactly",
    "ExpectedVersion",
    "Header",
    "InvalidHeader",
    "JsonCodec",
    "MalformedJson",
    "MalformedPayload",
    "MissingHeader",
    "MissingUpcaster",
    "NewEvent",
    "NoStream",
    "PermissionDenied",
    "SnapshotTooLarge",
    "StoreError",
    "StoreUnavailable",
    "StreamExists",
    "StreamId",
    "UnknownEventType",
    "UnsupportedSchemaVersion",
    "UpcastFailed",
    "Upcaster",
    "WrongExpectedVersion",
    "id_text",
    "make_payload_converter",
    "shown",
    "validate_token",
)
