"""The ``Signal`` protocol: what behaviours and discrete events have in common (a functor)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

T_co = TypeVar("T_co", covariant=True)
U = TypeVar("U")


class Signal(Protocol[T_co]):
    """A time-varying value you can transform without looking at time: a functor.

    Both :class:`~cim.frp.Behavior` and :class:`~cim.frp.DiscreteEvent` are signals, so code
    written against ``Signal[T]`` works on either and the type checker follows the values:

    >>> from cim.frp import Behavior, DiscreteEvent
    >>> def labelled(signal: Signal[int]) -> Signal[str]:
    ...     return signal.map(lambda n: f"#{n}")
    >>> labelled(Behavior.constant(3)).at(0)
    '#3'
    >>> labelled(DiscreteEvent.from_pairs([(1, 4)])).occurrences
    ((1, '#4'),)

    Both declare ``Signal`` as a base, as mypy does not yet infer this recursive generic protocol
    structurally; your own signal types can do the same.

    Laws (checked by ``laws.check_signal_laws``): ``s.map(id) == s`` and
    ``s.map(f).map(g) == s.map(lambda x: g(f(x)))``.
    """

    def map(self, f: Callable[[T_co], U]) -> Signal[U]:
        """``f`` applied to every value, at the same times."""
        ...
