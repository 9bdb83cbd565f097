"""The state machine laws: determinism, ``can_transition`` agreement, invariants, invalid
transitions, and history replay. They hold for any :class:`~cim.fsm.StateMachine`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from copy import deepcopy
from typing import Any, Generic, TypeVar

from attrs import frozen
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from returns.result import Failure, Result, Success

from cim.fsm import (
    TRANSITION_ERRORS,
    Correspondence,
    Fsm,
    Invariant,
    StateMachine,
    TransitionError,
    WithHistory,
    refinement_counterexample,
    replay,
    same_label,
)
from laws._runner import LawViolation, check_law
from laws._support import attempt, guarded, with_max_examples

S = TypeVar("S")
In = TypeVar("In")


@frozen
class TransitionCase(Generic[S, In]):
    """A counterexample to a one-step law: ``input`` given in ``state``."""

    state: S
    input: In


@frozen
class ReplayCase(Generic[S, In]):
    """A counterexample to the replay law: ``inputs`` applied in turn from ``start``."""

    start: S
    inputs: list[In]


def _transition(
    machine: StateMachine[S, In, Any], state: S, input: In
) -> Result[tuple[S, Any], TransitionError[S, In]]:
    return attempt("transition", lambda: machine.transition(state, input))


def _apply(
    history: WithHistory[S, In, Any], input: In
) -> Result[WithHistory[S, In, Any], TransitionError[S, In]]:
    return attempt("WithHistory.apply", lambda: history.apply(input))


def check_fsm_laws(
    machine: StateMachine[S, In, Any],
    *,
    states: SearchStrategy[S],
    inputs: SearchStrategy[In],
    invariants: Iterable[Invariant[S]] = (),
    settings: Settings | None = None,
    max_examples: int | None = None,
) -> None:
    """Check the state machine laws for *machine* over drawn *states* and *inputs*.

    * determinism: the same state and input give the same result, every time;
    * ``can_transition(s, i)`` is ``True`` exactly when ``transition(s, i)`` succeeds;
    * each of *invariants* that holds in a state holds after any valid transition from it;
    * an invalid transition fails with a ``TransitionError`` and changes neither the state nor a
      :class:`~cim.fsm.WithHistory` around it (that it keeps failing, and that ``can_transition``
      keeps refusing it, is determinism and agreement);
    * replaying a history's accepted inputs from its start reproduces it exactly.

    Raises :class:`~laws.LawViolation` with a shrunk :class:`TransitionCase` or
    :class:`ReplayCase` when a law does not hold.
    """
    chosen = with_max_examples(settings, max_examples)
    cases = st.builds(TransitionCase, states, inputs)

    def deterministic(case: TransitionCase[S, In]) -> str | None:
        first = _transition(machine, case.state, case.input)
        second = _transition(machine, case.state, case.input)
        return None if first == second else f"transition gave {first!r}, then {second!r}"

    def agrees(case: TransitionCase[S, In]) -> str | None:
        result = _transition(machine, case.state, case.input)
        allowed = attempt("can_transition", lambda: machine.can_transition(case.state, case.input))
        if allowed == isinstance(result, Success):
            return None
        return f"can_transition is {allowed} but transition gave {result!r}"

    def preserves(invariant: Invariant[S]) -> Callable[[TransitionCase[S, In]], str | None]:
        def holds(case: TransitionCase[S, In]) -> str | None:
            if not attempt(invariant.name, lambda: invariant.holds(case.state)):
                return None
            result = _transition(machine, case.state, case.input)
            if isinstance(result, Success) and not attempt(
                invariant.name, lambda: invariant.holds(result.unwrap()[0])
            ):
                return f"{invariant.name!r} held before but not in {result.unwrap()[0]!r}"
            return None

        return holds

    def invalid_changes_nothing(case: TransitionCase[S, In]) -> str | None:
        state = deepcopy(case.state)  # the machine gets a copy: the counterexample stays intact
        history = WithHistory(machine, state)
        result = _apply(history, case.input)
        if not isinstance(result, Failure):
            return None
        error = result.failure()
        if not isinstance(error, TRANSITION_ERRORS):
            return f"failed with {error!r}, which is not a TransitionError"
        if state != case.state:
            return f"the refused input changed the state to {state!r}"
        if history != WithHistory(machine, case.state):
            return f"the refused input changed the history to {history!r}"
        return None

    def replay_reproduces(case: ReplayCase[S, In]) -> str | None:
        history = WithHistory(machine, case.start)
        for value in case.inputs:
            history = _apply(history, value).value_or(history)
        for earlier, later in zip(history.history, history.history[1:], strict=False):
            if earlier.target != later.source:
                return f"step {later!r} does not start where {earlier!r} ended"
        replayed = attempt("replay", lambda: replay(machine, case.start, history.inputs))
        if replayed != Success(history):
            return f"replaying {list(history.inputs)!r} gave {replayed!r}, not {history!r}"
        return None

    check_law("fsm determinism", cases, guarded(deterministic), chosen)
    check_law("fsm can_transition agrees with transition", cases, guarded(agrees), chosen)
    for invariant in invariants:
        check_law(
            f"fsm invariant {invariant.name!r} preserved",
            cases,
            guarded(preserves(invariant)),
            chosen,
        )
    check_law(
        "fsm invalid transition fails and changes nothing",
        cases,
        guarded(invalid_changes_nothing),
        chosen,
    )
    histories = st.builds(ReplayCase, states, st.lists(inputs, max_size=8))
    check_law("fsm history replay", histories, guarded(replay_reproduces), chosen)


@frozen
class EvolutionHistory(Generic[In]):
    """A counterexample to the evolution law: ``inputs`` given to both machines from initial."""

    inputs: list[In]


def check_fsm_evolution(
    old: Fsm[Any, Any, Any],
    new: Fsm[Any, Any, Any],
    *,
    inputs: SearchStrategy[Any] | None = None,
    corresponds: Correspondence = same_label,
    settings: Settings | None = None,
    max_examples: int | None = None,
) -> None:
    """Check that *new* accepts every history *old* accepts and ends in a corresponding state.

    First exhaustively, breadth first, over the inputs *old* knows (rows' values and
    ``sample_inputs``; :func:`cim.fsm.refinement_counterexample`): a violation carries the
    shortest :class:`~cim.fsm.Divergence`. Then, when *inputs* is given (for rows that match by
    class and guards that look at values), over drawn input sequences: the inputs *old*
    refuses are dropped, and a violation carries a shrunk :class:`EvolutionHistory`. States
    correspond by *corresponds* (default: equal or the same label, so two releases' Enums match
    by member name). See :func:`cim.fsm.fsm_diff` for what changed.
    """
    chosen = with_max_examples(settings, max_examples)
    divergence = refinement_counterexample(old, new, corresponds)
    if divergence is not None:
        raise LawViolation(
            "fsm evolution: old histories still accepted", divergence, str(divergence)
        )
    if inputs is None:
        return

    def follows(case: EvolutionHistory[Any]) -> str | None:
        old_state, new_state = old.initial, new.initial
        accepted: list[Any] = []
        for value in case.inputs:
            stepped = _transition(old, old_state, value)
            if isinstance(stepped, Failure):
                continue
            accepted.append(value)
            old_state = stepped.unwrap()[0]
            followed = _transition(new, new_state, value)
            if isinstance(followed, Failure):
                return f"the new machine refuses {value!r} after {accepted[:-1]!r}: {followed.failure()}"
            new_state = followed.unwrap()[0]
            if not corresponds(old_state, new_state):
                return f"after {accepted!r} the old machine is in {old_state!r}, the new one in {new_state!r}"
        return None

    histories = st.builds(EvolutionHistory, st.lists(inputs, max_size=12))
    check_law("fsm evolution: drawn histories", histories, guarded(follows), chosen)
