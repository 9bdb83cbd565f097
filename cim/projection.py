"""Pure projections: ``step(state, event) -> (state, effects)``, folded over event streams.

>>> from cim.effects import Log
>>> counter = Projection("count", 0, lambda n, e: (n + 1, (Log("info", f"saw {e}"),)))
>>> folded = fold(counter, ["a", "b"])
>>> folded.state, len(folded.effects)
(2, 2)
>>> list(scan(counter, ["a", "b"]))
[0, 1, 2]

Combinators build new projections from old ones: :func:`product` runs two side by side,
:func:`premap` and :func:`filter_events` change what a projection sees.

>>> both = product(counter, premap(counter, str.upper))
>>> fold(both, ["a"]).state
(1, 1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Generic, TypeVar

from attrs import frozen
from pyrsistent import PVector, pvector

from cim.effects import Effect

S = TypeVar("S")
S1 = TypeVar("S1")
S2 = TypeVar("S2")
E = TypeVar("E")
E2 = TypeVar("E2")


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


def scan(projection: Projection[S, E], events: Iterable[E], state: S | None = None) -> Iterator[S]:
    """Yield the starting state, then the state after each event (lazily, so it streams too).

    The last state yielded is ``fold(projection, events, state).state``.
    """
    current = projection.initial if state is None else state
    yield current
    step = projection.step
    for event in events:
        current, _ = step(current, event)
        yield current


@frozen
class _BothSteps(Generic[S1, S2, E]):
    left: Callable[[S1, E], tuple[S1, Sequence[Effect]]]
    right: Callable[[S2, E], tuple[S2, Sequence[Effect]]]

    def __call__(self, state: tuple[S1, S2], event: E) -> tuple[tuple[S1, S2], Sequence[Effect]]:
        left, left_effects = self.left(state[0], event)
        right, right_effects = self.right(state[1], event)
        return (left, right), (*left_effects, *right_effects)


def product(left: Projection[S1, E], right: Projection[S2, E]) -> Projection[tuple[S1, S2], E]:
    """Run *left* and *right* side by side over the same events.

    The state is the pair of both states; each event's effects are *left*'s, then *right*'s.
    """
    return Projection(
        f"{left.name}*{right.name}",
        (left.initial, right.initial),
        _BothSteps(left.step, right.step),
    )


@frozen
class _PremappedStep(Generic[S, E, E2]):
    step: Callable[[S, E], tuple[S, Sequence[Effect]]]
    transform: Callable[[E2], E]

    def __call__(self, state: S, event: E2) -> tuple[S, Sequence[Effect]]:
        return self.step(state, self.transform(event))


def premap(projection: Projection[S, E], transform: Callable[[E2], E]) -> Projection[S, E2]:
    """A projection of ``E2`` events that feeds ``transform(event)`` to *projection*.

    Typical use: ``premap(p, lambda envelope: envelope.payload)`` folds stored envelopes.
    """
    return Projection(
        projection.name, projection.initial, _PremappedStep(projection.step, transform)
    )


@frozen
class _FilteredStep(Generic[S, E]):
    step: Callable[[S, E], tuple[S, Sequence[Effect]]]
    keep: Callable[[E], bool]

    def __call__(self, state: S, event: E) -> tuple[S, Sequence[Effect]]:
        if self.keep(event):
            return self.step(state, event)
        return state, ()


def filter_events(projection: Projection[S, E], keep: Callable[[E], bool]) -> Projection[S, E]:
    """A projection that only shows *projection* the events for which ``keep(event)`` is true.

    Other events leave the state unchanged and produce no effects.
    """
    return Projection(projection.name, projection.initial, _FilteredStep(projection.step, keep))


__all__ = (
    "Folded",
    "Projection",
    "filter_events",
    "fold",
    "premap",
    "product",
    "scan",
)
