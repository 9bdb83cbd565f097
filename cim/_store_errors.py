"""Why a store operation failed, as values (``WrongExpectedVersion`` lives with the versions)."""

from __future__ import annotations

from uuid import UUID

from attrs import frozen

from cim._decode_errors import DecodeError
from cim._stream_id import StreamId
from cim._versions import WrongExpectedVersion


@frozen
class EventTooLarge:
    """One encoded event is larger than the store accepts; nothing was appended."""

    event_id: UUID
    size: int
    limit: int

    def __str__(self) -> str:
        return f"event {self.event_id} is {self.size} bytes encoded; the limit is {self.limit}"


@frozen
class SnapshotTooLarge:
    """A snapshot's state is larger than the store accepts; the older snapshot (if any) stays."""

    stream: StreamId
    size: int
    limit: int

    def __str__(self) -> str:
        return f"snapshot of {self.stream} is {self.size} bytes; the limit is {self.limit}"


@frozen
class AppendTooLarge:
    """More events in one atomic append than the store can commit at once; nothing was appended."""

    count: int
    limit: int

    def __str__(self) -> str:
        return f"an append of {self.count} events exceeds the atomic limit of {self.limit}"


@frozen
class EmptyAppend:
    """An append with no events: refused so that expectations are never checked for nothing."""

    stream: StreamId

    def __str__(self) -> str:
        return f"append to {self.stream} has no events"


@frozen
class PermissionDenied:
    """The connection is not allowed to perform ``operation`` on ``subject``."""

    operation: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"permission denied: {self.operation} on {self.subject!r} ({self.detail})"


@frozen
class StoreUnavailable:
    """The store could not be reached or did not answer in time; the outcome may be unknown."""

    detail: str

    def __str__(self) -> str:
        return f"store unavailable: {self.detail}"


@frozen
class CorruptEvent:
    """A stored message at ``position`` could not be decoded."""

    position: int
    error: DecodeError

    def __str__(self) -> str:
        return f"event at position {self.position} cannot be decoded: {self.error}"


AppendError = (
    WrongExpectedVersion
    | EventTooLarge
    | AppendTooLarge
    | EmptyAppend
    | PermissionDenied
    | StoreUnavailable
    | CorruptEvent
)
"""Why an append stored nothing (``CorruptEvent``: the stream's last message cannot be read)."""
StoreError = AppendError | SnapshotTooLarge
"""Why a store operation failed."""
