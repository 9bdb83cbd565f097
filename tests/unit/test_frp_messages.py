"""The exact refusals of cim.frp: each programmer error names the offending value."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from cim.frp import Accumulator, DiscreteEvent, OutOfOrder


def refused(error: type[Exception], message: str) -> Any:
    """pytest.raises for exactly *message*."""
    return pytest.raises(error, match=f"^{re.escape(message)}$")


def test_an_occurrence_must_be_a_pair() -> None:
    """Anything but a 2-tuple is refused, shown as given."""
    with refused(TypeError, "an occurrence must be a (time, value) pair, got [1, 'a']"):
        DiscreteEvent.from_pairs([[1, "a"]])  # type: ignore[arg-type]
    with refused(TypeError, "an occurrence must be a (time, value) pair, got (1, 2, 3)"):
        DiscreteEvent([(1, 2, 3)])  # type: ignore[arg-type]


def test_times_must_be_ordered_and_comparable() -> None:
    """The constructor names the two times out of order; from_pairs names incomparable ones."""
    with refused(
        ValueError,
        "occurrences must be ordered by time: 1 comes after 2; "
        "use DiscreteEvent.from_pairs to sort them",
    ):
        DiscreteEvent([(2, "b"), (1, "a")])
    with pytest.raises(TypeError, match=r"^occurrence times must be mutually comparable: "):
        DiscreteEvent.from_pairs([(1, "a"), ("x", "b")])
    with refused(
        ValueError, "time nan is not equal to itself (NaN?); times must be totally ordered"
    ):
        DiscreteEvent.from_pairs([(math.nan, "a")])


def test_counts_and_windows_are_checked() -> None:
    """take/skip need a count >= 0; between needs its end not before its start."""
    event = DiscreteEvent.from_pairs([(1, "a")])
    with refused(ValueError, "expected a count >= 0, got -1"):
        event.take(-1)
    with refused(ValueError, "expected a count >= 0, got 1.5"):
        event.skip(1.5)  # type: ignore[arg-type]
    with refused(ValueError, "between(3, 2): the end is before the start"):
        event.between(3, 2)
    assert event.take(0).occurrences == ()
    assert event.skip(0).occurrences == event.occurrences
    assert event.between(1, 1).occurrences == ()


def test_the_evaluator_names_what_it_refuses() -> None:
    """OutOfOrder reads naturally; sampling the past names both times."""
    acc: Accumulator[int, int] = Accumulator.start(0, lambda a, b: a + b)
    acc = acc.push(4, 1).unwrap()
    assert str(OutOfOrder(last_time=4, time=3)) == "occurrence at 3 arrived after one at 4"
    with refused(
        ValueError, "cannot sample at 3: the evaluator has moved on to 4 and keeps no history"
    ):
        acc.at(3)
    assert acc.at(4) == 0
    assert acc.at(5) == 1
    assert Accumulator.start(7, lambda a, b: a + b).at(0) == 7
