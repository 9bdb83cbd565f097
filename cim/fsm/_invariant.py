"""Named predicates on states that must hold wherever a machine goes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from attrs import frozen

S = TypeVar("S")


@frozen
class Invariant(Generic[S]):
    """A property every state must have; ``name`` says which one broke.

    >>> non_negative = Invariant("balance never negative", lambda balance: balance >= 0)
    >>> non_negative.holds(5), non_negative.holds(-1), str(non_negative)
    (True, False, 'balance never negative')
    """

    name: str
    holds: Callable[[S], bool]

    def __str__(self) -> str:
        return self.name
