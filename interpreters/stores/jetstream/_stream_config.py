"""The JetStream stream an event store needs, and why an existing stream cannot serve as one."""

from __future__ import annotations

from typing import Any

from attrs import frozen
from nats.js import api

from interpreters.natsio.subjects import EVENT_STORE_DESCRIPTION

__all__ = ("IncompatibleStream", "StreamSettings", "desired_config", "problems", "needs_update")


class OverlappingSubjects(Exception):
    """The store's stream cannot be created: another stream already captures its subjects.

    Raised by ``JetStreamEventStore.connect`` (a deployment mistake): choose another
    ``subject_prefix``, or the ``stream`` name of the stream that has them.
    """

    def __init__(self, stream: str, subjects: str, other: str | None) -> None:
        self.stream, self.subjects, self.other = stream, subjects, other
        owner = f"stream {other!r}" if other else "another stream"
        super().__init__(
            f"cannot create stream {stream!r}: its subjects {subjects!r} overlap those of "
            f"{owner} (choose another subject_prefix, or connect to that stream by its name)"
        )


class IncompatibleStream(Exception):
    """A stream with the store's name exists with settings the store cannot use.

    Raised by ``JetStreamEventStore.connect``: it is a deployment mistake, not a runtime outcome.
    ``problems`` lists each incompatible setting.
    """

    def __init__(self, stream: str, problems: list[str]) -> None:
        self.stream = stream
        self.problems = problems
        super().__init__(
            f"JetStream stream {stream!r} exists with settings an event store cannot use: "
            + "; ".join(problems)
            + " (use another stream name, or migrate the stream)"
        )


@frozen
class StreamSettings:
    """What the store asks of its stream."""

    name: str
    subjects: tuple[str, ...]
    replicas: int
    storage: api.StorageType
    duplicate_window: float
    home_region: str | None = None
    placement_tags: tuple[str, ...] = ()

    @property
    def placement(self) -> api.Placement | None:
        """Where the stream is placed: its home region's cluster and tags (``None``: where the
        server that creates it is)."""
        if self.home_region is None and not self.placement_tags:
            return None
        return api.Placement(cluster=self.home_region, tags=list(self.placement_tags) or None)


def desired_config(settings: StreamSettings) -> api.StreamConfig:
    """Full history (limits retention, no age/count/size limit), no deletes or purges, direct
    gets and atomic batches allowed; placed in the home region if one is given."""
    return api.StreamConfig(
        placement=settings.placement,
        name=settings.name,
        description=EVENT_STORE_DESCRIPTION,
        subjects=list(settings.subjects),
        retention=api.RetentionPolicy.LIMITS,
        max_age=0,
        max_msgs=-1,
        max_bytes=-1,
        max_msgs_per_subject=-1,
        storage=settings.storage,
        num_replicas=settings.replicas,
        duplicate_window=settings.duplicate_window,
        deny_delete=True,
        deny_purge=True,
        allow_direct=True,
        allow_atomic=True,
        discard=api.DiscardPolicy.OLD,
    )


def _value(x: Any) -> Any:
    return getattr(x, "value", x)


def problems(settings: StreamSettings, existing: api.StreamConfig) -> list[str]:
    """Settings of *existing* that lose or misplace events (cannot be fixed by an update)."""
    found = []
    if sorted(existing.subjects or []) != sorted(settings.subjects):
        found.append(f"subjects are {existing.subjects}, expected {list(settings.subjects)}")
    if _value(existing.retention) not in (None, _value(api.RetentionPolicy.LIMITS)):
        found.append(f"retention is {_value(existing.retention)!r}, expected 'limits'")
    if existing.max_age:
        found.append(f"max_age is {existing.max_age}s, expected none (history is kept)")
    for name in ("max_msgs", "max_bytes", "max_msgs_per_subject"):
        value = getattr(existing, name)
        if value not in (None, -1, 0):
            found.append(f"{name} is {value}, expected unlimited (history is kept)")
    if _value(existing.storage) not in (None, _value(settings.storage)):
        found.append(
            f"storage is {_value(existing.storage)!r}, expected {_value(settings.storage)!r}"
        )
    if existing.mirror is not None or existing.sources:
        found.append("it mirrors or sources other streams")
    if existing.sealed:
        found.append("it is sealed")
    return found


def needs_update(settings: StreamSettings, existing: api.StreamConfig) -> bool:
    """Whether *existing* lacks a setting the store can switch on by updating it."""
    return (
        not existing.deny_delete
        or not existing.deny_purge
        or not existing.allow_direct
        or not existing.allow_atomic
        or (existing.num_replicas or 1) != settings.replicas
        or abs((existing.duplicate_window or 0) - settings.duplicate_window) > 1e-6
    )
