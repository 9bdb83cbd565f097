"""The signal laws hold for cim.frp and catch planted broken merge and hold."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import reduce
from typing import Any

import pytest
from attrs import evolve, frozen
from hypothesis import Phase
from hypothesis import settings as Settings
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
    assert caught.value.detail.startswith("e.hold(initial) (last value strictly before t) at ")


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


def push_pull_violation(operations: SignalOperations) -> LawViolation:
    """The violation check_signal_laws raises for *operations*, which must be of push/pull."""
    with pytest.raises(LawViolation) as caught:
        check_signal_laws(operations)
    assert caught.value.law == "push/pull agreement"
    return caught.value


def scan_missing_the_first(e: DiscreteEvent[Any], initial: Any, step: Any) -> DiscreteEvent[Any]:
    """A broken scan: of two or more running values the first is lost (the last, fold's, stays)."""
    running = e.scan(initial, step).occurrences
    return DiscreteEvent(running[1:] if len(running) > 1 else running)


def test_push_pull_law_rejects_a_scan_that_the_pushed_values_disagree_with() -> None:
    """A scan that passes the fold law still differs from the values pushed one at a time."""
    violation = push_pull_violation(SignalOperations(scan=scan_missing_the_first))
    assert violation.detail.startswith("pushed scan: expected ")


@frozen
class UnsetUntilPushed(Accumulator[Any, Any]):
    """A broken push evaluator: its value is None until the first push (before_last: initial)."""

    def push(self, t: Any, value: Any) -> Result[Accumulator[Any, Any], OutOfOrder]:
        """Push as Accumulator does, starting from the initial value on the first push."""
        started = self if self.last_time is not None else evolve(self, value=self.before_last)
        return Accumulator.push(started, t, value)

    def at(self, t: Any) -> Any:
        """The initial value before any push, then as Accumulator does."""
        return self.before_last if self.last_time is None else super().at(t)


def checked_fold(e: DiscreteEvent[Any], initial: Any, step: Any) -> Any:
    """A correct fold that checks its step up front, even for an event with no occurrences."""
    if not callable(step):
        raise TypeError(f"fold needs a step function, got {step!r}")
    return e.fold(initial, step)


def test_push_pull_law_rejects_a_pushed_value_that_is_not_the_fold() -> None:
    """With nothing pushed the evaluator's value must be the fold of no occurrences: initial."""
    violation = push_pull_violation(
        SignalOperations(
            accumulator=lambda initial, step: UnsetUntilPushed(step, None, initial),
            fold=checked_fold,
        )
    )
    example = violation.counterexample
    assert isinstance(example, tuple)
    event, initial = example[0], example[1]
    assert event.occurrences == ()
    assert violation.detail == f"pushed value None != fold {initial!r}"


def keeps_the_latest(step: Any) -> bool:
    """Whether *step* keeps the new value and drops the running one, as hold's step does."""
    return bool(step(1, 2) == 2 and step(2, 1) == 1)


def test_push_pull_law_rejects_an_accum_evaluator_that_disagrees_with_accum() -> None:
    """An evaluator eager for every step but hold's is caught by accum's check (hold's passes)."""
    violation = push_pull_violation(
        SignalOperations(
            accumulator=lambda initial, step: (
                Accumulator.start(initial, step)
                if keeps_the_latest(step)
                else EagerAccumulator(step, initial, initial)
            )
        )
    )
    assert violation.detail.startswith("pushed accum vs accum at ")


def test_push_pull_law_rejects_a_hold_evaluator_that_disagrees_with_hold() -> None:
    """An evaluator whose hold shortcut counts the occurrences at t is caught by hold's check."""
    violation = push_pull_violation(
        SignalOperations(
            accumulator=lambda initial, step: (
                EagerAccumulator(step, initial, initial)
                if keeps_the_latest(step)
                else Accumulator.start(initial, step)
            )
        )
    )
    assert violation.detail.startswith("pushed hold vs hold at ")


@frozen
class BoundedAccumulator(Accumulator[Any, Any]):
    """A broken push evaluator: it refuses (as out of order) a running value beyond +-50."""

    def push(self, t: Any, value: Any) -> Result[Accumulator[Any, Any], OutOfOrder]:
        """Push as Accumulator does, unless the new running value is too large to keep."""
        pushed = Accumulator.push(self, t, value)
        if isinstance(pushed, Success) and abs(pushed.unwrap().value) > 50:
            return Failure(OutOfOrder(t, t))
        return pushed


def test_push_pull_law_rejects_an_evaluator_that_refuses_an_in_order_occurrence() -> None:
    """Refusing an in-order push (here of the running evaluator only) is caught, not unwrapped."""
    violation = push_pull_violation(
        SignalOperations(
            accumulator=lambda initial, step: BoundedAccumulator(step, initial, initial)
        )
    )
    # Found in the pushes of the event, or (once shrunk) in the push after them.
    assert violation.detail.startswith(("pushing the in-order ", "pushing 0 after "))
    assert " gave <Failure: occurrence at " in violation.detail


@frozen
class StrictlyLaterAccumulator(Accumulator[Any, Any]):
    """A broken push evaluator: it refuses a push at its last time (simultaneous occurrences)."""

    def push(self, t: Any, value: Any) -> Result[Accumulator[Any, Any], OutOfOrder]:
        """Push as Accumulator does, but only at a time strictly after the last one."""
        last = self.last_time
        if last is not None and not last < t:
            return Failure(OutOfOrder(last, t))
        return Accumulator.push(self, t, value)


def test_push_pull_law_rejects_an_evaluator_that_refuses_a_push_at_its_last_time() -> None:
    """A push at the last time is simultaneous, not out of order: refusing it is caught."""
    violation = push_pull_violation(
        SignalOperations(
            accumulator=lambda initial, step: StrictlyLaterAccumulator(step, initial, initial)
        )
    )
    assert re.match(r"pushing (\d+) after \1 gave <Failure: ", violation.detail)


def violation_of(operations: SignalOperations, law: str) -> LawViolation:
    """The violation check_signal_laws raises for *operations*, which must be of *law*."""
    with pytest.raises(LawViolation) as caught:
        check_signal_laws(operations)
    assert caught.value.law == law
    return caught.value


def test_event_functor_identity_law_rejects_a_map_that_drops_an_occurrence() -> None:
    """A map that loses the last occurrence is not the identity for id."""
    violation = violation_of(
        SignalOperations(event_map=lambda e, f: DiscreteEvent(e.map(f).occurrences[:-1])),
        "event functor identity",
    )
    assert violation.detail.startswith("e.map(id): expected ")


def test_event_functor_composition_law_rejects_a_map_that_applies_f_twice() -> None:
    """Mapping f twice keeps id but breaks composition."""
    violation = violation_of(
        SignalOperations(event_map=lambda e, f: e.map(f).map(f)), "event functor composition"
    )
    assert violation.detail.startswith("e.map(f).map(g): expected ")


def test_behavior_functor_identity_law_rejects_a_map_frozen_at_time_zero() -> None:
    """A behaviour map that samples only at time 0 is not the identity for id."""
    violation = violation_of(
        SignalOperations(behavior_map=lambda b, f: Behavior.constant(f(b.at(0)))),
        "behavior functor identity",
    )
    assert violation.detail.startswith("b.map(id) at ")


def test_behavior_functor_composition_law_rejects_a_map_that_applies_f_twice() -> None:
    """A behaviour map applying f twice keeps id but breaks composition."""
    violation = violation_of(
        SignalOperations(behavior_map=lambda b, f: b.map(f).map(f)),
        "behavior functor composition",
    )
    assert violation.detail.startswith("b.map(f).map(g) at ")


def apply_with(at: Callable[[Behavior[Any], Behavior[Any], Any], Any]) -> SignalOperations:
    """Operations whose apply samples ``at(functions, arguments, t)``."""
    return SignalOperations(apply=lambda fs, xs: Behavior.from_function(lambda t: at(fs, xs, t)))


def test_applicative_identity_law_rejects_an_apply_frozen_at_time_zero() -> None:
    """An apply that samples its argument only at time 0 breaks pure id <*> v = v."""
    violation = violation_of(
        apply_with(lambda fs, xs, t: fs.at(t)(xs.at(0))), "behavior applicative identity"
    )
    assert violation.detail.startswith("pure id <*> v at ")


def test_applicative_homomorphism_law_rejects_an_apply_that_applies_twice() -> None:
    """Applying the function twice keeps identity but breaks pure f <*> pure x = pure (f x)."""
    violation = violation_of(
        apply_with(lambda fs, xs, t: fs.at(t)(fs.at(t)(xs.at(t)))),
        "behavior applicative homomorphism",
    )
    assert violation.detail.startswith("pure f <*> pure x at ")


def test_applicative_interchange_law_rejects_an_apply_that_samples_functions_late() -> None:
    """Sampling the functions one time later is invisible on constants, not on u <*> pure y."""
    violation = violation_of(
        apply_with(lambda fs, xs, t: fs.at(t + 1)(xs.at(t))), "behavior applicative interchange"
    )
    assert violation.detail.startswith("u <*> pure y at ")


def applied_twice_if_function(fs: Behavior[Any], xs: Behavior[Any], t: Any) -> Any:
    """A broken apply: a result that is itself a function is applied twice when used."""
    result = fs.at(t)(xs.at(t))
    return (lambda y: result(result(y))) if callable(result) else result


def test_applicative_composition_law_rejects_an_apply_that_doubles_function_results() -> None:
    """Only composition builds function-valued results, so only it sees them doubled."""
    violation = violation_of(
        apply_with(applied_twice_if_function), "behavior applicative composition"
    )
    assert violation.detail.startswith("pure (.) <*> u <*> v <*> w at ")


def test_merge_union_law_rejects_by_name_a_merge_that_drops_simultaneous_occurrences() -> None:
    """The time-ordered union law reports its name and the merge it compared."""
    violation = violation_of(
        SignalOperations(merge=merge_dropping_simultaneous), "merge is the time-ordered union"
    )
    assert violation.detail.startswith("a.merge(b): expected ")


def test_merge_combine_law_rejects_a_merge_that_swaps_the_combined_values() -> None:
    """Combining b's value with a's (not a's with b's) is caught by the combine law."""
    violation = violation_of(
        SignalOperations(
            merge=lambda a, b, f: a.merge(b, None if f is None else lambda x, y: f(y, x))
        ),
        "merge combines simultaneous occurrences",
    )
    assert violation.detail.startswith("a.merge(b, a + b): expected ")


def test_merge_associativity_law_rejects_a_merge_that_keeps_eight_occurrences_of_each() -> None:
    """A merge that drops an input's occurrences past the 8th passes on drawn events, not nested."""
    violation = violation_of(
        SignalOperations(
            merge=lambda a, b, f: DiscreteEvent(a.occurrences[:8]).merge(
                DiscreteEvent(b.occurrences[:8]), f
            )
        ),
        "merge associativity",
    )
    assert violation.detail.startswith("a.merge(b, ")
    assert ").merge(c, " in violation.detail


def test_never_law_rejects_a_never_that_occurs() -> None:
    """A never with an occurrence is not the identity of merge."""
    violation = violation_of(
        SignalOperations(never=lambda: DiscreteEvent(((0, (0,)),))),
        "never is the identity of merge",
    )
    assert violation.detail.startswith("a.merge(never, ")


def test_never_law_rejects_a_merge_whose_never_shortcut_returns_never() -> None:
    """With never on the left, merge must return the other event, checked separately."""
    never: DiscreteEvent[Any] = DiscreteEvent(())
    violation = violation_of(
        SignalOperations(
            never=lambda: never, merge=lambda a, b, f: a if a is never else a.merge(b, f)
        ),
        "never is the identity of merge",
    )
    assert violation.detail.startswith("never.merge(a, ")


def test_filter_fusion_law_rejects_a_filter_that_keeps_the_rejected() -> None:
    """A filter that keeps what p rejects breaks filter(p and q) = filter(p).filter(q)."""
    violation = violation_of(
        SignalOperations(filter=lambda e, p: e.filter(lambda x: not p(x))), "filter fusion"
    )
    assert violation.detail.startswith("e.filter(p).filter(q): expected ")


def test_accum_law_rejects_an_accum_that_includes_the_occurrence_at_t() -> None:
    """accum at t folds the occurrences strictly before t."""
    violation = violation_of(
        SignalOperations(
            accum=lambda e, initial, f: Behavior.from_function(
                lambda t: reduce(f, (v for s, v in e.occurrences if not t < s), initial)
            )
        ),
        "accum/at consistency",
    )
    assert violation.detail.startswith(
        "e.accum(initial, f) (fold of occurrences strictly before t) at "
    )


def test_fold_law_rejects_a_fold_that_stays_at_initial() -> None:
    """fold is the last value of scan, not initial."""
    violation = violation_of(
        SignalOperations(fold=lambda e, initial, f: initial), "fold is the last scan"
    )
    assert violation.detail.startswith("fold gave ")


def test_signal_laws_hold_for_operations_that_show_the_functions_they_are_given() -> None:
    """The laws' functions describe themselves (``(g) . (f)``, ``($ y)``, ``p and q``)."""
    shown: list[str] = []

    def traced_event_map(e: DiscreteEvent[Any], f: Callable[[Any], Any]) -> DiscreteEvent[Any]:
        """DiscreteEvent.map, noting the function's description."""
        shown.append(repr(f))
        return e.map(f)

    def traced_behavior_map(b: Behavior[Any], f: Callable[[Any], Any]) -> Behavior[Any]:
        """Behavior.map, noting the function's description."""
        shown.append(repr(f))
        return b.map(f)

    def traced_filter(e: DiscreteEvent[Any], p: Callable[[Any], bool]) -> DiscreteEvent[Any]:
        """DiscreteEvent.filter, noting the predicate's description."""
        shown.append(repr(p))
        return e.filter(p)

    def traced_constant(value: Any) -> Behavior[Any]:
        """Behavior.constant, noting the value's description."""
        shown.append(repr(value))
        return Behavior.constant(value)

    check_signal_laws(
        SignalOperations(
            event_map=traced_event_map,
            behavior_map=traced_behavior_map,
            filter=traced_filter,
            constant=traced_constant,
        )
    )
    assert any(re.fullmatch(r"\(.+\) \. \(.+\)", description) for description in shown)
    assert any(re.fullmatch(r"\(\$ -?\d+\)", description) for description in shown)
    assert any(re.fullmatch(r".+ and .+", description) for description in shown)


def test_signal_laws_check_with_the_settings_they_are_given() -> None:
    """Every law runs with the given settings: one example each maps a few events, not hundreds."""
    mapped: list[DiscreteEvent[Any]] = []

    def counted_map(e: DiscreteEvent[Any], f: Callable[[Any], Any]) -> DiscreteEvent[Any]:
        """DiscreteEvent.map, counting its calls."""
        mapped.append(e)
        return e.map(f)

    check_signal_laws(
        SignalOperations(event_map=counted_map),
        settings=Settings(max_examples=1, phases=[Phase.generate], database=None),
    )
    assert 0 < len(mapped) <= 8


def hold_including_t_from_100(event: DiscreteEvent[Any], initial: Any) -> Behavior[Any]:
    """A broken hold only at times from 100 on: there the occurrence at t already counts."""
    right, wrong = event.hold(initial), hold_including_t(event, initial)
    return Behavior.from_function(lambda t: wrong.at(t) if t >= 100 else right.at(t))


def test_signal_laws_reject_a_hold_broken_only_at_the_given_times() -> None:
    """The laws draw times from *times*: a hold broken only from time 100 on is caught there."""
    with pytest.raises(LawViolation) as caught:
        check_signal_laws(
            SignalOperations(hold=hold_including_t_from_100), times=st.integers(100, 110)
        )
    assert caught.value.law == "hold/at consistency"


def merge_swapping_from_100(
    a: DiscreteEvent[Any], b: DiscreteEvent[Any], combine: Any = None
) -> DiscreteEvent[Any]:
    """A broken merge only at times from 100 on: there it combines b's value with a's."""
    merged = a.merge(b, combine)
    swapped = a.merge(b, None if combine is None else lambda x, y: combine(y, x))
    return DiscreteEvent(
        tuple(
            o if o[0] < 100 else s
            for o, s in zip(merged.occurrences, swapped.occurrences, strict=True)
        )
    )


def test_merge_laws_reject_a_merge_broken_only_at_the_given_times() -> None:
    """The merge laws draw events at the given times: a merge broken from time 100 on is caught."""
    with pytest.raises(LawViolation) as caught:
        check_signal_laws(
            SignalOperations(merge=merge_swapping_from_100), times=st.integers(100, 110)
        )
    assert caught.value.law == "merge combines simultaneous occurrences"


def test_signal_laws_draw_the_documented_inputs() -> None:
    """The signal laws sample behaviours at no more than 6 times and hold events from ints in -5..5."""
    sampled: list[list[Any]] = []
    initials: list[Any] = []

    def spy_map(b: Behavior[Any], f: Callable[[Any], Any]) -> Behavior[Any]:
        """Behavior.map; an identity map (the functor identity law) records its sample times."""
        mapped = b.map(f)
        if repr(f) != "id":
            return mapped
        times: list[Any] = []
        sampled.append(times)

        def at(t: Any) -> Any:
            times.append(t)
            return mapped.at(t)

        return Behavior.from_function(at)

    def spy_hold(e: DiscreteEvent[Any], initial: Any) -> Behavior[Any]:
        """DiscreteEvent.hold, recording its initial value."""
        initials.append(initial)
        return e.hold(initial)

    check_signal_laws(SignalOperations(behavior_map=spy_map, hold=spy_hold))
    assert max(map(len, sampled)) <= 6
    assert set(initials) <= set(range(-5, 6))
    assert min(initials) < 0 < max(initials)
