"""``Fsm``: a state machine defined by a table of :class:`Transition` rows."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import Any, Generic, TypeVar

from attrs import Factory, field, frozen
from pyrsistent import PMap, pmap
from returns.result import Failure, Result, Success

from cim.decider import Decider
from cim.fsm import _analysis, _diagram
from cim.fsm._decider import to_decider
from cim.fsm._errors import GuardRejected, InvalidTransition, InvariantViolated, TransitionError
from cim.fsm._invariant import Invariant
from cim.fsm._labels import label
from cim.fsm._table import Transition, table_problems

S = TypeVar("S")
In = TypeVar("In")
Out = TypeVar("Out")


def _rows(rows: Iterable[Transition[S, In, Out]]) -> tuple[Transition[S, In, Out], ...]:
    return tuple(rows)


def _invariants(invariants: Iterable[Invariant[S]]) -> tuple[Invariant[S], ...]:
    return tuple(invariants)


def _values(values: Iterable[S]) -> tuple[S, ...]:
    return tuple(values)


def _members_of_initial(fsm: Fsm[Any, Any, Any]) -> tuple[Any, ...]:
    if isinstance(fsm.initial, Enum):
        return tuple(type(fsm.initial))
    raise ValueError(
        f"pass states=...: they can be inferred only when the initial state is an Enum member, "
        f"and {fsm.initial!r} is not"
    )


@frozen
class Fsm(Generic[S, In, Out]):
    """A finite state machine whose every transition is a row of data.

    Rows are tried in table order: the first row leaving the state that matches the input and
    whose guard accepts it fires. If rows matched but every guard refused, the result is
    :class:`GuardRejected`; if none matched, :class:`InvalidTransition`; if the target breaks an
    invariant, :class:`InvariantViolated`. States must be hashable.

    ``states`` defaults to the members of the initial state's Enum. ``finals`` are the states
    where the lifecycle ends (no row may leave them). ``sample_inputs`` are example inputs for
    rows that match by class; analysis, :meth:`enabled` and :attr:`inputs` use them (rows that
    match by value are their own example).

    >>> turnstile = Fsm(
    ...     initial="locked",
    ...     transitions=[
    ...         Transition("locked", "coin", "unlocked", output="unlock"),
    ...         Transition("unlocked", "push", "locked", output="lock"),
    ...     ],
    ...     states=("locked", "unlocked"),
    ... )
    >>> turnstile.transition("locked", "coin")
    <Success: ('unlocked', 'unlock')>
    >>> print(turnstile.why_not("locked", "push"))
    no transition from locked on push
    """

    initial: S
    transitions: tuple[Transition[S, In, Out], ...] = field(converter=_rows)
    invariants: tuple[Invariant[S], ...] = field(default=(), converter=_invariants)
    states: tuple[S, ...] = field(
        kw_only=True, default=Factory(_members_of_initial, takes_self=True), converter=_values
    )
    finals: tuple[S, ...] = field(kw_only=True, default=(), converter=_values)
    sample_inputs: tuple[In, ...] = field(kw_only=True, default=(), converter=_values)
    _rows_from: PMap[S, tuple[int, ...]] = field(init=False, repr=False, eq=False)
    _inputs: tuple[In, ...] = field(init=False, repr=False, eq=False)

    @_rows_from.default
    def _index_rows(self) -> PMap[S, tuple[int, ...]]:
        index: dict[S, tuple[int, ...]] = {}
        for i, row in enumerate(self.transitions):
            index[row.source] = (*index.get(row.source, ()), i)
        return pmap(index)

    @_inputs.default
    def _known_inputs(self) -> tuple[In, ...]:
        values = [row.on for row in self.transitions if not isinstance(row.on, type)]
        distinct: list[In] = []
        for value in (*values, *self.sample_inputs):
            if value not in distinct:
                distinct.append(value)
        return tuple(distinct)

    def __attrs_post_init__(self) -> None:
        problems = table_problems(self.transitions, self.states, self.initial, self.finals)
        problems.extend(
            f"initial state {label(self.initial)} breaks invariant {invariant.name!r}"
            for invariant in self.invariants
            if not invariant.holds(self.initial)
        )
        if problems:
            raise ValueError("invalid state machine:\n  " + "\n  ".join(problems))

    @property
    def inputs(self) -> tuple[In, ...]:
        """The concrete inputs the machine knows: rows' ``on`` values that are not classes,
        then ``sample_inputs``; no duplicates, in that order."""
        return self._inputs

    def row_index(self, state: S, input: In) -> Result[int, TransitionError[S, In]]:
        """The position in :attr:`transitions` of the row that fires for *input* in *state*, or
        why none does: the first row from *state* that matches *input*, whose guard accepts it
        and whose target keeps every invariant. Every other query (:meth:`transition`,
        :meth:`row_for`, the analysis) is answered from it; the index tells apart rows that are
        equal as values."""
        refusals: list[str] = []
        for i in self._rows_from.get(state, ()):
            row = self.transitions[i]
            if not row.matches(input):
                continue
            reason = row.refusal(state, input)
            if reason is not None:
                refusals.append(reason)
                continue
            for invariant in self.invariants:
                if not invariant.holds(row.target):
                    return Failure(InvariantViolated(row.target, invariant))
            return Success(i)
        if refusals:
            return Failure(GuardRejected(state, input, "; ".join(refusals)))
        return Failure(InvalidTransition(state, input))

    def transition(
        self, state: S, input: In
    ) -> Result[tuple[S, Out | None], TransitionError[S, In]]:
        """The next state and the row's output, or why *input* is refused in *state*."""
        return self.row_index(state, input).map(
            lambda i: (self.transitions[i].target, self.transitions[i].output)
        )

    def can_transition(self, state: S, input: In) -> bool:
        """Whether :meth:`transition` succeeds."""
        return isinstance(self.row_index(state, input), Success)

    def why_not(self, state: S, input: In) -> TransitionError[S, In] | None:
        """Why *input* is refused in *state*, or ``None`` when it is accepted."""
        result = self.row_index(state, input)
        return result.failure() if isinstance(result, Failure) else None

    def row_for(
        self, state: S, input: In
    ) -> Result[Transition[S, In, Out], TransitionError[S, In]]:
        """The row that fires for *input* in *state* (useful to measure coverage)."""
        return self.row_index(state, input).map(lambda i: self.transitions[i])

    def enabled(self, state: S) -> tuple[In, ...]:
        """The known :attr:`inputs` that *state* accepts, in :attr:`inputs` order."""
        return tuple(value for value in self._inputs if self.can_transition(state, value))

    def is_terminal(self, state: S) -> bool:
        """Whether no row leaves *state* (every final state is terminal)."""
        return not self._rows_from.get(state)

    def as_decider(self) -> Decider[In, In, S]:
        """This machine as a :class:`~cim.decider.Decider`: commands and events are the inputs.

        ``decide`` accepts an input as its own single event or rejects it with a
        :class:`~cim.decider.Rejection` whose ``code`` names the :data:`TransitionError`;
        ``evolve`` applies an accepted input; terminal states are those no row leaves.
        """
        return to_decider(self, self.initial, is_terminal=self.is_terminal)

    def reachable_states(self) -> tuple[S, ...]:
        """States some input sequence leads to from ``initial`` (in ``states`` order)."""
        return _analysis.reachable_states(self)

    def unreachable_states(self) -> tuple[S, ...]:
        """States no input sequence leads to from ``initial``."""
        return _analysis.unreachable_states(self)

    def dead_ends(self) -> tuple[S, ...]:
        """Non-final states that no transition can leave (traps)."""
        return _analysis.dead_ends(self)

    def never_fired(self) -> tuple[Transition[S, In, Out], ...]:
        """Rows that no reachable state can use."""
        return _analysis.never_fired(self)

    def shortest_path(self, target: S) -> tuple[In, ...] | None:
        """The fewest inputs leading from ``initial`` to *target*; ``None`` if unreachable."""
        return _analysis.shortest_path(self, target)

    def transition_cover(self) -> tuple[tuple[In, ...], ...]:
        """Input sequences from ``initial`` that together take every reachable row."""
        return _analysis.transition_cover(self)

    def to_mermaid(self, highlight: S | None = None) -> str:
        """A Mermaid ``stateDiagram-v2``; *highlight* marks one state (e.g. the current one)."""
        return _diagram.to_mermaid(self, highlight)

    def to_dot(self, highlight: S | None = None) -> str:
        """A Graphviz ``digraph``; *highlight* fills one state."""
        return _diagram.to_dot(self, highlight)
