"""Why a transition did not happen: the three :data:`TransitionError` values."""

from __future__ import annotations

from typing import Generic, TypeAlias, TypeVar

from attrs import frozen

from cim.fsm._invariant import Invariant
from cim.fsm._labels import label

S = TypeVar("S")
In = TypeVar("In")


@frozen
class InvalidTransition(Generic[S, In]):
    """No transition leaves ``state`` on ``input``."""

    state: S
    input: In

    def __str__(self) -> str:
        return f"no transition from {label(self.state)} on {label(self.input)}"


@frozen
class GuardRejected(Generic[S, In]):
    """A transition matches ``input`` in ``state`` but its guard refused, for ``reason``."""

    state: S
    input: In
    reason: str

    def __str__(self) -> str:
        return f"{label(self.input)} refused in {label(self.state)}: {self.reason}"


@frozen
class InvariantViolated(Generic[S]):
    """The transition would lead to ``state``, which breaks ``invariant``."""

    state: S
    invariant: Invariant[S]

    def __str__(self) -> str:
        return f"{label(self.state)} breaks invariant {self.invariant.name!r}"


TransitionError: TypeAlias = InvalidTransition[S, In] | GuardRejected[S, In] | InvariantViolated[S]
"""Every reason a state machine refuses an input (``TransitionError[S, In]``)."""

TRANSITION_ERRORS = (InvalidTransition, GuardRejected, InvariantViolated)
"""The :data:`TransitionError` classes, for ``isinstance`` checks."""
