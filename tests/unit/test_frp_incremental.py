"""The push evaluator and the envelope bridge agree with the pure (pull) semantics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from attrs import frozen
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from cim import EventEnvelope, StreamId
from cim.frp import (
    Accumulator,
    DiscreteEvent,
    OutOfOrder,
    events_from_envelopes,
    occurrence_from_envelope,
)
from laws.strategies import discrete_events, signal_times

STEPS: tuple[Callable[[int, int], int], ...] = (
    lambda a, b: a - b,
    lambda a, b: 10 * a + b,
    max,
)


def push_all(acc: Accumulator[int, int], event: DiscreteEvent[int]) -> list[Accumulator[int, int]]:
    """Every state the evaluator passes through while taking *event* in order."""
    states = [acc]
    for t, v in event.occurrences:
        states.append(states[-1].push(t, v).unwrap())
    return states


@settings(max_examples=200)
@given(
    discrete_events(),
    st.integers(-5, 5),
    st.sampled_from(STEPS),
    st.lists(signal_times(), max_size=5),
)
def test_push_agrees_with_scan_fold_accum_and_hold(
    event: DiscreteEvent[int], initial: int, step: Callable[[int, int], int], samples: list[int]
) -> None:
    """Pushing occurrences one by one gives scan's values, fold, accum.at and hold.at."""
    states = push_all(Accumulator.start(initial, step), event)
    holds = push_all(Accumulator.holding(initial), event)
    scanned = tuple((t, s.value) for (t, _), s in zip(event.occurrences, states[1:], strict=True))
    assert scanned == event.scan(initial, step).occurrences
    assert states[-1].value == event.fold(initial, step)
    last = event.occurrences[-1][0] if event.occurrences else None
    for t in samples:
        if last is None or t >= last:
            assert states[-1].at(t) == event.accum(initial, step).at(t)
            assert holds[-1].at(t) == event.hold(initial).at(t)


@given(discrete_events(), signal_times())
def test_push_rejects_exactly_the_times_before_the_last(
    event: DiscreteEvent[int], late: int
) -> None:
    """push fails with OutOfOrder iff the time is before the last pushed one."""
    acc = push_all(Accumulator.holding(0), event)[-1]
    result = acc.push(late, 1)
    if event.occurrences and late < event.occurrences[-1][0]:
        assert result == Failure(OutOfOrder(event.occurrences[-1][0], late))
    else:
        assert isinstance(result, Success)


def test_out_of_order_is_a_failure_value_with_a_clear_message() -> None:
    """An older time comes back as Failure(OutOfOrder) naming both times; state is untouched."""
    start: Accumulator[int, int] = Accumulator.start(0, lambda a, b: a + b)
    acc = start.push(5, 1).unwrap()
    result: Result[Accumulator[int, int], OutOfOrder] = acc.push(4, 1)
    assert result == Failure(OutOfOrder(last_time=5, time=4))
    assert str(result.failure()) == "occurrence at 4 arrived after one at 5"
    assert acc.value == 1


def test_simultaneous_pushes_keep_the_value_before_their_time() -> None:
    """at(t) for the last time is the value before all occurrences at that time."""
    acc: Accumulator[int, int] = Accumulator.start(0, lambda a, b: a + b)
    for t, v in [(1, 1), (2, 10), (2, 100)]:
        acc = acc.push(t, v).unwrap()
    assert (acc.at(2), acc.at(3), acc.value) == (1, 111, 111)


def test_a_fresh_accumulator_holds_initial_before_and_after() -> None:
    """Nothing pushed: the value and the value before the last push are both initial."""
    fresh: Accumulator[int, int] = Accumulator.start(7, lambda total, amount: total + amount)
    assert (fresh.value, fresh.before_last, fresh.last_time) == (7, 7, None)
    held: Accumulator[int, int] = Accumulator.holding(7)
    assert (held.value, held.before_last, held.last_time) == (7, 7, None)


def test_sampling_the_past_is_a_value_error() -> None:
    """The evaluator keeps no history: at(t) before the last push raises ValueError."""
    acc = Accumulator.holding("x").push(5, "y").unwrap()
    with pytest.raises(ValueError, match="keeps no history"):
        acc.at(4)


def test_nan_time_is_a_value_error() -> None:
    """A NaN time cannot be ordered: push raises ValueError."""
    with pytest.raises(ValueError, match="NaN"):
        Accumulator.holding(0.0).push(float("nan"), 1.0)


@frozen
class Paid:
    """A tiny payload for the bridge tests."""

    amount: int


START = datetime(2024, 1, 1, tzinfo=UTC)


def envelope(position: int, minutes: int, amount: int) -> EventEnvelope[Paid]:
    """A stored Paid event at *position*, recorded *minutes* after START."""
    return EventEnvelope(
        event_id=UUID(int=position),
        stream=StreamId("order", f"o-{position}"),
        version=1,
        position=position,
        event_type="Paid",
        schema_version=1,
        payload=Paid(amount),
        recorded_at=START + timedelta(minutes=minutes),
    )


STORED = [envelope(3, 1, 30), envelope(1, 2, 10), envelope(2, 2, 20)]


def test_events_from_envelopes_by_position_with_payloads() -> None:
    """time="position" orders by store position; the value defaults to the payload."""
    event = events_from_envelopes(STORED)
    assert event.occurrences == ((1, Paid(10)), (2, Paid(20)), (3, Paid(30)))


def test_events_from_envelopes_by_recorded_time_keeps_store_order_on_ties() -> None:
    """time="recorded_at" uses the store's clock; equal times keep input order."""
    event = events_from_envelopes(STORED, time="recorded_at", value=lambda e: e.payload.amount)
    minute = timedelta(minutes=1)
    assert event.occurrences == (
        (START + minute, 30),
        (START + 2 * minute, 10),
        (START + 2 * minute, 20),
    )


def test_occurrence_from_envelope_feeds_the_push_evaluator() -> None:
    """Live envelopes pushed one at a time give the same total as the pure fold."""
    acc: Accumulator[int, int] = Accumulator.start(0, lambda a, b: a + b)
    for stored in sorted(STORED, key=lambda e: e.position):
        t, paid = occurrence_from_envelope(stored)
        acc = acc.push(t, paid.amount).unwrap()
    assert acc.value == events_from_envelopes(STORED).fold(0, lambda a, p: a + p.amount) == 60


def test_unknown_time_source_is_a_value_error() -> None:
    """A time source other than position/recorded_at is rejected by name."""
    with pytest.raises(ValueError, match="'version'"):
        events_from_envelopes(STORED, time="version")  # type: ignore[call-overload]


def test_occurrence_from_envelope_picks_time_and_value() -> None:
    """time= and value= choose the occurrence's parts for one envelope."""
    stored = STORED[0]
    assert occurrence_from_envelope(stored) == (3, Paid(30))
    assert occurrence_from_envelope(stored, time="recorded_at", value=lambda e: e.version) == (
        START + timedelta(minutes=1),
        1,
    )
    with pytest.raises(
        ValueError, match=r"^time must be 'position' or 'recorded_at', got 'version'$"
    ):
        occurrence_from_envelope(stored, time="version")  # type: ignore[call-overload]
