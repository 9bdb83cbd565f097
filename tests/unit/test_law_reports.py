"""The law checkers name the call that raised, and search only as long as they are told.

These pin what a violation *says* and how much a checker *runs*: mutation testing of ``laws/``
showed that a checker reporting the wrong call, or ignoring ``settings``, still passed every
planted-bug test.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from cim.decider import Decider, Rejection
from cim.fsm import InvalidTransition, Invariant, TransitionError
from laws import LawViolation, check_decider_laws, check_fsm_laws
from tests.unit._drawn import counted

Decision = Result[tuple[int, ...], Rejection]


class Counter:
    """A machine counting 0..3 whose parts can be made to raise."""

    def __init__(self, *, raising: str = "") -> None:
        self.raising = raising

    def transition(
        self, state: int, input: int
    ) -> Result[tuple[int, int], TransitionError[int, int]]:
        if self.raising == "transition":
            raise ValueError("boom")
        if 0 <= state + input <= 3:
            return Success((state + input, input))
        return Failure(InvalidTransition(state, input))

    def can_transition(self, state: int, input: int) -> bool:
        if self.raising == "can_transition":
            raise ValueError("boom")
        return 0 <= state + input <= 3


def _fsm_violation(
    machine: Counter, invariants: list[Invariant[int]] | None = None, highest_start: int = 3
) -> str:
    with pytest.raises(LawViolation) as caught:
        check_fsm_laws(
            machine,
            states=st.integers(0, highest_start),
            inputs=st.integers(-1, 1),
            invariants=invariants or [],
            max_examples=20,
        )
    return caught.value.detail


def test_a_raising_transition_is_reported_as_transition() -> None:
    """transition raising is the violation, named as the call to transition."""
    assert _fsm_violation(Counter(raising="transition")) == "transition() raised ValueError: boom"


def test_a_raising_can_transition_is_reported_as_can_transition() -> None:
    """can_transition raising is the violation, named as the call to can_transition."""
    detail = _fsm_violation(Counter(raising="can_transition"))
    assert detail == "can_transition() raised ValueError: boom"


def _raises_on(bad: int) -> Invariant[int]:
    def holds(state: int) -> bool:
        if state == bad:
            raise ValueError(f"cannot judge {state}")
        return True

    return Invariant("judged", holds)


def test_an_invariant_raising_in_the_start_state_is_reported_by_its_name() -> None:
    """An invariant raising on the state before the step is named in the violation."""
    assert (
        _fsm_violation(Counter(), [_raises_on(0)]) == "judged() raised ValueError: cannot judge 0"
    )


def test_an_invariant_raising_in_the_reached_state_is_reported_by_its_name() -> None:
    """An invariant raising only on the state a step reaches is named in the violation too."""
    detail = _fsm_violation(Counter(), [_raises_on(3)], highest_start=2)
    assert detail == "judged() raised ValueError: cannot judge 3"


class StuckOnceMoved:
    """Planted bug: every input moves 0 to 1, and transition raises in 1 (never a drawn state)."""

    def transition(
        self, state: int, input: int
    ) -> Result[tuple[int, int], TransitionError[int, int]]:
        if state == 1:
            raise ValueError("stuck in 1")
        return Success((1, input))

    def can_transition(self, state: int, input: int) -> bool:
        return state == 0


def test_a_step_raising_in_a_reached_state_is_reported_as_with_history_apply() -> None:
    """The replay law's walk meets the raising state: the violation names WithHistory.apply."""
    with pytest.raises(LawViolation) as caught:
        check_fsm_laws(StuckOnceMoved(), states=st.just(0), inputs=st.integers(0, 3))
    assert caught.value.law == "fsm history replay"
    assert caught.value.detail == "WithHistory.apply() raised ValueError: stuck in 1"


