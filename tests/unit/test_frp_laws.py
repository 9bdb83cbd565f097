"""The signal laws hold for cim.frp and catch planted broken merge and hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

import pytest
from attrs import evolve, frozen
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from cim.frp import Accumulator, Behavior, DiscreteEvent, OutOfOrder
from laws import LawViolation, SignalOperations, check_signal_laws


def test_signal_laws_hold_for_cim_frp() -> None:
    """Every signal law holds for the library's operations at small integer times."""
    check_signal_laws()


def test_signal_laws_hold_with_datetime_times() -> None:
    """The laws hold when times are aware datetimes (any totally ordered time works)."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    check_signal_laws(times=st.integers(0, 10).map(lambda m: start + timedelta(minutes=m)))


def merge_dropping_simultaneous(
    a: DiscreteEvent[Any], b: DiscreteEvent[Any], combine: Any = None
) -> DiscreteEvent[Any]:
    """A broken merge: occurrences of b at a time a also occurs at are lost."""
    taken = {t for t, _ in a.occurrences}
    kept = DiscreteEvent(tuple((t, v) for t, v in b.occurrences if t not in taken))
    return a.merge(kept, combine)


def hold_including_t(event: DiscreteEvent[Any], initial: Any) -> Behavior[Any]:
    """A broken hold: the occurrence at t already counts at t (off by one)."""
    return Behavior.from_function(
        lambda t: ([initial] + [v for s, v in event.occurrences if not t < s])[-1]
    )


def test_laws_reject_a_merge_that_drops_simultaneous_occurrences() -> None:
    """The merge law fails with a counterexample of two events occurring at the same time."""
    with pytest.raises(LawViolation) as caught:
        check_signal_laws(SignalOperations(merge=merge_dropping_simultaneous))
    example = caught.value.counterexample
    assert isinstance(example, tuple)
    left, right = example
    assert caught.value.law.startswith("merge")
    assert {t for t, _ in left.occurrences} & {t for t, _ in right.occurrences}


def test_laws_reject_a_hold_that_includes_the_occurrence_at_t() -> None:
    """The hold law fails with a sample time equal to an occurrence time."""
    with pytest.raises(LawViolation) as caught:
        check_signal_laws(SignalOperations(hold=hold_including_t))
    example = caught.value.counterexample
    assert isinstance(example, tuple)
    event, _initial, samples = example
    assert caught.value.law == "hold/at consistency"
    assert {t for t, _ in event.occurrences} & set(samples)


@frozen
class EagerAccumulator(Accumulator[Any, Any]):
    """A broken push evaluator: at the last time it already counts that time's occurrences."""

    def at(self, t: Any) -> Any:
        """The running value including occurrences at t (wrong: hold is strictly before t)."""
        return self.value


def test_laws_reject_a_push_evaluator_that_disagrees_with_pull() -> None:
    """The push/pull law fails when the evaluator's at(t) includes the occurrence at t."""
    with pytest.raises(LawViolation) as caught:
        check_signal_laws(
            SignalOperations(
                accumulator=lambda initial, step: EagerAccumulator(step, initial, initial)
            )
        )
    assert caught.value.law == "push/pull agreement"
    assert "at " in caught.value.detail


@frozen
class ReplayingAccumulator(Accumulator[Any, Any]):
    """A correct push evaluator that keeps every occurrence, so it can be sampled at any time."""

    initial: Any = None
    history: tuple[tuple[Any, Any], ...] = ()

    def push(self, t: Any, value: Any) -> Result[Accumulator[Any, Any], OutOfOrder]:
        """Take ``(t, value)`` after the history, or refuse a time before its last one."""
        if self.history and t < self.history[-1][0]:
            return Failure(OutOfOrder(self.history[-1][0], t))
        pushed = evolve(
            self, value=self.step(self.value, value), history=(*self.history, (t, value))
        )
        return Success(pushed)

    def at(self, t: Any) -> Any:
        """The fold of the occurrences strictly before t, replayed from the history."""
        return reduce(self.step, (v for s, v in self.history if s < t), self.initial)


def test_signal_laws_hold_for_an_evaluator_that_replays_its_history() -> None:
    """A different but correct evaluator passes: the laws push it real times, in order."""
    check_signal_laws(
        SignalOperations(
            accumulator=lambda initial, step: ReplayingAccumulator(
                step, initial, initial, initial=initial
            )
        )
    )
