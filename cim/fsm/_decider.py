"""Any :class:`StateMachine` as a :class:`~cim.decider.Decider`, without glue code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from returns.result import Failure, Result

from cim.decider import Decider, Rejection
from cim.fsm._errors import GuardRejected, InvalidTransition, InvariantViolated, TransitionError
from cim.fsm._labels import label
from cim.fsm._protocol import StateMachine

S = TypeVar("S")
In = TypeVar("In")


def _never_terminal(state: object) -> bool:
    return False


def rejection_of(error: TransitionError[Any, Any]) -> Rejection:
    """The :class:`Rejection` for a refused transition; ``code`` names the error's kind.

    >>> print(rejection_of(InvalidTransition("locked", "push")))
    invalid_transition: no transition from locked on push
    """
    details = {"state": label(error.state)}
    match error:
        case InvalidTransition(input=refused):
            code = "invalid_transition"
            details["input"] = label(refused)
        case GuardRejected(input=refused, reason=reason):
            code = "guard_rejected"
            details["input"] = label(refused)
            details["reason"] = reason
        case InvariantViolated(invariant=invariant):
            code = "invariant_violated"
            details["invariant"] = invariant.name
    return Rejection(str(error), code, details)


def to_decider(
    machine: StateMachine[S, In, Any],
    initial: S,
    *,
    is_terminal: Callable[[S], bool] = _never_terminal,
) -> Decider[In, In, S]:
    """A decider whose state is the machine's state and whose events are the accepted inputs.

    ``decide(input, state)`` gives ``(input,)`` when the machine accepts it, else a
    :class:`Rejection` (codes ``invalid_transition``, ``guard_rejected``,
    ``invariant_violated``). ``evolve`` raises ``ValueError`` for an event the machine refuses:
    such an event cannot have been decided by this machine.
    """

    def decide(command: In, state: S) -> Result[tuple[In, ...], Rejection]:
        return machine.transition(state, command).map(lambda _: (command,)).alt(rejection_of)

    def evolve(state: S, event: In) -> S:
        result = machine.transition(state, event)
        if isinstance(result, Failure):
            raise ValueError(f"cannot evolve by {event!r}: {result.failure()}")
        return result.unwrap()[0]

    return Decider(initial=initial, decide=decide, evolve=evolve, is_terminal=is_terminal)
