"""The :class:`StateMachine` protocol: any object that moves states by inputs, purely."""

from __future__ import annotations

from typing import Protocol, TypeVar

from returns.result import Result

from cim.fsm._errors import TransitionError

S = TypeVar("S")
In = TypeVar("In")
Out_co = TypeVar("Out_co", covariant=True)


class StateMachine(Protocol[S, In, Out_co]):
    """A pure state machine: the same state and input always give the same result.

    ``can_transition(state, input)`` is ``True`` exactly when ``transition(state, input)`` is a
    ``Success``. A machine is a value separate from its states: one machine serves any number.
    """

    def transition(
        self, state: S, input: In, /
    ) -> Result[tuple[S, Out_co], TransitionError[S, In]]:
        """The next state and the output, or why *input* is refused in *state*."""
        ...

    def can_transition(self, state: S, input: In, /) -> bool:
        """Whether :meth:`transition` would succeed."""
        ...
