"""Event stores: the ``EventStore`` protocol, the in-memory store and the JetStream store.

The protocol and :class:`InMemoryEventStore` load eagerly (no NATS); the JetStream names load on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from interpreters._lazy import lazy_exports
from interpreters.stores.memory import (
    InMemoryEventStore,
)
from interpreters.stores.protocol import (
    ChainedAppends,
    EventStore,
    LastPosition,
    Loaded,
    ReusedEventIds,
    Snapshot,
    SnapshotStore,
    check_append,
    check_categories,
    check_chain,
    check_from,
    encoded_size,
    snapshot_size,
    utc_now,
)

if TYPE_CHECKING:
    from interpreters.stores.jetstream.foreign import ForeignMessage
    from interpreters.stores.jetstream.settings import StoreSettings
    from interpreters.stores.jetstream.store import (
        IncompatibleStream,
        JetStreamEventStore,
        OverlappingSubjects,
        StoreAccessDenied,
    )

__all__ = (
    "ChainedAppends",
    "EventStore",
    "LastPosition",
    "ForeignMessage",
    "InMemoryEventStore",
    "IncompatibleStream",
    "JetStreamEventStore",
    "Loaded",
    "OverlappingSubjects",
    "ReusedEventIds",
    "Snapshot",
    "SnapshotStore",
    "StoreAccessDenied",
    "StoreSettings",
    "check_append",
    "check_categories",
    "check_chain",
    "check_from",
    "encoded_size",
    "snapshot_size",
    "utc_now",
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "IncompatibleStream": "interpreters.stores.jetstream.store",
        "JetStreamEventStore": "interpreters.stores.jetstream.store",
        "OverlappingSubjects": "interpreters.stores.jetstream.store",
        "StoreAccessDenied": "interpreters.stores.jetstream.store",
        "StoreSettings": "interpreters.stores.jetstream.settings",
        "ForeignMessage": "interpreters.stores.jetstream.foreign",
    },
)
