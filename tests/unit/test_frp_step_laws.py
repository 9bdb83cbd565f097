"""The step-behaviour laws (updates, values, calm, lifts, switching, hold_from, hold_loop) reject planted bugs."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import strategies as st

from cim.frp import (
    Accumulator,
    Behavior,
    DiscreteEvent,
    StepFunction,
    hold_loop,
    lift_all,
    switch_e,
    updates,
)
from laws import LawViolation, SignalOperations, check_signal_laws
from laws._signal_laws import _loop_is_accum

HELD_UPDATES = "a step behaviour is the hold of its updates from its initial value"
LOOP_IS_ACCUM = "hold_loop of a snapshot is accum and the evaluator (one occurrence per time)"
# Shrinking a failure of a law on nested step behaviours can make Hypothesis build a strategy's
# (long) repr and warn about it; that is about the search, not the law under test.
LARGE_STRATEGY_REPR = pytest.mark.filterwarnings("ignore:Generating overly large repr")


def rejected_by(operations: SignalOperations) -> LawViolation:
    """The violation check_signal_laws raises for *operations* (fails the test if none)."""
    with pytest.raises(LawViolation) as caught:
        check_signal_laws(operations)
    return caught.value


def initial_of(b: Behavior[Any]) -> Any:
    """The first value of a step behaviour."""
    function = b.function
    assert isinstance(function, StepFunction)
    return function.initial_value()


def updates_per_occurrence(b: Behavior[Any]) -> DiscreteEvent[Any]:
    """A broken updates: one update per held occurrence, not one per time."""
    function = b.function
    occurrences = getattr(function, "occurrences", None)
    return DiscreteEvent(occurrences) if occurrences is not None else updates(b)


def test_updates_law_rejects_one_update_per_simultaneous_occurrence() -> None:
    """Simultaneous occurrences make one update; emitting each is caught."""
    violation = rejected_by(SignalOperations(updates=updates_per_occurrence))
    assert violation.law == UPDATES_OF_HOLD
    assert violation.detail.startswith("updates(e.hold(initial)): expected ")


UPDATES_OF_HOLD = "updates of hold: one per time, the last value"


def updates_skipping_a_first_update_to_the_initial(b: Behavior[Any]) -> DiscreteEvent[Any]:
    """A broken updates: a first update to a value equal to the initial one is left out."""
    changes = updates(b).occurrences
    first = initial_of(b)
    return DiscreteEvent(changes[1:] if changes and changes[0][1] == first else changes)


def test_updates_law_rejects_updates_that_skip_a_first_non_change() -> None:
    """updates of a hold keeps an update to the initial value: the hold law compares with initial."""
    violation = rejected_by(
        SignalOperations(updates=updates_skipping_a_first_update_to_the_initial)
    )
    assert violation.law == UPDATES_OF_HOLD
    assert violation.detail.startswith("updates(e.hold(initial)): expected ")


def updates_sampling_a_derived_behaviour_at_t(b: Behavior[Any]) -> DiscreteEvent[Any]:
    """A broken updates: right for a plain hold, but a derived behaviour's value at t, not after t."""
    changes = updates(b)
    if hasattr(b.function, "occurrences"):  # a plain hold
        return changes
    return DiscreteEvent(tuple((t, b.at(t)) for t, _ in changes.occurrences))


def test_held_updates_law_rejects_derived_updates_with_the_value_before() -> None:
    """A map, lift, calm or switch of holds is also the hold of its updates (values just after t)."""
    violation = rejected_by(SignalOperations(updates=updates_sampling_a_derived_behaviour_at_t))
    assert violation.law == "a step behaviour is the hold of its updates from its initial value"


def accum_calmed(e: DiscreteEvent[Any], initial: Any, f: Callable[[Any, Any], Any]) -> Any:
    """A broken accum: the same values at every time, but no update when the value stays the same."""
    return e.scan(initial, f).calm().hold(initial)


def test_pushed_accum_law_rejects_an_accum_without_its_non_changes() -> None:
    """accum updates at every occurrence time, like the pushed evaluator, even to an equal value."""
    violation = rejected_by(SignalOperations(accum=accum_calmed))
    assert violation.law == "updates agree with the pushed accum"
    assert violation.detail.startswith(
        "updates(e.accum(initial, f)) vs the evaluator after each time: expected "
    )


def test_updates_law_rejects_updates_that_miss_a_change() -> None:
    """An update stream that drops its last update no longer holds to the behaviour."""
    violation = rejected_by(
        SignalOperations(updates=lambda b: DiscreteEvent(updates(b).occurrences[:-1]))
    )
    assert "updates" in violation.law or "hold of its updates" in violation.law


