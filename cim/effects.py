"""Effects as data: frozen records that describe work without doing it.

Pure code returns effects; an executor (``interpreters.runtime.executors``) runs them at the edge.
Equal effects compare equal, so tests assert on them directly:

>>> Log("info", "order placed", {"order": "o-1"}) == Log("info", "order placed", {"order": "o-1"})
True
"""

from __future__ import annotations

from typing import Any, Literal

from attrs import field, frozen
from pyrsistent import PMap, pmap

from cim._stream_id import StreamId

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
_LEVELS = frozenset(("debug", "info", "warning", "error", "critical"))


def _freeze(value: Any) -> Any:
    """Deep-freeze JSON-like data so effects stay hashable values."""
    if isinstance(value, dict | PMap):
        return pmap({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _check_level(_: object, __: object, value: object) -> None:
    if value not in _LEVELS:
        raise ValueError(f"log level must be one of {sorted(_LEVELS)}, got {value!r}")


@frozen
class Log:
    """Write a log record at ``level`` with structured ``fields``."""

    level: LogLevel = field(validator=_check_level)
    message: str
    fields: PMap[str, Any] = field(factory=pmap, converter=_freeze)


@frozen
class DatabaseWrite:
    """Set the read-model row ``key`` in ``collection`` to ``data`` (create or replace)."""

    collection: str
    key: str
    data: PMap[str, Any] = field(converter=_freeze)


@frozen
class DatabaseUpdate:
    """Merge ``changes`` into the existing row ``key`` of ``collection`` (create if absent)."""

    collection: str
    key: str
    changes: PMap[str, Any] = field(converter=_freeze)


@frozen
class DatabaseDelete:
    """Remove the row ``key`` from ``collection`` (no-op if absent)."""

    collection: str
    key: str


@frozen
class Publish:
    """Publish ``data`` on the NATS ``subject`` with ``headers``."""

    subject: str
    data: bytes
    headers: PMap[str, str] = field(factory=pmap, converter=_freeze)


@frozen
class EmitEvent:
    """Append ``payload`` (a registered event record) to ``stream``."""

    stream: StreamId
    payload: Any


Effect = Log | DatabaseWrite | DatabaseUpdate | DatabaseDelete | Publish | EmitEvent
DatabaseEffect = DatabaseWrite | DatabaseUpdate | DatabaseDelete

__all__ = (
    "DatabaseDelete",
    "DatabaseEffect",
    "DatabaseUpdate",
    "DatabaseWrite",
    "Effect",
    "EmitEvent",
    "Log",
    "LogLevel",
    "Publish",
)
