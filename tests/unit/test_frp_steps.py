"""Examples of the step-behaviour vocabulary, in the style of Sodium's and reactive-banana's tests."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from cim.frp import (
    Behavior,
    DiscreteEvent,
    StepFunction,
    hold_loop,
    lift3,
    lift_all,
    switch_e,
    switch_s,
    updates,
    values,
)


def test_updates_of_a_hold_are_its_occurrences_one_per_time() -> None:
    """Simultaneous occurrences make one update carrying the last value."""
    held = DiscreteEvent.from_pairs([(1, "a"), (1, "b"), (3, "b")]).hold("-")
    assert updates(held).occurrences == ((1, "b"), (3, "b"))


def test_a_constant_has_no_updates() -> None:
    """A constant behaviour never updates, and its values are just the start value."""
    assert updates(Behavior.constant(7)).occurrences == ()
    assert values(Behavior.constant(7), 3).occurrences == ((3, 7),)


def test_a_behavior_of_arbitrary_time_has_no_update_stream() -> None:
    """updates refuses a behaviour that may change at any time, with a clear message."""
    time = Behavior.time()
    expected = (
        f"{time!r} is not a step behaviour (a constant, a hold or accum, or map, lift, switch or "
        "calm of step behaviours), so it has no update times"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        updates(time)
    with pytest.raises(ValueError, match="not a step behaviour"):
        updates(Behavior.time().map(lambda t: t))


def test_step_functions_are_recognised_structurally() -> None:
    """hold, map, lift and switch results expose the StepFunction protocol; time does not."""
    held = DiscreteEvent.from_pairs([(1, 1)]).hold(0)
    assert isinstance(held.function, StepFunction)
    assert isinstance(held.map(str).function, StepFunction)
    assert not isinstance(Behavior.time().function, StepFunction)


def test_values_starts_with_the_current_value_then_follows_updates() -> None:
    """values(b, t0) fires at t0 with the value just after t0, then every later update."""
    held = DiscreteEvent.from_pairs([(2, "b"), (5, "c"), (8, "d")]).hold("a")
    assert values(held, 0).occurrences == ((0, "a"), (2, "b"), (5, "c"), (8, "d"))
    assert values(held, 5).occurrences == ((5, "c"), (8, "d"))
    assert values(held, 9).occurrences == ((9, "d"),)


def test_updates_of_map_and_lift_follow_their_sources() -> None:
    """A lift updates whenever any source updates, with the combined value after it."""
    a = DiscreteEvent.from_pairs([(1, 10), (4, 20)]).hold(0)
    b = DiscreteEvent.from_pairs([(2, 1), (4, 2)]).hold(0)
    c = Behavior.constant(100)
    total = lift3(lambda x, y, z: x + y + z, a, b, c)
    assert updates(total).occurrences == ((1, 110), (2, 111), (4, 122))
    assert updates(a.map(lambda x: -x)).occurrences == ((1, -10), (4, -20))
    assert [total.at(t) for t in (0, 1, 2, 3, 4, 5)] == [100, 100, 110, 111, 111, 122]


def test_lift_all_passes_one_tuple_in_order() -> None:
    """lift_all calls f with the values as a tuple; with no behaviours it is the constant f(())."""
    bs = [Behavior.constant(1), Behavior.time(), Behavior.constant(3)]
    assert lift_all(lambda vs: vs, bs).at(2) == (1, 2, 3)
    assert lift_all(len, []).at(0) == 0
    assert updates(lift_all(sum, [])).occurrences == ()


def test_event_calm_drops_repeats_only() -> None:
    """Sodium's calm: an occurrence equal to the previous one is dropped; a return is kept."""
    e = DiscreteEvent.from_pairs([(1, 1), (2, 1), (2, 2), (3, 2), (4, 1)])
    assert e.calm().occurrences == ((1, 1), (2, 2), (4, 1))
    assert DiscreteEvent.never().calm().occurrences == ()


def test_behavior_calm_drops_updates_to_an_equal_value() -> None:
    """A calmed step behaviour samples the same but leaves out non-changes from its updates."""
    held = DiscreteEvent.from_pairs([(1, 0), (2, 5), (3, 5), (4, 0)]).hold(0)
    calm = held.calm()
    assert updates(calm).occurrences == ((2, 5), (4, 0))
    assert [calm.at(t) for t in range(6)] == [held.at(t) for t in range(6)]
    assert values(calm, 3).occurrences == ((3, 5), (4, 0))


def test_switch_s_uses_the_old_event_at_the_switch_time() -> None:
    """Sodium's switchS: an occurrence simultaneous with the switch comes from the old stream."""
    a = DiscreteEvent.from_pairs([(1, "a1"), (2, "a2"), (3, "a3")])
    b = DiscreteEvent.from_pairs([(1, "b1"), (2, "b2"), (3, "b3")])
    selected = DiscreteEvent.from_pairs([(2, b)]).hold(a)
    assert switch_s(selected).occurrences == ((1, "a1"), (2, "a2"), (3, "b3"))


def test_switch_e_starts_with_the_initial_event() -> None:
    """reactive-banana's switchE: the initial event, then each change's event, switched after it."""
    first = DiscreteEvent.from_pairs([(0, "x"), (5, "y")])
    second = DiscreteEvent.from_pairs([(1, "p"), (3, "q"), (6, "r")])
    third = DiscreteEvent.from_pairs([(4, "s"), (6, "t")])
    changes = DiscreteEvent.from_pairs([(2, second), (4, third)])
    assert switch_e(first, changes).occurrences == ((0, "x"), (3, "q"), (6, "t"))
    assert switch_e(first, DiscreteEvent.never()).occurrences == first.occurrences


