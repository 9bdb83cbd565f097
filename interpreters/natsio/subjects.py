"""Where cim's events live on NATS: the subject layout, the default names, the headers NATS reads.

One subject per event stream, ``<prefix>.<category>.<entity_id>``, all of them captured by one
JetStream stream (``CIM_EVENTS`` and ``events`` unless configured). The store writes there and
the inspection tools (``cim streams``, ``cim read``, ``cim tail``) read there, both through the
functions below.

>>> stream_subject("events", StreamId("order", "o-1"))
'events.order.o-1'
>>> category_subjects("events", "order"), all_subjects("events")
('events.order.*', 'events.>')
"""

from __future__ import annotations

from typing import Final

from cim import StreamId

__all__ = (
    "DEFAULT_STREAM",
    "DEFAULT_SUBJECT_PREFIX",
    "EVENT_STORE_DESCRIPTION",
    "EXPECTED_LAST_SUBJECT_SEQUENCE",
    "MSG_ID",
    "all_subjects",
    "category_subjects",
    "stream_subject",
)

DEFAULT_STREAM: Final = "CIM_EVENTS"
"""The JetStream stream that holds the events unless configured otherwise."""

DEFAULT_SUBJECT_PREFIX: Final = "events"
"""The first token of every event subject unless configured otherwise."""

EVENT_STORE_DESCRIPTION: Final = "cim event store"
"""The description a cim store gives its JetStream stream (how ``cim status`` finds the stores
on a server)."""

MSG_ID: Final = "Nats-Msg-Id"
"""JetStream's de-duplication header: a message with an id stored within the stream's
duplicate window is acknowledged again and not stored twice (cim writes the event id here)."""

EXPECTED_LAST_SUBJECT_SEQUENCE: Final = "Nats-Expected-Last-Subject-Sequence"
"""JetStream stores a message carrying this header only if the last message on its subject has
that stream sequence (``0``: the subject has none): optimistic concurrency, checked by the server."""


def stream_subject(prefix: str, stream: StreamId) -> str:
    """The subject of *stream*'s events: ``<prefix>.<category>.<entity_id>``."""
    return f"{prefix}.{stream.category}.{stream.entity_id}"


def category_subjects(prefix: str, category: str) -> str:
    """The subjects of every stream of *category* (a filter): ``<prefix>.<category>.*``."""
    return f"{prefix}.{category}.*"


def all_subjects(prefix: str) -> str:
    """The subjects of every event stream under *prefix* (a filter): ``<prefix>.>``."""
    return f"{prefix}.>"
