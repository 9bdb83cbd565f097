"""The state machine laws: they pass for good machines and catch planted broken ones."""

from __future__ import annotations

import itertools
from enum import Enum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from returns.result import Failure, Result, Success

import laws._fsm_laws as fsm_laws
from cim.examples.orders import Cancel, OrderInput, order_fsm
from cim.fsm import Fsm, InvalidTransition, Invariant, Transition, TransitionError, replay
from laws import LawViolation, TransitionCase, check_fsm_laws
from laws.strategies import valid_input_sequences
from tests.unit._drawn import longest_drawn

FEW = settings(max_examples=60, deadline=None)


def turnstile() -> Fsm[str, str, str]:
    return Fsm(
        "locked",
        [
            Transition("locked", "coin", "unlocked", output="unlock"),
            Transition("unlocked", "push", "locked", output="lock"),
            Transition("unlocked", "coin", "unlocked", output="refund"),
        ],
        states=("locked", "unlocked"),
    )


class BoundedCounter:
    """A hand-written machine over an unbounded state type: counts from 0 to 3."""

    def transition(
        self, state: int, input: int
    ) -> Result[tuple[int, int], TransitionError[int, int]]:
        if 0 <= state + input <= 3:
            return Success((state + input, input))
        return Failure(InvalidTransition(state, input))

    def can_transition(self, state: int, input: int) -> bool:
        return 0 <= state + input <= 3


IN_RANGE: Invariant[int] = Invariant("0 <= count <= 3", lambda n: 0 <= n <= 3)


def test_the_order_machine_obeys_the_laws() -> None:
    """The order example passes every law, blank cancellations included."""
    inputs = st.sampled_from(order_fsm.inputs) | st.builds(Cancel, st.sampled_from(["", " ", "x"]))
    check_fsm_laws(order_fsm, states=st.sampled_from(order_fsm.states), inputs=inputs, settings=FEW)


def test_a_machine_with_outputs_obeys_the_laws() -> None:
    """A turnstile with outputs on every row passes the laws."""
    fsm = turnstile()
    check_fsm_laws(
        fsm,
        states=st.sampled_from(fsm.states),
        inputs=st.sampled_from(["coin", "push", "kick"]),
        settings=FEW,
    )


def test_a_hand_written_state_machine_obeys_the_laws_and_its_invariant() -> None:
    """Any StateMachine can be checked, with invariants over its states."""
    check_fsm_laws(
        BoundedCounter(),
        states=st.integers(0, 3),
        inputs=st.integers(-4, 4),
        invariants=[IN_RANGE],
        settings=FEW,
    )


class Light(Enum):
    RED = "red"
    GREEN = "green"
    BROKEN = "broken"


def test_the_checker_rejects_a_machine_breaking_an_invariant() -> None:
    """A row into a state that breaks the invariant is found, with the shrunk (state, input)."""
    light: Fsm[Light, str, None] = Fsm(
        Light.RED,
        [
            Transition(Light.RED, "go", Light.GREEN),
            Transition(Light.GREEN, "stop", Light.RED),
            Transition(Light.GREEN, "hit", Light.BROKEN),
        ],
    )
    with pytest.raises(LawViolation) as violation:
        check_fsm_laws(
            light,
            states=st.sampled_from(light.states),
            inputs=st.sampled_from(["go", "stop", "hit"]),
            invariants=[Invariant("never broken", lambda s: s is not Light.BROKEN)],
            settings=FEW,
        )
    assert violation.value.law == "fsm invariant 'never broken' preserved"
    assert violation.value.counterexample == TransitionCase(Light.GREEN, "hit")
    assert "held before but not in <Light.BROKEN: 'broken'>" in violation.value.detail


class CountingTurnstile:
    """Planted bug: the output reads a counter that every call advances."""

    def __init__(self) -> None:
        self.calls = itertools.count()

    def transition(
        self, state: str, input: str
    ) -> Result[tuple[str, int], TransitionError[str, str]]:
        if input == "coin":
            return Success(("unlocked", next(self.calls)))
        return Failure(InvalidTransition(state, input))

    def can_transition(self, state: str, input: str) -> bool:
        return input == "coin"


