"""Deciders: pure command handling as ``decide``, ``evolve`` and ``is_terminal``.

>>> from returns.result import Success
>>> counter = Decider(
...     initial=0,
...     decide=lambda cmd, state: Success((cmd,)),
...     evolve=lambda state, event: state + event,
... )
>>> state_of(counter, [1, 2, 3])
6
>>> run(counter, 5, [1])
<Success: (5,)>
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import reduce
from typing import Generic, TypeVar

from attrs import field, frozen
from pyrsistent import PMap, pmap
from returns.result import Result

C = TypeVar("C")
E = TypeVar("E")
S = TypeVar("S")


@frozen
class Rejection:
    """A command the decider refuses, with a human ``reason`` and a machine ``code``."""

    reason: str
    code: str = "rejected"
    details: PMap[str, str] = field(factory=pmap, converter=pmap)

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


def _never_terminal(state: object) -> bool:
    return False


@frozen
class Decider(Generic[C, E, S]):
    """Decide which events a command causes, and evolve state by events.

    ``decide(command, state)`` returns the events to append or a :class:`Rejection`;
    ``evolve(state, event)`` is the state after one event; a terminal state accepts no command.
    """

    initial: S
    decide: Callable[[C, S], Result[tuple[E, ...], Rejection]]
    evolve: Callable[[S, E], S]
    is_terminal: Callable[[S], bool] = _never_terminal


def state_of(decider: Decider[C, E, S], events: Iterable[E], state: S | None = None) -> S:
    """The state after *events*, starting from *state* (default: ``decider.initial``)."""
    start = decider.initial if state is None else state
    return reduce(decider.evolve, events, start)


def run(
    decider: Decider[C, E, S], command: C, events: Iterable[E]
) -> Result[tuple[E, ...], Rejection]:
    """Decide *command* against the state that *events* lead to."""
    return decider.decide(command, state_of(decider, events))
