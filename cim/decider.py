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

Combinators build bigger deciders: :func:`compose` puts two side by side (commands and events
tagged :class:`Left` or :class:`Right`), :func:`many` keeps one state per key.

>>> pair = compose(counter, counter)
>>> run(pair, Right(4), [Left(1)])
<Success: (Right(value=4),)>
>>> accounts = many(counter)
>>> sorted(state_of(accounts, [Keyed("a", 1), Keyed("b", 2), Keyed("a", 3)]).items())
[('a', 4), ('b', 2)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import Enum, auto
from functools import reduce
from typing import Generic, TypeVar

from attrs import field, frozen
from pyrsistent import PMap, pmap
from returns.result import Result

C = TypeVar("C")
E = TypeVar("E")
S = TypeVar("S")
C1 = TypeVar("C1")
E1 = TypeVar("E1")
S1 = TypeVar("S1")
C2 = TypeVar("C2")
E2 = TypeVar("E2")
S2 = TypeVar("S2")
K = TypeVar("K")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


def _details(value: Mapping[str, str]) -> PMap[str, str]:
    return pmap(value)


@frozen
class Rejection:
    """A command the decider refuses, with a human ``reason`` and a machine ``code``."""

    reason: str
    code: str = "rejected"
    details: PMap[str, str] = field(factory=pmap, converter=_details)

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


class _Initial(Enum):
    INITIAL = auto()


def state_of(
    decider: Decider[C, E, S], events: Iterable[E], state: S | _Initial = _Initial.INITIAL
) -> S:
    """The state after *events*, starting from *state* (default: ``decider.initial``).

    Any state given is where the fold starts, ``None`` included (a decider's state may be
    optional):

    >>> from returns.result import Success
    >>> optional = Decider(initial=5, decide=lambda c, s: Success(()),
    ...                    evolve=lambda s, e: None if e == "reset" else (s or 0) + e)
    >>> state_of(optional, [1], None), state_of(optional, [1])
    (1, 6)
    """
    start = decider.initial if state is _Initial.INITIAL else state
    return reduce(decider.evolve, events, start)


def run(
    decider: Decider[C, E, S], command: C, events: Iterable[E]
) -> Result[tuple[E, ...], Rejection]:
    """Decide *command* against the state that *events* lead to."""
    return decider.decide(command, state_of(decider, events))


@frozen
class Left(Generic[T_co]):
    """A command or event meant for the left decider of a :func:`compose`."""

    value: T_co


@frozen
class Right(Generic[T_co]):
    """A command or event meant for the right decider of a :func:`compose`."""

    value: T_co


@frozen
class Keyed(Generic[K, T_co]):
    """A command or event for the member ``key`` of a :func:`many` family."""

    key: K
    value: T_co


def _untagged(expected: str, value: object) -> TypeError:
    return TypeError(f"expected {expected}, got {value!r}")


@frozen
class _ComposedDecide(Generic[C1, E1, S1, C2, E2, S2]):
    left: Decider[C1, E1, S1]
    right: Decider[C2, E2, S2]

    def __call__(
        self, command: Left[C1] | Right[C2], state: tuple[S1, S2]
    ) -> Result[tuple[Left[E1] | Right[E2], ...], Rejection]:
        if isinstance(command, Left):
            decided_left = self.left.decide(command.value, state[0])
            return decided_left.map(lambda events: tuple(Left(e) for e in events))
        if isinstance(command, Right):
            decided_right = self.right.decide(command.value, state[1])
            return decided_right.map(lambda events: tuple(Right(e) for e in events))
        raise _untagged("a Left(...) or Right(...) command for a composed decider", command)


@frozen
class _ComposedEvolve(Generic[C1, E1, S1, C2, E2, S2]):
    left: Decider[C1, E1, S1]
    right: Decider[C2, E2, S2]

    def __call__(self, state: tuple[S1, S2], event: Left[E1] | Right[E2]) -> tuple[S1, S2]:
        if isinstance(event, Left):
            return self.left.evolve(state[0], event.value), state[1]
        if isinstance(event, Right):
            return state[0], self.right.evolve(state[1], event.value)
        raise _untagged("a Left(...) or Right(...) event for a composed decider", event)


@frozen
class _ComposedTerminal(Generic[C1, E1, S1, C2, E2, S2]):
    left: Decider[C1, E1, S1]
    right: Decider[C2, E2, S2]

    def __call__(self, state: tuple[S1, S2]) -> bool:
        return self.left.is_terminal(state[0]) and self.right.is_terminal(state[1])


def compose(
    left: Decider[C1, E1, S1], right: Decider[C2, E2, S2]
) -> Decider[Left[C1] | Right[C2], Left[E1] | Right[E2], tuple[S1, S2]]:
    """Two deciders side by side: one state pair, commands and events tagged by side.

    ``Left(command)`` goes to *left* and yields ``Left(event)``s (likewise for ``Right``); the pair
    is terminal when both sides are. Untagged input is a programmer error (``TypeError``).
    """
    return Decider(
        initial=(left.initial, right.initial),
        decide=_ComposedDecide(left, right),
        evolve=_ComposedEvolve(left, right),
        is_terminal=_ComposedTerminal(left, right),
    )


@frozen
class _ManyDecide(Generic[K, C, E, S]):
    member: Decider[C, E, S]

    def __call__(
        self, command: Keyed[K, C], states: PMap[K, S]
    ) -> Result[tuple[Keyed[K, E], ...], Rejection]:
        if not isinstance(command, Keyed):
            raise _untagged("a Keyed(key, ...) command for a many() decider", command)
        key = command.key
        decided = self.member.decide(command.value, states.get(key, self.member.initial))
        return decided.map(lambda events: tuple(Keyed(key, e) for e in events))


@frozen
class _ManyEvolve(Generic[K, C, E, S]):
    member: Decider[C, E, S]

    def __call__(self, states: PMap[K, S], event: Keyed[K, E]) -> PMap[K, S]:
        if not isinstance(event, Keyed):
            raise _untagged("a Keyed(key, ...) event for a many() decider", event)
        key = event.key
        current = states.get(key, self.member.initial)
        return states.set(key, self.member.evolve(current, event.value))


@frozen
class _ManyTerminal(Generic[K, C, E, S]):
    member: Decider[C, E, S]

    def __call__(self, states: PMap[K, S]) -> bool:
        is_terminal = self.member.is_terminal
        return is_terminal(self.member.initial) and all(map(is_terminal, states.values()))


def many(decider: Decider[C, E, S]) -> Decider[Keyed[K, C], Keyed[K, E], PMap[K, S]]:
    """A keyed family of *decider*: one state per key in a ``pmap``, created on first use.

    ``Keyed(key, command)`` is decided against that key's state (``decider.initial`` if new) and
    yields ``Keyed(key, event)``s. The family is terminal only when no key could accept a command.
    """
    decide: _ManyDecide[K, C, E, S] = _ManyDecide(decider)
    evolve: _ManyEvolve[K, C, E, S] = _ManyEvolve(decider)
    is_terminal: _ManyTerminal[K, C, E, S] = _ManyTerminal(decider)
    return Decider(initial=pmap(), decide=decide, evolve=evolve, is_terminal=is_terminal)


__all__ = (
    "Decider",
    "Keyed",
    "Left",
    "Rejection",
    "Right",
    "compose",
    "many",
    "run",
    "state_of",
)
