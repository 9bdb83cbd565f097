"""Pure projections: ``step(state, event) -> (state, effects)``, folded over event streams.

>>> from cim.effects import Log
>>> counter = Projection("count", 0, lambda n, e: (n + 1, (Log("info", f"saw {e}"),)))
>>> folded = fold(counter, ["a", "b"])
>>> folded.state, len(folded.effects)
(2, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

from attrs import frozen
from pyrsistent import PVector, pvector

from cim.effects import Effect

S = TypeVar("S")
E = TypeVar("E")


@frozen
class Projection(Generic[S, E]):
    """A named, pure read-model builder: ``step`` returns the new state and the effects to run."""

    name: str
    initial: S
    step: Callable[[S, E], tuple[S, Sequence[Effect]]]


@frozen
class Folded(Generic[S]):
    """The result of a fold: the final ``state`` and every effect, in order."""

    state: S
    effects: PVector[Effect]


def fold(projection: Projection[S, E], events: Iterable[E], state: S | None = None) -> Folded[S]:
    """Fold *events* through *projection* from *state* (default ``projection.initial``).

    Streams: *events* may be a generator of any length; only the state and effects are kept.
    """
    current = projection.initial if state is None else state
    effects: PVector[Effect] = pvector()
    log = effects.evolver()
    step = projection.step
    for event in events:
        current, produced = step(current, event)
        log.extend(produced)
    return Folded(current, log.persistent())