def is_plain_hold(b: Behavior[Any]) -> bool:
    """Whether *b* is a hold of an event (its step function keeps the occurrences)."""
    return getattr(b.function, "occurrences", None) is not None


def updates_twice_unless_held(b: Behavior[Any]) -> DiscreteEvent[Any]:
    """A broken updates: a behaviour that is not a plain hold reports each update twice."""
    changes = updates(b).occurrences
    return DiscreteEvent(
        changes if is_plain_hold(b) else tuple(o for change in changes for o in (change, change))
    )


@LARGE_STRATEGY_REPR
def test_held_updates_law_rejects_two_updates_at_one_time() -> None:
    """Two updates at one time are not increasing (holds pass, so only this law sees it)."""
    violation = rejected_by(SignalOperations(updates=updates_twice_unless_held))
    assert violation.law == HELD_UPDATES
    assert violation.detail.startswith("update times are not increasing: ")


def updates_missing_the_first_unless_held(b: Behavior[Any]) -> DiscreteEvent[Any]:
    """A broken updates: a behaviour that is not a plain hold loses its first update."""
    changes = updates(b).occurrences
    return DiscreteEvent(changes if is_plain_hold(b) else changes[1:])


@LARGE_STRATEGY_REPR
def test_held_updates_law_rejects_a_lost_update_naming_the_hold_of_the_updates() -> None:
    """A lost update shows as a sample where the hold of the updates differs, named as such."""
    violation = rejected_by(SignalOperations(updates=updates_missing_the_first_unless_held))
    assert violation.law == HELD_UPDATES
    assert violation.detail.startswith("the hold of updates (")
    assert " from the initial value " in violation.detail


def values_sampling_before(b: Behavior[Any], start: Any) -> DiscreteEvent[Any]:
    """A broken values: the first value is the one strictly before start (misses an update at start)."""
    later = tuple((t, v) for t, v in updates(b).occurrences if start < t)
    return DiscreteEvent(((start, b.at(start)), *later))


def test_values_law_rejects_a_first_value_that_misses_the_update_at_start() -> None:
    """values folds an update at start into its first occurrence."""
    violation = rejected_by(SignalOperations(values=values_sampling_before))
    assert violation.law.startswith("values")
    assert violation.detail.startswith("values(b, ")


def test_calm_law_rejects_an_event_calm_that_compares_with_the_first_value() -> None:
    """calm compares each occurrence with the one before it, not with the first."""

    def calm_against_first(e: DiscreteEvent[Any]) -> DiscreteEvent[Any]:
        """Broken: drops every occurrence equal to the first one."""
        occurrences = e.occurrences
        return DiscreteEvent(
            tuple(o for i, o in enumerate(occurrences) if i == 0 or o[1] != occurrences[0][1])
        )

    violation = rejected_by(SignalOperations(event_calm=calm_against_first))
    assert violation.law == "calm drops repeated values"
    assert violation.detail.startswith("e.calm(): expected ")


def test_calm_law_rejects_a_behavior_calm_that_keeps_non_changes() -> None:
    """A behaviour's calm must leave out updates to an equal value."""
    violation = rejected_by(SignalOperations(behavior_calm=lambda b: b))
    assert violation.law == CALM_BEHAVIOR
    assert violation.detail.startswith("updates(b.calm()): expected ")


CALM_BEHAVIOR = "calm keeps a behaviour's values and drops its non-changes"


def calm_forgetting_its_initial(b: Behavior[Any]) -> Behavior[Any]:
    """A broken behaviour calm: rebuilt as the hold of its calm updates, but from None."""
    return updates(b.calm()).hold(None)


def test_calm_law_rejects_a_behavior_calm_that_changes_values() -> None:
    """A behaviour's calm keeps its value at every time, also before its first update."""
    violation = rejected_by(SignalOperations(behavior_calm=calm_forgetting_its_initial))
    assert violation.law == CALM_BEHAVIOR
    assert violation.detail.startswith("b.calm() at ")


def test_lift_laws_reject_a_lift3_that_swaps_arguments() -> None:
    """lift3 passes its behaviours' values in order."""

    def swapped(f: Callable[..., Any], a: Any, b: Any, c: Any) -> Behavior[Any]:
        """Broken: b and c change places."""
        return Behavior.from_function(lambda t: f(a.at(t), c.at(t), b.at(t)))

    violation = rejected_by(SignalOperations(lift3=swapped))
    assert violation.law == "lift3 is pointwise"
    assert violation.detail.startswith("lift3((a, b, c), a, b, c) at ")


