"""Behaviours mean functions of time: the seed's examples and every combinator's value at t."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cim.frp import Behavior, DiscreteEvent, apply, lift2


def test_seed_constant_map_and_apply2_give_zero_everywhere() -> None:
    """The seed's constant(0), map(*2) and apply2(+) (here lift2) are 0 at every time."""
    counter = Behavior.constant(0)
    doubled = counter.map(lambda n: n * 2)
    total = lift2(lambda a, b: a + b, counter, doubled)
    assert [b.at(t) for t in (0, 5, 10) for b in (counter, doubled, total)] == [0] * 9


def test_lift2_combines_pointwise() -> None:
    """lift2(f, a, b).at(t) is f(a.at(t), b.at(t)) for varying behaviours."""
    a = Behavior.time()
    b = Behavior.from_function(lambda t: t * t)
    total = lift2(lambda x, y: (x, y), a, b)
    assert [total.at(t) for t in (0, 2, 3)] == [(0, 0), (2, 4), (3, 9)]


def test_apply_applies_the_function_current_at_t() -> None:
    """apply samples the function behaviour and the argument behaviour at the same t."""
    functions = DiscreteEvent.from_pairs([(5, lambda x: x * 100)]).hold(lambda x: x + 1)
    result = apply(functions, Behavior.time())
    assert [result.at(t) for t in (1, 5, 6)] == [2, 6, 600]


def test_time_is_the_identity_on_any_ordered_time() -> None:
    """Behavior.time() returns the sampling time itself, whatever its type."""
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    assert Behavior.time().at(moment) is moment
    assert Behavior.time().at(2.5) == 2.5


def test_from_function_samples_the_function() -> None:
    """from_function(f).at(t) is f(t)."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    age = Behavior.from_function(lambda t: (t - start).days)
    assert age.at(start + timedelta(days=3)) == 3


def test_map_composes_in_order() -> None:
    """b.map(f).map(g) applies f first, then g."""
    b = Behavior.time().map(lambda t: t + 1).map(lambda t: t * 10)
    assert b.at(2) == 30


def test_switch_samples_the_behaviour_current_at_t() -> None:
    """switch follows the behaviour the outer behaviour holds at each time."""
    outer = Behavior.from_function(
        lambda t: Behavior.constant("early") if t < 10 else Behavior.time()
    )
    switched = outer.switch()
    assert [switched.at(t) for t in (0, 9, 10, 12)] == ["early", "early", 10, 12]


def test_switch_of_hold_switches_just_after_the_occurrence() -> None:
    """changes.hold(first).switch() follows first until just after the change occurs."""
    changes = DiscreteEvent.from_pairs([(3, Behavior.time().map(lambda t: -t))])
    followed = changes.hold(Behavior.constant(0)).switch()
    assert [followed.at(t) for t in (2, 3, 4, 7)] == [0, 0, -4, -7]


def test_behaviors_are_frozen() -> None:
    """A behaviour is an immutable record."""
    b = Behavior.constant(1)
    with pytest.raises(AttributeError):
        b.function = lambda t: 2  # type: ignore[misc]
