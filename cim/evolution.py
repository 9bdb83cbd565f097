"""Whether a new :class:`~cim.EventTypes` still reads what an old one wrote: schema evolution as data.

Two views, both pure:

* :func:`registry_changes` compares two registries without any event: types removed, versions
  lowered, old versions no longer upcast;
* :func:`stored_event_problems` judges one stored message (headers and body, as a store wrote
  it) under the new registry: it must decode, upcasting must be deterministic and leave its input
  alone, and reading must lose nothing: every stored field (after the registry's own upcasters)
  must be read into the new class and written back the same (a field dropped without an upcaster,
  a renamed field, a narrowed type all show here).

``laws.check_schema_evolution`` runs the second over generated events of every old type;
``cim check upcasting --types MODULE`` runs it over the events a JetStream store holds.

>>> from attrs import frozen
>>> @frozen
... class PlacedV1:
...     order_id: str
...     note: str
>>> @frozen
... class Placed:
...     order_id: str
>>> old = EventTypes().register(PlacedV1, name="Placed")
>>> new = EventTypes().register(Placed)
>>> headers = {"Cim-Event-Type": "Placed", "Cim-Schema-Version": "1"}
>>> body = b'{"payload": {"order_id": "o-1", "note": "gift"}}'
>>> [str(p) for p in stored_event_problems(JsonCodec(new), headers, body)]
["'Placed' v1: stored field note is not read by the new class (dropped without an upcaster)"]
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from attrs import frozen
from returns.result import Failure

from cim._codec import Header, JsonCodec
from cim._decode_errors import DecodeError
from cim._registry import EventType, EventTypes

# What a stored message needs besides type, version and body for the codec to decode it: the
# checks here are about payloads, so these stand in when a message (or a generated one) lacks them.
_STAND_INS = {
    Header.EVENT_ID.value: str(UUID(int=1)),
    Header.STREAM.value: "evolution.check",
    Header.VERSION.value: "1",
    Header.POSITION.value: "1",
    Header.RECORDED_AT.value: datetime(2000, 1, 1, tzinfo=UTC).isoformat(),
}


@frozen
class TypeRemoved:
    """The old registry knows ``event_type``; the new one does not, so its events cannot be read."""

    event_type: str

    def __str__(self) -> str:
        return f"{self.event_type!r} was removed: the new registry cannot read its events"


@frozen
class VersionLowered:
    """The new registry's version of ``event_type`` is older than the old one's."""

    event_type: str
    old: int
    new: int

    def __str__(self) -> str:
        return (
            f"{self.event_type!r} went from schema version {self.old} back to {self.new}: "
            f"events written at v{self.old} are newer than the new class"
        )


@frozen
class VersionsNoLongerReadable:
    """Old schema ``versions`` of ``event_type`` the old registry read (directly or by upcasting)
    and the new one cannot: their upcasters are gone."""

    event_type: str
    versions: tuple[int, ...]

    def __str__(self) -> str:
        listed = ", ".join(f"v{v}" for v in self.versions)
        return f"{self.event_type!r} {listed} can no longer be read: upcasters were removed"


@frozen
class Unreadable:
    """A stored ``event_type`` event at ``schema_version`` does not decode under the new registry."""

    event_type: str
    schema_version: int | None
    error: DecodeError

    def __str__(self) -> str:
        return f"{_which(self.event_type, self.schema_version)}: cannot be read: {self.error}"


@frozen
class FieldsDropped:
    """Stored ``fields`` (dotted paths) that the new class does not read: data lost on read.

    An upcaster that removes a field on purpose is how to say the loss is meant.
    """

    event_type: str
    schema_version: int
    fields: tuple[str, ...]

    def __str__(self) -> str:
        plural = "s" if len(self.fields) > 1 else ""
        verb = "are" if plural else "is"
        return (
            f"{_which(self.event_type, self.schema_version)}: stored field{plural} "
            f"{', '.join(self.fields)} {verb} not read by the new class (dropped without an upcaster)"
        )


@frozen
class ValueChanged:
    """The stored value at ``field`` reads back as a different value (a narrowed or changed type)."""

    event_type: str
    schema_version: int
    field: str
    stored: Any
    read: Any

    def __str__(self) -> str:
        return (
            f"{_which(self.event_type, self.schema_version)}: field {self.field} stored as "
            f"{self.stored!r} reads back as {self.read!r}"
        )


@frozen
class UpcastNotDeterministic:
    """Upcasting the same stored payload twice gave different results, or changed its input."""

    event_type: str
    schema_version: int
    detail: str

    def __str__(self) -> str:
        return (
            f"{_which(self.event_type, self.schema_version)}: upcasting is not deterministic: "
            f"{self.detail}"
        )


EvolutionProblem = (
    TypeRemoved
    | VersionLowered
    | VersionsNoLongerReadable
    | Unreadable
    | FieldsDropped
    | ValueChanged
    | UpcastNotDeterministic
)
"""One way a new registry fails to read what an old one wrote."""


def _which(event_type: str, schema_version: int | None) -> str:
    return f"{event_type!r} v{schema_version}" if schema_version is not None else repr(event_type)


def registry_changes(old: EventTypes, new: EventTypes) -> tuple[EvolutionProblem, ...]:
    """What *new* can no longer read of what *old* read, judged from the registrations alone.

    >>> from attrs import frozen
    >>> @frozen
    ... class Opened:
    ...     owner: str
    >>> registry_changes(EventTypes().register(Opened), EventTypes())
    (TypeRemoved(event_type='Opened'),)
    """
    problems: list[EvolutionProblem] = []
    for before in old:
        after = new.find(before.name)
        if after is None:
            problems.append(TypeRemoved(before.name))
            continue
        if after.version < before.version:
            problems.append(VersionLowered(before.name, before.version, after.version))
            continue
        lost = tuple(
            v
            for v in range(before.oldest_readable, before.version + 1)
            if v < after.oldest_readable
        )
        if lost:
            problems.append(VersionsNoLongerReadable(before.name, lost))
    return tuple(problems)


def stored_event_problems(
    codec: JsonCodec, headers: Mapping[str, str], body: bytes
) -> tuple[EvolutionProblem, ...]:
    """What goes wrong reading the stored message (*headers*, *body*) with *codec*'s registry.

    Empty when the message decodes, upcasting it twice gives the same payload without changing
    its input, and the decoded payload written back holds every stored field with its value.
    Headers other than the event type, schema version and metadata may be missing (stand-ins
    are used): the check is about payloads.
    """
    full = {**_STAND_INS, **headers}
    event_type = full.get(Header.EVENT_TYPE.value, "")
    version_text = full.get(Header.SCHEMA_VERSION.value, "")
    version = int(version_text) if version_text.isascii() and version_text.isdigit() else None
    decoded = codec.decode(full, body)
    if isinstance(decoded, Failure):
        error = decoded.failure()
        return (Unreadable(event_type, version, error),)
    entry = codec.types.by_name(event_type)
    assert version is not None  # it decoded, so the header is a valid version
    raw = orjson.loads(body)["payload"]
    first = _upcast(entry, version, raw)
    if first is None:  # pragma: no cover - decoding above ran the same upcasters
        return ()
    untouched = orjson.loads(body)["payload"]
    if raw != untouched:
        return (
            UpcastNotDeterministic(
                event_type, version, "an upcaster changed the stored payload it was given"
            ),
        )
    second = _upcast(entry, version, copy.deepcopy(untouched))
    if first != second:
        return (
            UpcastNotDeterministic(event_type, version, f"first gave {first!r}, then {second!r}"),
        )
    written = orjson.loads(
        orjson.dumps(codec.converter.unstructure(decoded.unwrap().payload, entry.cls))
    )
    dropped = tuple(path for path, _ in _lost(first, written, "") if _ is _MISSING)
    if dropped:
        return (FieldsDropped(event_type, version, dropped),)
    return tuple(
        ValueChanged(event_type, version, path, stored, read)
        for path, stored, read in _changed(first, written, "")
    )


_MISSING: Any = object()


def _upcast(entry: EventType, version: int, raw: dict[str, Any]) -> dict[str, Any] | None:
    for step in range(version, entry.version):
        try:
            raw = entry.upcasters[step](raw)
        except Exception:  # pragma: no cover - decoding reported it already
            return None
    return raw


def _lost(stored: Any, written: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Dotted paths of object keys in *stored* that *written* lacks."""
    if isinstance(stored, dict) and isinstance(written, dict):
        for key, value in stored.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in written:
                yield where, _MISSING
            else:
                yield from _lost(value, written[key], where)


def _changed(stored: Any, written: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    """Dotted paths where *written* holds a different value than *stored* (keys both have)."""
    if isinstance(stored, dict) and isinstance(written, dict):
        for key, value in stored.items():
            if key in written:
                yield from _changed(value, written[key], f"{path}.{key}" if path else str(key))
        return
    if isinstance(stored, list) and isinstance(written, list) and len(stored) == len(written):
        for i, (a, b) in enumerate(zip(stored, written, strict=True)):
            yield from _changed(a, b, f"{path}[{i}]")
        return
    if stored != written or type(stored) is bool is not type(written):
        yield path or "payload", stored, written
