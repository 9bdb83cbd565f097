"""Messages on an event subject that are not events of the stream: foreign or forged.

NATS lets any client with publish rights on ``<prefix>.<category>.<entity_id>`` put a message
there, and the stream (deny delete, deny purge) keeps it for ever. The store therefore checks
every message of a stream on read instead of trusting it:

* a message without the envelope headers (``Cim-Event-Id``, ``Cim-Event-Type``,
  ``Cim-Schema-Version``, ``Cim-Stream``, ``Cim-Version``, ``Cim-Recorded-At``), whose
  ``Cim-Stream`` is not the stream of its subject, or whose ``Cim-Version`` is not a version,
  is **foreign**: not a cim event;
* a cim-looking message whose ``Cim-Version`` is not the stream's next version (the versions
  of a stream are 1, 2, 3, ... with no gap) is a **forged version**: not trusted.

Both are skipped (the aggregate's history is its genuine events), logged once at WARNING on the
``interpreters.stores.jetstream`` logger and listed by
:meth:`~interpreters.stores.jetstream.JetStreamEventStore.foreign_messages`. The next append on
the subject still works: it expects the subject's last sequence (the foreign message's) and
writes the last genuine version + 1. A message with the envelope headers at the right version
whose body or type cannot be decoded is a genuine event this code cannot read: a
:class:`~cim.CorruptEvent`, never skipped (see ``docs/event-store.md``). ``read_all`` and
``subscribe`` check nothing of this: a message they cannot decode is a ``CorruptEvent``.

>>> check_message({}, "order.o-1", 1, position=3)
ForeignMessage(position=3, kind='foreign', reason='not a cim event: no Cim-Event-Id header')
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Literal

from attrs import frozen

from cim import Header, shown

__all__ = ("ForeignMessage", "Reporter", "check_message")

_log = logging.getLogger("interpreters.stores.jetstream")

_ENVELOPE = tuple(
    header.value
    for header in (
        Header.EVENT_ID,
        Header.EVENT_TYPE,
        Header.SCHEMA_VERSION,
        Header.STREAM,
        Header.VERSION,
        Header.RECORDED_AT,
    )
)
_STREAM, _VERSION = Header.STREAM.value, Header.VERSION.value


@frozen
class ForeignMessage:
    """A message of a stream's subject that the store skipped, at stream sequence ``position``.

    ``kind`` is ``"foreign"`` (not a cim event) or ``"version"`` (a cim-looking message whose
    version is not the stream's next one); ``reason`` says what was wrong, in words.
    """

    position: int
    kind: Literal["foreign", "version"]
    reason: str

    def __str__(self) -> str:
        return f"message at position {self.position} skipped: {self.reason}"


def check_message(
    headers: Mapping[str, str], stream: str, version: int, *, position: int
) -> ForeignMessage | None:
    """Why the message with *headers* at *position* is not the event at *version* of *stream*
    (``"category.entity_id"``), or ``None`` when it is."""
    for name in _ENVELOPE:
        if name not in headers:
            return ForeignMessage(position, "foreign", f"not a cim event: no {name} header")
    claimed_stream = headers[_STREAM]
    if claimed_stream != stream:
        return ForeignMessage(
            position,
            "foreign",
            f"its {_STREAM} header {shown(claimed_stream)} is not the stream of its subject "
            f"({stream})",
        )
    text = headers[_VERSION]
    if text != str(version):
        if not (text.isascii() and text.isdigit()) or text.startswith("0"):
            return ForeignMessage(
                position, "foreign", f"its {_VERSION} header {shown(text)} is no version"
            )
        return ForeignMessage(
            position,
            "version",
            f"it claims {_VERSION} {text} where the stream's next version is {version} "
            "(a forged or misplaced version: not trusted)",
        )
    return None


class Reporter:
    """Logs each skipped message once (per store) at WARNING."""

    def __init__(self, limit: int = 10_000) -> None:
        self._seen: set[tuple[str, int]] = set()
        self._limit = limit

    def report(self, subject: str, message: ForeignMessage) -> None:
        """Log *message* of *subject* unless it was logged before."""
        key = (subject, message.position)
        if key in self._seen:
            return
        if len(self._seen) >= self._limit:
            self._seen.clear()
        self._seen.add(key)
        _log.warning("%s: %s", subject, message)
