"""Why a stored message could not be decoded into an envelope: each reason is its own value."""

from __future__ import annotations

from attrs import field, frozen


def _name(header: str) -> str:
    """The header's name as plain text (``Header.EVENT_TYPE`` becomes ``'Cim-Event-Type'``)."""
    return str(header)


@frozen
class MissingHeader:
    """A header the envelope needs is absent (``header``: its name, plain text).

    >>> from cim import Header
    >>> str(MissingHeader(Header.EVENT_TYPE))
    'missing header Cim-Event-Type'
    """

    header: str = field(converter=_name)

    def __str__(self) -> str:
        return f"missing header {self.header}"


@frozen
class InvalidHeader:
    """A header is present but its value is not valid (``header``: its name, plain text)."""

    header: str = field(converter=_name)
    value: str
    reason: str

    def __str__(self) -> str:
        return f"invalid header {self.header}={self.value!r}: {self.reason}"


@frozen
class UnknownEventType:
    """The event type is not registered in the codec's ``EventTypes``."""

    event_type: str

    def __str__(self) -> str:
        return f"unknown event type {self.event_type!r}"


@frozen
class MalformedJson:
    """The body is not the JSON object the codec writes."""

    reason: str

    def __str__(self) -> str:
        return f"malformed JSON body: {self.reason}"


@frozen
class MalformedPayload:
    """The payload JSON does not fit the registered class (missing field, wrong type, ...)."""

    event_type: str
    reason: str

    def __str__(self) -> str:
        return f"payload of {self.event_type!r} does not fit its class: {self.reason}"


@frozen
class MissingUpcaster:
    """The stored schema version is older than any upcaster can lift to the current one."""

    event_type: str
    from_version: int
    to_version: int

    def __str__(self) -> str:
        return (
            f"no upcaster for {self.event_type!r} from schema version {self.from_version} "
            f"to {self.to_version}"
        )


@frozen
class UnsupportedSchemaVersion:
    """The stored schema version is newer than the registered class (written by newer code)."""

    event_type: str
    version: int
    latest: int

    def __str__(self) -> str:
        return (
            f"{self.event_type!r} has schema version {self.version}, newer than the registered "
            f"version {self.latest}"
        )


@frozen
class UpcastFailed:
    """An upcaster raised or returned something other than a JSON object."""

    event_type: str
    from_version: int
    reason: str

    def __str__(self) -> str:
        return (
            f"upcasting {self.event_type!r} from version {self.from_version} failed: {self.reason}"
        )


@frozen
class PayloadMissing:
    """The event's payload is stored by reference (``reference``: ``bucket/object``) and the
    object cannot be found."""

    reference: str
    detail: str

    def __str__(self) -> str:
        return f"payload object {self.reference} is missing: {self.detail}"


@frozen
class PayloadDigestMismatch:
    """The payload object ``reference`` does not hold what the event's digest says (corrupted
    or replaced): ``expected`` and ``actual`` are SHA-256 hex digests."""

    reference: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return (
            f"payload object {self.reference} does not match the event's digest: "
            f"expected sha256 {self.expected}, found {self.actual}"
        )


DecodeError = (
    MissingHeader
    | InvalidHeader
    | UnknownEventType
    | MalformedJson
    | MalformedPayload
    | MissingUpcaster
    | UnsupportedSchemaVersion
    | UpcastFailed
    | PayloadMissing
    | PayloadDigestMismatch
)