class RaisesOnSeenInput:
    """Planted bug: in state 1 an accepted input is marked as seen, and a seen one raises."""

    def transition(
        self, state: int, input: list[str]
    ) -> Result[tuple[int, None], TransitionError[int, list[str]]]:
        if state == 1 and input:
            raise ValueError("seen before")
        if state == 1:
            input.append("seen")
        return Success((1, None))

    def can_transition(self, state: int, input: list[str]) -> bool:
        return not (state == 1 and input)


def test_a_replay_raising_is_reported_as_replay() -> None:
    """The walk passes but replaying its (now marked) inputs raises: the violation names replay."""
    with pytest.raises(LawViolation) as caught:
        check_fsm_laws(RaisesOnSeenInput(), states=st.just(0), inputs=st.builds(list))
    assert caught.value.law == "fsm history replay"
    assert caught.value.detail == "replay() raised ValueError: seen before"


@pytest.mark.parametrize("options", [{"max_examples": 2}, {"settings": settings(max_examples=2)}])
def test_check_fsm_laws_runs_no_more_examples_than_asked(options: dict[str, Any]) -> None:
    """Asked for two examples (by max_examples or by settings), each law draws about two states."""
    states: list[int] = []
    drawn_states = counted(states, st.integers(0, 3))
    in_range: Invariant[int] = Invariant("0..3", lambda n: 0 <= n <= 3)
    check_fsm_laws(
        Counter(), states=drawn_states, inputs=st.integers(-1, 1), invariants=[in_range], **options
    )
    # five laws (one invariant), one state per example; the default would be 100 per law (or
    # all 12 cases of this small space)
    assert 0 < len(states) <= 5 * 2


def _adder(raising: str = "") -> Decider[int, int, int]:
    """A decider that adds its command and closes at 10, raising in the part named *raising*."""

    def decide(command: int, state: int) -> Decision:
        if raising == "decide":
            raise ValueError("boom")
        if raising == "decide-returns":
            return (command,)  # type: ignore[return-value]
        return Success((command,)) if state < 10 else Failure(Rejection("closed", "closed"))

    def evolve(state: int, event: int) -> int:
        if raising == "evolve":
            raise ValueError("boom")
        return state + event

    def is_terminal(state: int) -> bool:
        if raising == "is_terminal":
            raise ValueError("boom")
        return state >= 10

    return Decider(0, decide, evolve, is_terminal)


def _decider_violation(raising: str) -> str:
    decider = _adder(raising)
    with pytest.raises(LawViolation) as caught:
        check_decider_laws(decider, st.integers(1, 3), max_examples=20)
    return caught.value.detail


def test_a_raising_is_terminal_is_reported_as_is_terminal() -> None:
    """is_terminal raising on the initial state is named with that state."""
    assert _decider_violation("is_terminal") == "is_terminal(0) raised ValueError: boom"


def test_a_raising_decide_is_reported_as_decide() -> None:
    """decide raising is named with its command and state."""
    assert re.fullmatch(r"decide\([123], 0\) raised ValueError: boom", _decider_violation("decide"))


def test_a_raising_evolve_is_reported_as_evolve() -> None:
    """evolve raising is named with its state and event."""
    assert re.fullmatch(r"evolve\(0, [123]\) raised ValueError: boom", _decider_violation("evolve"))


def test_a_decide_returning_no_result_is_reported_as_decide() -> None:
    """decide returning something other than a Result is a TypeError naming the call."""
    assert re.fullmatch(
        r"decide\(([123]), 0\) raised TypeError: returned \(\1,\), not a Success or Failure",
        _decider_violation("decide-returns"),
    )


@pytest.mark.parametrize("options", [{"max_examples": 2}, {"settings": settings(max_examples=2)}])
def test_check_decider_laws_runs_no_more_examples_than_asked(options: dict[str, Any]) -> None:
    """Asked for two examples (by max_examples or by settings), each law draws a few commands."""
    commands: list[int] = []
    check_decider_laws(_adder(), counted(commands, st.integers(1, 3)), **options)
    # four laws of two examples, each at most 15 + 1 + 6 commands; the default would be 100 each
    assert 0 < len(commands) <= 4 * 2 * (15 + 1 + 6)
