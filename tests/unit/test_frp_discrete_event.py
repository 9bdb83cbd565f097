"""Discrete events mean time-ordered occurrences: each combinator against that meaning."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cim.frp import Behavior, DiscreteEvent
from laws.strategies import discrete_events, signal_times

SEED = DiscreteEvent.from_pairs([(0, "create"), (5, "update"), (10, "delete")])


def test_seed_filter_drops_delete() -> None:
    """The seed's filter(!= "delete") keeps create at 0 and update at 5."""
    assert SEED.filter(lambda s: s != "delete").occurrences == ((0, "create"), (5, "update"))


def test_from_pairs_sorts_stably_by_time() -> None:
    """from_pairs sorts by time and keeps input order among equal times."""
    event = DiscreteEvent.from_pairs([(2, "b"), (1, "a"), (2, "c"), (1, "d")])
    assert event.occurrences == ((1, "a"), (1, "d"), (2, "b"), (2, "c"))


def test_from_pairs_accepts_datetimes() -> None:
    """Any totally ordered time works, e.g. aware datetimes."""
    late, early = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)
    assert DiscreteEvent.from_pairs([(late, 1), (early, 2)]).occurrences == ((early, 2), (late, 1))


def test_from_pairs_rejects_incomparable_and_nan_times() -> None:
    """Mixed incomparable times are a TypeError, a NaN time a ValueError, non-pairs a TypeError."""
    with pytest.raises(TypeError, match="mutually comparable"):
        DiscreteEvent.from_pairs([(1, "a"), ("x", "b")])
    with pytest.raises(ValueError, match="nan"):
        DiscreteEvent.from_pairs([(float("nan"), "a")])
    with pytest.raises(TypeError, match="pair"):
        DiscreteEvent.from_pairs([(1, "a", "extra")])  # type: ignore[arg-type]


def test_constructor_requires_time_order() -> None:
    """The constructor refuses unordered occurrences and points at from_pairs."""
    with pytest.raises(ValueError, match="from_pairs"):
        DiscreteEvent(((2, "b"), (1, "a")))


def test_never_has_no_occurrences() -> None:
    """never() never occurs."""
    assert DiscreteEvent.never().occurrences == ()


def test_map_keeps_times() -> None:
    """map transforms values and keeps every time."""
    assert SEED.map(len).occurrences == ((0, 6), (5, 6), (10, 6))


def test_merge_interleaves_by_time_left_first() -> None:
    """merge is the time-ordered union, left occurrences before right ones at equal times."""
    left = DiscreteEvent.from_pairs([(1, "l1"), (3, "l3"), (3, "l3b")])
    right = DiscreteEvent.from_pairs([(0, "r0"), (3, "r3")])
    assert left.merge(right).occurrences == (
        (0, "r0"),
        (1, "l1"),
        (3, "l3"),
        (3, "l3b"),
        (3, "r3"),
    )


def test_merge_with_combine_pairs_simultaneous_occurrences() -> None:
    """With combine, the i-th simultaneous occurrences pair up; the rest pass through in order."""
    left = DiscreteEvent.from_pairs([(1, "a"), (2, "b"), (2, "c")])
    right = DiscreteEvent.from_pairs([(2, "x"), (3, "y")])
    assert left.merge(right, lambda a, b: a + b).occurrences == (
        (1, "a"),
        (2, "bx"),
        (2, "c"),
        (3, "y"),
    )


def test_take_and_skip_split_the_occurrences() -> None:
    """take(n) keeps the first n, skip(n) the rest; a negative count is a ValueError."""
    assert SEED.take(2).occurrences == ((0, "create"), (5, "update"))
    assert SEED.skip(2).occurrences == ((10, "delete"),)
    assert SEED.take(0).occurrences == ()
    assert SEED.skip(5).occurrences == ()
    with pytest.raises(ValueError, match="-1"):
        SEED.take(-1)


def test_between_is_half_open() -> None:
    """between(t0, t1) includes t0, excludes t1, and tiles adjacent windows."""
    assert SEED.between(0, 10).occurrences == ((0, "create"), (5, "update"))
    assert SEED.between(5, 11).occurrences == ((5, "update"), (10, "delete"))
    assert SEED.between(5, 5).occurrences == ()
    assert SEED.between(0, 5).merge(SEED.between(5, 20)) == SEED.between(0, 20)
    with pytest.raises(ValueError, match="before the start"):
        SEED.between(5, 4)


def test_scan_emits_running_values_and_fold_the_last() -> None:
    """scan emits f's running value at each time; fold is the final value (initial if empty)."""
    amounts = DiscreteEvent.from_pairs([(1, 10), (4, 5), (4, -3)])
    assert amounts.scan(0, lambda a, b: a + b).occurrences == ((1, 10), (4, 15), (4, 12))
    assert amounts.fold(0, lambda a, b: a + b) == 12
    assert DiscreteEvent[int].never().fold(7, lambda a, b: a + b) == 7


def test_accum_is_the_fold_strictly_before_t() -> None:
    """accum at t folds the occurrences strictly before t."""
    total = DiscreteEvent.from_pairs([(1, 10), (4, 5), (4, -3)]).accum(0, lambda a, b: a + b)
    assert [total.at(t) for t in (0, 1, 2, 4, 5)] == [0, 0, 10, 10, 12]


def test_hold_is_the_last_value_strictly_before_t() -> None:
    """hold at t is the last occurrence strictly before t (the last of simultaneous ones)."""
    held = DiscreteEvent.from_pairs([(5, "a"), (5, "b"), (8, "c")]).hold("none")
    assert [held.at(t) for t in (4, 5, 6, 8, 9)] == ["none", "none", "b", "b", "c"]


def test_snapshot_samples_the_behaviour_at_each_occurrence() -> None:
    """snapshot pairs each occurrence with the behaviour's value at its time."""
    price = DiscreteEvent.from_pairs([(3, 20)]).hold(10)
    orders = DiscreteEvent.from_pairs([(1, 2), (3, 2), (4, 1)])
    assert orders.snapshot(price, lambda qty, p: qty * p).occurrences == ((1, 20), (3, 20), (4, 20))


def test_gate_keeps_occurrences_while_the_behaviour_is_true() -> None:
    """gate drops occurrences at times where the boolean behaviour is false."""
    open_ = Behavior.from_function(lambda t: 2 <= t < 6)
    gated = DiscreteEvent.from_pairs([(1, "a"), (2, "b"), (5, "c"), (6, "d")]).gate(open_)
    assert gated.occurrences == ((2, "b"), (5, "c"))


def test_events_are_frozen_values() -> None:
    """Events compare by value and cannot be changed."""
    assert DiscreteEvent.from_pairs([(1, "a")]) == DiscreteEvent(((1, "a"),))
    with pytest.raises(AttributeError):
        SEED.occurrences = ()  # type: ignore[misc]


@given(discrete_events(), st.lists(signal_times(), min_size=3, max_size=3).map(sorted))
def test_between_windows_tile(event: DiscreteEvent[int], bounds: list[int]) -> None:
    """For a <= b <= c, between(a, b) followed by between(b, c) is between(a, c)."""
    a, b, c = bounds
    joined = event.between(a, b).occurrences + event.between(b, c).occurrences
    assert joined == event.between(a, c).occurrences


@given(discrete_events(), st.integers(0, 10))
def test_take_then_skip_is_everything(event: DiscreteEvent[int], n: int) -> None:
    """take(n) followed by skip(n) is the whole event."""
    assert event.take(n).occurrences + event.skip(n).occurrences == event.occurrences
