"""``WithHistory``: a machine's current state plus every step that led there, replayable."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from attrs import evolve, field, frozen
from pyrsistent import PVector, pvector
from returns.result import Failure, Result, Success

from cim.fsm._errors import TransitionError
from cim.fsm._protocol import StateMachine

S = TypeVar("S")
In = TypeVar("In")
Out = TypeVar("Out")


@frozen
class Step(Generic[S, In, Out]):
    """One accepted input: from ``source``, ``input`` led to ``target`` producing ``output``."""

    source: S
    input: In
    target: S
    output: Out


def _steps(steps: Iterable[Step[S, In, Out]]) -> PVector[Step[S, In, Out]]:
    return pvector(steps)


@frozen
class WithHistory(Generic[S, In, Out]):
    """The current ``state`` of ``machine`` and the persistent ``history`` of steps taken.

    >>> from cim.fsm import Fsm, Transition
    >>> door = Fsm(
    ...     "shut", [Transition("shut", "open", "open"), Transition("open", "close", "shut")],
    ...     states=("shut", "open"),
    ... )
    >>> walked = WithHistory(door, "shut").apply("open").bind(lambda h: h.apply("close"))
    >>> walked.map(lambda h: (h.state, h.inputs))
    <Success: ('shut', ('open', 'close'))>
    >>> replay(door, "shut", ["open", "close"]) == walked
    True
    """

    machine: StateMachine[S, In, Out] = field(repr=False)
    state: S
    history: PVector[Step[S, In, Out]] = field(factory=pvector, converter=_steps)

    @property
    def start(self) -> S:
        """The state the history starts from."""
        return self.history[0].source if self.history else self.state

    @property
    def inputs(self) -> tuple[In, ...]:
        """The accepted inputs, in order: ``replay(machine, start, inputs)`` rebuilds this."""
        return tuple(step.input for step in self.history)

    @property
    def outputs(self) -> tuple[Out, ...]:
        """The outputs of the steps, in order."""
        return tuple(step.output for step in self.history)

    def apply(self, input: In) -> Result[WithHistory[S, In, Out], TransitionError[S, In]]:
        """This history one step further, or why *input* is refused (``self`` is untouched)."""
        return self.machine.transition(self.state, input).map(
            lambda moved: evolve(
                self,
                state=moved[0],
                history=self.history.append(Step(self.state, input, moved[0], moved[1])),
            )
        )


def replay(
    machine: StateMachine[S, In, Out], initial: S, inputs: Iterable[In]
) -> Result[WithHistory[S, In, Out], TransitionError[S, In]]:
    """Apply *inputs* in order from *initial*; the first refused input is the failure."""
    history = WithHistory(machine, initial)
    for input in inputs:
        moved = history.apply(input)
        if isinstance(moved, Failure):
            return moved
        history = moved.unwrap()
    return Success(history)