def test_lift_laws_reject_a_lift_all_that_drops_the_last_behavior() -> None:
    """lift_all combines every behaviour it is given."""

    def dropping_last(f: Callable[[tuple[Any, ...]], Any], bs: Sequence[Behavior[Any]]) -> Any:
        """Broken: the last behaviour is left out."""
        return lift_all(f, list(bs)[:-1])

    violation = rejected_by(SignalOperations(lift_all=dropping_last))
    assert violation.law == "lift_all is pointwise"
    assert violation.detail.startswith("lift_all(values, bs) at ")


def switch_at_the_occurrence(cell: Behavior[DiscreteEvent[Any]]) -> DiscreteEvent[Any]:
    """A broken switch_s: the new event already counts at the time of the switch."""
    times = updates(cell).occurrences
    current = (cell.at(times[0][0]) if times else cell.at(0), *(e for _, e in times))
    bounds = (None, *(t for t, _ in times), None)
    return DiscreteEvent(
        tuple(
            (t, v)
            for k, event in enumerate(current)
            for t, v in event.occurrences
            if (bounds[k] is None or not t < bounds[k])
            and (bounds[k + 1] is None or t < bounds[k + 1])
        )
    )


def test_switch_law_rejects_a_switch_that_takes_effect_at_the_switch_time() -> None:
    """At a switch time the old event is still current."""
    violation = rejected_by(SignalOperations(switch_s=switch_at_the_occurrence))
    assert violation.law == "switch follows the event current at each time"
    assert violation.detail.startswith("switch_s(changes.hold(initial)): expected ")


def switch_e_from_never(
    initial: DiscreteEvent[Any], changes: DiscreteEvent[DiscreteEvent[Any]]
) -> DiscreteEvent[Any]:
    """A broken switch_e: nothing occurs before the first change (initial is ignored)."""
    return switch_e(DiscreteEvent.never(), changes)


def test_switch_law_rejects_a_switch_e_that_ignores_the_initial_event() -> None:
    """switch_e follows its initial event until the first change."""
    violation = rejected_by(SignalOperations(switch_e=switch_e_from_never))
    assert violation.law == "switch follows the event current at each time"
    assert violation.detail.startswith("switch_e(initial, changes): expected ")


def test_hold_from_law_rejects_a_hold_that_sees_earlier_occurrences() -> None:
    """hold_from(start, ...) is not plain hold: occurrences before start are ignored."""
    violation = rejected_by(SignalOperations(hold_from=lambda e, start, initial: e.hold(initial)))
    assert violation.law == "hold_from ignores occurrences before start"
    assert re.match(r"e\.hold_from\(-?\d+, initial\) at ", violation.detail), violation.detail


def test_hold_loop_law_rejects_a_single_round_of_iteration() -> None:
    """One round from constant(initial) is not the fixed point once occurrences build on each other."""

    def one_round(initial: Any, define: Callable[[Behavior[Any]], DiscreteEvent[Any]]) -> Any:
        """Broken: stops after the first round."""
        return define(Behavior.constant(initial)).hold(initial)

    violation = rejected_by(SignalOperations(hold_loop=one_round))
    assert violation.law.startswith("hold_loop")


def test_hold_loop_law_rejects_a_loop_stuck_at_its_initial_value() -> None:
    """A loop stuck at its initial value differs from the hold of its definition, named as such."""
    violation = rejected_by(
        SignalOperations(hold_loop=lambda initial, _: Behavior.constant(initial))
    )
    assert violation.law == "hold_loop is the fixed point of its definition"
    assert violation.detail.startswith("b = hold_loop(")
    assert " vs hold(define(b)) at " in violation.detail


def test_hold_loop_law_rejects_a_loop_that_sees_the_current_occurrence() -> None:
    """A loop whose held value already counts the occurrence at t is not accum."""

    def eager(initial: Any, define: Callable[[Behavior[Any]], DiscreteEvent[Any]]) -> Any:
        """Broken: the fixed point's value at t includes the occurrences at t."""
        held = hold_loop(initial, define)
        return Behavior.from_function(lambda t: held.at(t + 1))

    violation = rejected_by(SignalOperations(hold_loop=eager))
    assert violation.law.startswith("hold_loop")


