"""The JetStream event store: one subject per stream, server-enforced concurrency, KV snapshots."""

from __future__ import annotations

from interpreters.stores.jetstream.evolution import (
    StoredEventProblem,
    UpcastingReport,
    check_stored_events,
)
from interpreters.stores.jetstream.foreign import ForeignMessage
from interpreters.stores.jetstream.regions import ReplicaBehind
from interpreters.stores.jetstream.settings import Storage, StoreOptions, StoreSettings
from interpreters.stores.jetstream.store import (
    IncompatibleStream,
    JetStreamEventStore,
    OverlappingSubjects,
    StoreAccessDenied,
)

__all__ = (
    "ForeignMessage",
    "IncompatibleStream",
    "JetStreamEventStore",
    "OverlappingSubjects",
    "ReplicaBehind",
    "Storage",
    "StoreAccessDenied",
    "StoreOptions",
    "StoreSettings",
    "StoredEventProblem",
    "UpcastingReport",
    "check_stored_events",
)