def test_switch_s_refuses_a_behavior_that_is_not_stepwise() -> None:
    """A behaviour of events must be a step behaviour to be switched."""
    with pytest.raises(ValueError, match="not a step behaviour"):
        switch_s(Behavior.from_function(lambda t: DiscreteEvent.never()))


def test_updates_of_a_switched_behavior_follow_the_current_one() -> None:
    """switch updates at each switch and at updates of the behaviour current then, not others."""
    a = DiscreteEvent.from_pairs([(1, 1), (5, 2)]).hold(0)
    b = DiscreteEvent.from_pairs([(2, 10), (4, 20), (6, 30)]).hold(9)
    switched = DiscreteEvent.from_pairs([(3, b), (5, a)]).hold(a).switch()
    assert updates(switched).occurrences == ((1, 1), (3, 10), (4, 20), (5, 2))
    assert [switched.at(t) for t in range(8)] == [0, 0, 1, 1, 10, 20, 2, 2]


def test_hold_from_is_sodiums_hold_created_inside_a_switch() -> None:
    """A hold created at a switch sees only occurrences from then on; plain hold sees them all."""
    clicks = DiscreteEvent.from_pairs([(1, "early"), (4, "late")])
    reset = DiscreteEvent.from_pairs([(2, "go")])
    sodium = (
        DiscreteEvent(tuple((t, clicks.hold_from(t, "none")) for t, _ in reset.occurrences))
        .hold(Behavior.constant("idle"))
        .switch()
    )
    whole = reset.map(lambda _: clicks.hold("none")).hold(Behavior.constant("idle")).switch()
    assert [sodium.at(t) for t in (2, 3, 5)] == ["idle", "none", "late"]
    assert [whole.at(t) for t in (2, 3, 5)] == ["idle", "early", "late"]


def test_hold_from_counts_an_occurrence_at_its_start() -> None:
    """An occurrence at the creation time is seen (just after it), as in Sodium's transaction."""
    held = DiscreteEvent.from_pairs([(3, "x")]).hold_from(3, "-")
    assert (held.at(3), held.at(4)) == ("-", "x")
    assert updates(held).occurrences == ((3, "x"),)


def test_hold_loop_balance_is_the_running_sum() -> None:
    """balance = hold(deposits snapshot balance) is the running sum of deposits."""
    deposits = DiscreteEvent.from_pairs([(1, 10), (3, 5), (7, -2)])
    balance = hold_loop(0, lambda b: deposits.snapshot(b, lambda d, total: total + d))
    assert [balance.at(t) for t in (0, 1, 2, 4, 8)] == [0, 0, 10, 15, 13]
    assert updates(balance).occurrences == ((1, 10), (3, 15), (7, 13))


def test_hold_loop_with_a_gate_on_its_own_value() -> None:
    """A loop may gate on itself: withdrawals are refused once the balance would go negative."""
    moves = DiscreteEvent.from_pairs([(1, 5), (2, -3), (3, -4), (4, 2), (5, -4)])
    balance = hold_loop(
        0,
        lambda b: moves.snapshot(b, lambda m, total: total + m).filter(lambda total: total >= 0),
    )
    assert updates(balance).occurrences == ((1, 5), (2, 2), (4, 4), (5, 0))


def test_hold_loop_with_datetime_times() -> None:
    """hold_loop works at any ordered time."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    ticks = DiscreteEvent.from_pairs([(start + timedelta(minutes=m), 1) for m in (1, 2, 3)])
    count = hold_loop(0, lambda b: ticks.snapshot(b, lambda one, n: n + one))
    assert count.at(start + timedelta(minutes=10)) == 3


def test_hold_loop_refuses_a_definition_that_looks_into_the_future() -> None:
    """A definition that samples its own value later than the occurrence never settles."""
    ticks = DiscreteEvent.from_pairs([(t, 1) for t in range(1, 4)])
    expected = (
        "hold_loop: the definition did not settle; it must be causal (an occurrence at t may "
        "depend on the held value only at times up to t)"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        hold_loop(0, lambda b: ticks.map(lambda _: 1 - b.at(10)))


def test_hold_loop_gives_one_round_more_than_the_times_it_has_seen() -> None:
    """A definition that settles in round len(seen) + 1 (one time, two rounds) is accepted."""
    looks_ahead = hold_loop(0, lambda b: DiscreteEvent.from_pairs([(1, min(b.at(2) + 1, 2))]))
    assert updates(looks_ahead).occurrences == ((1, 2),)


def test_switch_s_of_a_switched_cell() -> None:
    """A cell of events that is itself a switch starts from its first inner cell's first event."""
    a = DiscreteEvent.from_pairs([(1, "a1"), (3, "a3")])
    b = DiscreteEvent.from_pairs([(2, "b2"), (4, "b4")])
    later = DiscreteEvent.from_pairs([(2, b)]).hold(a)
    cell = DiscreteEvent.from_pairs([(1, later)]).hold(Behavior.constant(a)).switch()
    assert switch_s(cell).occurrences == ((1, "a1"), (4, "b4"))
    assert updates(cell.map(lambda e: len(e.occurrences))).occurrences == ((1, 2), (2, 2))
