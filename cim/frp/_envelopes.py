"""Bridges from stored events to signals: an envelope becomes an occurrence ``(time, value)``.

The caller picks the time: ``"position"`` (the store's global position: a total order with no
ties, the right choice for replay) or ``"recorded_at"`` (the store's clock: meaningful to people,
but it may tie or, across a leader change, step back; :meth:`DiscreteEvent.from_pairs` sorts it
and :meth:`Accumulator.push` reports it as ``OutOfOrder``). The value defaults to the payload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar, overload

from cim._events import EventEnvelope
from cim.frp._discrete_event import DiscreteEvent, Occurrence

E = TypeVar("E")
V = TypeVar("V")

TimeSource = Literal["position", "recorded_at"]
"""Which envelope field is an occurrence's time."""


@overload
def occurrence_from_envelope(
    envelope: EventEnvelope[E], *, time: TimeSource = "position"
) -> Occurrence[E]: ...


@overload
def occurrence_from_envelope(
    envelope: EventEnvelope[E],
    *,
    time: TimeSource = "position",
    value: Callable[[EventEnvelope[E]], V],
) -> Occurrence[V]: ...


def occurrence_from_envelope(
    envelope: EventEnvelope[Any],
    *,
    time: TimeSource = "position",
    value: Callable[[EventEnvelope[Any]], Any] | None = None,
) -> Occurrence[Any]:
    """The occurrence ``(time, value)`` for one stored event (e.g. to push into an Accumulator)."""
    return _occurrence(envelope, time, value)


def _occurrence(
    envelope: EventEnvelope[Any],
    time: TimeSource,
    value: Callable[[EventEnvelope[Any]], Any] | None,
) -> Occurrence[Any]:
    if time == "position":
        t: Any = envelope.position
    elif time == "recorded_at":
        t = envelope.recorded_at
    else:
        raise ValueError(f"time must be 'position' or 'recorded_at', got {time!r}")
    return t, envelope.payload if value is None else value(envelope)


@overload
def events_from_envelopes(
    envelopes: Iterable[EventEnvelope[E]], *, time: TimeSource = "position"
) -> DiscreteEvent[E]: ...


@overload
def events_from_envelopes(
    envelopes: Iterable[EventEnvelope[E]],
    *,
    time: TimeSource = "position",
    value: Callable[[EventEnvelope[E]], V],
) -> DiscreteEvent[V]: ...


def events_from_envelopes(
    envelopes: Iterable[EventEnvelope[Any]],
    *,
    time: TimeSource = "position",
    value: Callable[[EventEnvelope[Any]], Any] | None = None,
) -> DiscreteEvent[Any]:
    """The discrete event of stored events: one occurrence per envelope, sorted by *time*.

    Envelopes with equal times keep their input order (store order, when read from the store).
    """
    return DiscreteEvent.from_pairs(_occurrence(envelope, time, value) for envelope in envelopes)
