"""Events: the ones a decision wants appended, and the ones a store has recorded."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from attrs import field, frozen
from attrs.validators import ge, instance_of, optional
from pyrsistent import PMap, pmap

from cim._shown import shown
from cim._stream_id import StreamId

E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)

_MAX_ID_LENGTH = 512


def id_text(name: str, value: object) -> str:
    """Return *value* if it can be an id of text: a correlation, causation or command id (it
    travels in a NATS header or event metadata); else raise ``TypeError``/``ValueError``
    naming *name*.

    >>> id_text("command_id", "cart-7")
    'cart-7'
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, got {type(value).__name__}")
    if (
        not value
        or len(value) > _MAX_ID_LENGTH
        or not value.isprintable()
        or value != value.strip()
    ):
        raise ValueError(
            f"{name} {shown(value)} must be 1..{_MAX_ID_LENGTH} printable characters "
            "without leading or trailing whitespace"
        )
    return value


def _check_id_text(_: object, attribute: Any, value: object) -> None:
    if value is not None:
        id_text(attribute.name, value)


def _check_metadata(_: object, attribute: Any, value: object) -> None:
    if not isinstance(value, PMap):
        raise TypeError(
            f"{attribute.name} must be a pyrsistent PMap[str, str], got {type(value).__name__}"
        )
    if not value:
        return
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"{attribute.name} must map str to str, got {k!r}: {v!r}")


def _check_utc(_: object, attribute: Any, value: datetime) -> None:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{attribute.name} must be a timezone-aware datetime, got {value!r}")


def _to_pmap(value: Any) -> Any:
    return pmap(value) if isinstance(value, dict) else value


@frozen
class NewEvent(Generic[E_co]):
    """An event a decision wants appended.

    ``payload`` is a frozen attrs record registered in an :class:`~cim.EventTypes`.
    Ids left out are assigned at the edge (by the store), never inside the pure core.
    """

    payload: E_co
    event_id: UUID | None = field(default=None, validator=optional(instance_of(UUID)))
    correlation_id: str | None = field(default=None, validator=_check_id_text)
    causation_id: str | None = field(default=None, validator=_check_id_text)
    metadata: PMap[str, str] = field(factory=pmap, converter=_to_pmap, validator=_check_metadata)


@frozen(weakref_slot=False)
class EventEnvelope(Generic[E_co]):
    """A stored event: the payload plus everything the store knows about it.

    ``version`` is the 1-based position in its stream, ``position`` the global position in the
    store, ``recorded_at`` the (UTC) time the store recorded it.
    """

    # No __weakref__ slot: then its slots are exactly its fields, and the codec can build an
    # envelope as a plain record of the same layout whose class it then sets (cim._codec).

    event_id: UUID = field(validator=instance_of(UUID))
    stream: StreamId = field(validator=instance_of(StreamId))
    version: int = field(validator=[instance_of(int), ge(1)])
    position: int = field(validator=[instance_of(int), ge(0)])
    event_type: str = field(validator=instance_of(str))
    schema_version: int = field(validator=[instance_of(int), ge(1)])
    payload: E_co
    recorded_at: datetime = field(validator=_check_utc)
    correlation_id: str | None = field(default=None, validator=_check_id_text)
    causation_id: str | None = field(default=None, validator=_check_id_text)
    metadata: PMap[str, str] = field(factory=pmap, converter=_to_pmap, validator=_check_metadata)