def test_the_checker_rejects_a_non_deterministic_machine() -> None:
    """A transition reading mutable state fails determinism, on the simplest accepted input."""
    with pytest.raises(LawViolation) as violation:
        check_fsm_laws(
            CountingTurnstile(),
            states=st.sampled_from(["locked", "unlocked"]),
            inputs=st.sampled_from(["push", "coin"]),
            settings=FEW,
        )
    assert violation.value.law == "fsm determinism"
    assert violation.value.counterexample == TransitionCase("locked", "coin")


class Optimist:
    """Planted bug: can_transition always says yes."""

    def transition(
        self, state: str, input: str
    ) -> Result[tuple[str, None], TransitionError[str, str]]:
        return turnstile().transition(state, input).map(lambda moved: (moved[0], None))

    def can_transition(self, state: str, input: str) -> bool:
        return True


def test_the_checker_rejects_can_transition_disagreeing_with_transition() -> None:
    """can_transition saying yes to a refused input is caught."""
    with pytest.raises(LawViolation) as violation:
        check_fsm_laws(
            Optimist(),
            states=st.sampled_from(["locked", "unlocked"]),
            inputs=st.sampled_from(["coin", "push"]),
            settings=FEW,
        )
    assert violation.value.law == "fsm can_transition agrees with transition"
    assert violation.value.counterexample == TransitionCase("locked", "push")


class Scribbler:
    """Planted bug: a refused input scribbles on the (mutable) state."""

    def transition(
        self, state: list[str], input: str
    ) -> Result[tuple[list[str], None], TransitionError[list[str], str]]:
        if input == "ok":
            return Success(([*state, input], None))
        state.append("oops")
        return Failure(InvalidTransition(state, input))

    def can_transition(self, state: list[str], input: str) -> bool:
        return input == "ok"


def test_the_checker_rejects_a_refusal_that_changes_the_state() -> None:
    """An invalid transition that mutates its state is caught."""
    with pytest.raises(LawViolation) as violation:
        check_fsm_laws(
            Scribbler(),
            states=st.lists(st.just("x"), max_size=2),
            inputs=st.sampled_from(["ok", "bad"]),
            settings=FEW,
        )
    assert violation.value.law == "fsm invalid transition fails and changes nothing"
    assert violation.value.counterexample == TransitionCase([], "bad")


class InputMarker:
    """Planted bug: in state 1 an accepted input is marked (mutated), and a marked one is refused."""

    def transition(
        self, state: int, input: list[str]
    ) -> Result[tuple[int, None], TransitionError[int, list[str]]]:
        if state == 1 and input:
            return Failure(InvalidTransition(state, input))
        if state == 1:
            input.append("seen")
        return Success((1, None))

    def can_transition(self, state: int, input: list[str]) -> bool:
        return not (state == 1 and input)


def test_the_checker_rejects_a_history_its_replay_does_not_reproduce() -> None:
    """Inputs mutated by the steps taking them no longer replay: the replay law says what it got."""
    with pytest.raises(LawViolation) as violation:
        check_fsm_laws(InputMarker(), states=st.just(0), inputs=st.builds(list))
    assert violation.value.law == "fsm history replay"
    assert violation.value.detail.startswith("replaying [[], ['seen']")
    assert " gave <Failure: no transition from 1 on " in violation.value.detail


def test_drawn_replay_histories_have_the_documented_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay law draws at most 8 inputs after the start state, and that many are drawn."""
    handed: list[SearchStrategy[Any]] = []
    monkeypatch.setattr(
        fsm_laws, "check_law", lambda law, cases, holds, chosen: handed.append(cases)
    )
    check_fsm_laws(BoundedCounter(), states=st.integers(0, 3), inputs=st.integers(-1, 1))
    assert len(handed) == 4  # determinism, agreement, invalid transitions, replay
    assert longest_drawn(handed[-1], "inputs") == {"inputs": 8}


@FEW
@given(valid_input_sequences(order_fsm))
def test_valid_input_sequences_are_accepted_by_the_machine(inputs: tuple[OrderInput, ...]) -> None:
    """Every drawn sequence replays from the initial state without a refusal."""
    assert isinstance(replay(order_fsm, order_fsm.initial, inputs), Success)