def test_step_laws_draw_the_documented_inputs() -> None:
    """The step laws draw ints in -5..5, calm values in 0..2 at the given times, at most 4 inners, switches and lifts."""
    initials: list[Any] = []
    calmed: list[tuple[Any, Any]] = []
    sizes: list[int] = []
    switches: list[int] = []
    lifted: list[int] = []

    def spy_hold_from(e: DiscreteEvent[Any], start: Any, initial: Any) -> Behavior[Any]:
        initials.append(initial)
        return e.hold_from(start, initial)

    def spy_hold_loop(initial: Any, define: Callable[[Behavior[Any]], Any]) -> Behavior[Any]:
        initials.append(initial)
        return hold_loop(initial, define)

    def spy_accumulator(initial: Any, f: Callable[[Any, Any], Any]) -> Accumulator[Any, Any]:
        initials.append(initial)
        return Accumulator.start(initial, f)

    def spy_event_calm(e: DiscreteEvent[Any]) -> DiscreteEvent[Any]:
        calmed.extend(e.occurrences)
        return e.calm()

    def spy_switch_e(
        initial: DiscreteEvent[Any], changes: DiscreteEvent[DiscreteEvent[Any]]
    ) -> DiscreteEvent[Any]:
        sizes.extend(len(e.occurrences) for e in (initial, *(e for _, e in changes.occurrences)))
        switches.append(len(changes.occurrences))
        return switch_e(initial, changes)

    def spy_lift_all(f: Callable[[tuple[Any, ...]], Any], bs: Sequence[Behavior[Any]]) -> Any:
        lifted.append(len(bs))
        return lift_all(f, bs)

    check_signal_laws(
        SignalOperations(
            hold_from=spy_hold_from,
            hold_loop=spy_hold_loop,
            accumulator=spy_accumulator,
            event_calm=spy_event_calm,
            switch_e=spy_switch_e,
            lift_all=spy_lift_all,
        ),
        times=st.integers(20, 30),
    )
    assert set(initials) <= set(range(-5, 6))
    assert min(initials) < 0 < max(initials)
    assert {v for _, v in calmed} == {0, 1, 2}
    assert {t for t, _ in calmed} <= set(range(20, 31))
    assert max(sizes) <= 4
    assert max(switches) <= 4
    assert max(lifted) <= 4


def test_hold_loop_law_rejects_a_loop_whose_updates_are_not_accums() -> None:
    """A calmed hold_loop has the fixed point's values but not accum's updates to equal values."""

    def calmed(initial: Any, define: Callable[[Behavior[Any]], DiscreteEvent[Any]]) -> Any:
        """Broken: the right values, without the updates to an equal value."""
        return hold_loop(initial, define).calm()

    violation = rejected_by(SignalOperations(hold_loop=calmed))
    assert violation.law == LOOP_IS_ACCUM
    assert violation.detail.startswith(
        "updates of hold_loop(initial, e.snapshot(b, f)) vs of e.accum(initial, f): expected "
    )


def test_hold_loop_law_rejects_an_evaluator_that_disagrees_with_the_loop() -> None:
    """The loop law's evaluator check names it (a full run stops at push/pull first)."""
    off_by_one = SignalOperations(
        accumulator=lambda initial, step: Accumulator.start(initial, lambda a, v: step(a, v) + 1)
    )
    problem = _loop_is_accum(off_by_one, DiscreteEvent(((1, 2), (3, 4))), 0, lambda a, v: a + v)
    assert problem == (
        "updates of hold_loop(initial, e.snapshot(b, f)) vs the evaluator: "
        "expected ((1, 3), (3, 8)), got ((1, 2), (3, 6))"
    )


def updates_with_the_value_before_unless_held(b: Behavior[Any]) -> DiscreteEvent[Any]:
    """A broken updates: a behaviour that is not a plain hold reports its value before each one."""
    changes = updates(b).occurrences
    return DiscreteEvent(changes if is_plain_hold(b) else tuple((t, b.at(t)) for t, _ in changes))


@LARGE_STRATEGY_REPR
def test_held_updates_law_rejects_updates_with_the_value_before_the_update() -> None:
    """Nested step behaviours change value (not only update), so a stale update value is caught."""
    violation = rejected_by(SignalOperations(updates=updates_with_the_value_before_unless_held))
    assert violation.law == HELD_UPDATES
    assert violation.detail.startswith("the hold of updates (")


CONSTANT = type(Behavior.constant(0).function)


def updates_moving_constants(b: Behavior[Any]) -> DiscreteEvent[Any]:
    """A broken updates: a constant behaviour gets an update at time 0 to its value plus one."""
    if isinstance(b.function, CONSTANT):
        return DiscreteEvent(((0, b.at(0) + 1),))
    return updates(b)


@LARGE_STRATEGY_REPR
def test_step_laws_reject_updates_that_move_a_constant() -> None:
    """Constants are step behaviours too: an update that changes one is caught."""
    violation = rejected_by(SignalOperations(updates=updates_moving_constants))
    assert violation.law in {HELD_UPDATES, "values: the value just after start, then later updates"}
    assert isinstance(violation.counterexample, tuple)
    assert isinstance(violation.counterexample[0].function, CONSTANT)
