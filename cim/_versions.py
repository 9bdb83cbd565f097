"""Optimistic concurrency: what a writer expects of a stream, and what an append returns."""

from __future__ import annotations

from attrs import field, frozen
from attrs.validators import ge, instance_of

from cim._stream_id import StreamId


@frozen
class AnyVersion:
    """Append whatever the stream's current version is (no concurrency check)."""

    def accepts(self, current: int) -> bool:
        """Whether a stream at version *current* satisfies this expectation."""
        return True


@frozen
class NoStream:
    """Append only if the stream has no events yet."""

    def accepts(self, current: int) -> bool:
        """Whether a stream at version *current* satisfies this expectation."""
        return current == 0


@frozen
class StreamExists:
    """Append only if the stream already has at least one event."""

    def accepts(self, current: int) -> bool:
        """Whether a stream at version *current* satisfies this expectation."""
        return current > 0


@frozen
class Exactly:
    """Append only if the stream's current version is exactly ``version`` (0 = empty)."""

    version: int = field(validator=[instance_of(int), ge(0)])

    def accepts(self, current: int) -> bool:
        """Whether a stream at version *current* satisfies this expectation."""
        return current == self.version


ExpectedVersion = AnyVersion | NoStream | StreamExists | Exactly


@frozen
class WrongExpectedVersion:
    """The stream was not at the version the writer expected: nothing was appended."""

    stream: StreamId
    expected: ExpectedVersion
    actual: int

    def __str__(self) -> str:
        return f"wrong expected version for {self.stream}: expected {self.expected}, actual {self.actual}"


@frozen
class AppendResult:
    """A successful append: the stream's new ``version`` and the global ``position`` of its last event."""

    version: int
    position: int
