"""An immutable registry of event payload classes, by name and schema version, with upcasters."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import attrs
from attrs import field, frozen
from pyrsistent import PMap, pmap

from cim._events import EventEnvelope, NewEvent
from cim._stream_id import StreamId

E = TypeVar("E")

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""Turns the JSON object of schema version ``n`` into the JSON object of version ``n + 1``."""


@frozen
class EventType:
    """One registered payload class: its ``name``, current schema ``version`` and upcasters.

    ``upcasters[n]`` turns a version-``n`` payload into version ``n + 1``; they always form an
    unbroken chain ending at ``version``.
    """

    cls: type[Any]
    name: str
    version: int
    upcasters: PMap[int, Upcaster] = field(factory=pmap)

    @property
    def oldest_readable(self) -> int:
        """The oldest schema version that can be upcast to the current one."""
        return min(self.upcasters, default=self.version)


@frozen
class EventTypes:
    """Registered payload classes. Every change returns a new registry.

    >>> from attrs import field, frozen
    >>> @frozen
    ... class Deposited:
    ...     amount: int
    >>> types = EventTypes().register(Deposited, version=2, upcasters={1: lambda d: {"amount": d["cents"]}})
    >>> types.by_name("Deposited").version
    2
    """

    _by_name: PMap[str, EventType] = field(factory=pmap)
    _by_class: PMap[type[Any], EventType] = field(factory=pmap)

    def register(
        self,
        cls: type[Any],
        *,
        name: str | None = None,
        version: int = 1,
        upcasters: Mapping[int, Upcaster] | None = None,
    ) -> EventTypes:
        """Return a registry that also knows *cls* (a frozen attrs class) as *name* at *version*.

        *upcasters* maps ``n`` to the function upgrading version ``n`` to ``n + 1``; the chain
        must be unbroken up to *version*, or ``ValueError`` names the missing step.
        """
        if not (isinstance(cls, type) and attrs.has(cls)):
            raise TypeError(f"event payloads must be attrs classes, got {cls!r}")
        name = cls.__name__ if name is None else name
        if not name or not name.isprintable() or name != name.strip():
            raise ValueError(
                f"event type name {name!r} must be printable with no surrounding space"
            )
        if not isinstance(version, int) or version < 1:
            raise ValueError(f"schema version of {name!r} must be an int >= 1, got {version!r}")
        if name in self._by_name:
            raise ValueError(f"event type name {name!r} is already registered")
        if cls in self._by_class:
            raise ValueError(
                f"{cls.__qualname__} is already registered as {self._by_class[cls].name!r}"
            )
        chain = dict(upcasters or {})
        _check_chain(name, version, chain)
        entry = EventType(cls, name, version, pmap(chain))
        return EventTypes(self._by_name.set(name, entry), self._by_class.set(cls, entry))

    def merge(self, other: EventTypes) -> EventTypes:
        """A registry knowing every type of this one and of *other* (also ``self | other``).

        A type registered in both the same way (class, name, version, upcasters) is kept once.
        One name for two classes, one class under two names, or one type at two versions or
        with different upcasters is a clash: ``ValueError`` names it, and nothing is merged.

        >>> from attrs import frozen
        >>> @frozen
        ... class Placed:
        ...     order_id: str
        >>> @frozen
        ... class Paid:
        ...     invoice_id: str
        >>> orders, billing = EventTypes().register(Placed), EventTypes().register(Paid)
        >>> [t.name for t in orders | billing]
        ['Paid', 'Placed']
        >>> @frozen
        ... class OtherPlaced:
        ...     order_id: str
        >>> orders | EventTypes().register(OtherPlaced, name="Placed")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ValueError: cannot merge event types: 'Placed' names ...Placed in one registry and ...
        """
        if not isinstance(other, EventTypes):
            raise TypeError(f"can only merge an EventTypes registry, got {type(other).__name__}")
        by_name, by_class = self._by_name, self._by_class
        for entry in other._by_name.values():
            mine = by_name.get(entry.name)
            if mine is None:
                mine = by_class.get(entry.cls)
            if mine is not None and mine != entry:
                raise ValueError(f"cannot merge event types: {_clash(mine, entry)}")
            by_name, by_class = by_name.set(entry.name, entry), by_class.set(entry.cls, entry)
        return EventTypes(by_name, by_class)

    def __or__(self, other: object) -> EventTypes:
        if not isinstance(other, EventTypes):
            return NotImplemented
        return self.merge(other)

    def upcaster(self, name: str, from_version: int, fn: Upcaster) -> EventTypes:
        """Return a registry with one more upcaster for *name*, from *from_version* to the next.

        Upcasters extend the chain downwards: the first one added must upgrade ``version - 1``,
        the next ``version - 2``, and so on, so the chain never has a gap.
        """
        entry = self.by_name(name)
        if from_version in entry.upcasters:
            raise ValueError(f"{name!r} already has an upcaster from version {from_version}")
        chain = {**entry.upcasters, from_version: fn}
        _check_chain(name, entry.version, chain)
        new = attrs.evolve(entry, upcasters=pmap(chain))
        return EventTypes(self._by_name.set(name, new), self._by_class.set(entry.cls, new))

    def by_name(self, name: str) -> EventType:
        """The registration for *name*; ``KeyError`` if it is unknown."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(
                f"unknown event type {name!r}; registered: {sorted(self._by_name)}"
            ) from None

    def by_class(self, cls: type[Any]) -> EventType:
        """The registration for payload class *cls*; ``KeyError`` if it is unknown."""
        try:
            return self._by_class[cls]
        except KeyError:
            raise KeyError(f"{cls.__qualname__} is not a registered event type") from None

    def find(self, name: str) -> EventType | None:
        """The registration for *name*, or ``None``."""
        return self._by_name.get(name)

    def __contains__(self, item: object) -> bool:
        return item in self._by_name or item in self._by_class

    def __iter__(self) -> Iterator[EventType]:
        return iter(sorted(self._by_name.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        return len(self._by_name)

    def envelope(
        self,
        event: NewEvent[E],
        *,
        stream: StreamId,
        version: int,
        position: int,
        event_id: UUID,
        recorded_at: datetime,
    ) -> EventEnvelope[E]:
        """Seal *event* into the envelope a store records (ids and time come from the caller).

        ``event.event_id`` wins over *event_id* when the event already carries one.
        """
        entry = self.by_class(type(event.payload))
        return EventEnvelope(
            event_id=event.event_id or event_id,
            stream=stream,
            version=version,
            position=position,
            event_type=entry.name,
            schema_version=entry.version,
            payload=event.payload,
            recorded_at=recorded_at,
            correlation_id=event.correlation_id,
            causation_id=event.causation_id,
            metadata=event.metadata,
        )


def _clash(mine: EventType, theirs: EventType) -> str:
    if mine.name != theirs.name:
        return (
            f"{mine.cls.__qualname__} is registered as {mine.name!r} in one registry "
            f"and as {theirs.name!r} in the other"
        )
    if mine.cls is not theirs.cls:
        return (
            f"{mine.name!r} names {mine.cls.__module__}.{mine.cls.__qualname__} in one registry "
            f"and {theirs.cls.__module__}.{theirs.cls.__qualname__} in the other"
        )
    if mine.version != theirs.version:
        return f"{mine.name!r} is at schema version {mine.version} in one registry and {theirs.version} in the other"
    return f"{mine.name!r} has different upcasters in the two registries"


def _check_chain(name: str, version: int, chain: Mapping[int, Upcaster]) -> None:
    for step, fn in chain.items():
        if not isinstance(step, int) or not 1 <= step < version:
            raise ValueError(
                f"upcaster for {name!r} from version {step!r} is out of range: "
                f"the current version is {version}, so upcasters go from 1..{version - 1}"
            )
        if not callable(fn):
            raise TypeError(f"upcaster for {name!r} from version {step} is not callable: {fn!r}")
    missing = [v for v in range(min(chain, default=version), version) if v not in chain]
    if missing:
        raise ValueError(
            f"upcast chain of {name!r} has a gap: no upcaster from version "
            f"{', '.join(map(str, missing))} (chain must run unbroken to version {version}; "
            "add upcasters from the newest version downwards)"
        )
