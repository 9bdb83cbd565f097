"""Table-defined state machines: matching, guards, invariants, refusals, history and deciders."""

from __future__ import annotations

from enum import Enum

import pytest
from attrs import frozen
from pyrsistent import pvector
from returns.result import Failure, Success

from cim.decider import Rejection, run, state_of
from cim.fsm import (
    Fsm,
    GuardRejected,
    InvalidTransition,
    Invariant,
    InvariantViolated,
    StateMachine,
    Step,
    Transition,
    WithHistory,
    replay,
    to_decider,
)


class Door(Enum):
    OPEN = "open"
    SHUT = "shut"
    LOCKED = "locked"


@frozen
class Lock:
    code: int


def right_code(state: Door, command: object) -> bool | str:
    return (isinstance(command, Lock) and command.code == 1234) or "wrong code"


def door() -> Fsm[Door, str | Lock, str]:
    return Fsm(
        Door.OPEN,
        [
            Transition(Door.OPEN, "close", Door.SHUT, output="thud"),
            Transition(Door.SHUT, "open", Door.OPEN, output="creak"),
            Transition(Door.SHUT, Lock, Door.LOCKED, output="click", guard=right_code),
            Transition(Door.LOCKED, "open", Door.LOCKED, output="rattle"),
        ],
        sample_inputs=(Lock(1234),),
    )


def test_rows_match_inputs_by_equality() -> None:
    """An input equal to a row's ``on`` value takes that row and yields its output."""
    assert door().transition(Door.OPEN, "close") == Success((Door.SHUT, "thud"))


def test_rows_match_inputs_by_class() -> None:
    """A row whose ``on`` is a class takes any instance of it."""
    assert door().transition(Door.SHUT, Lock(1234)) == Success((Door.LOCKED, "click"))


def test_row_index_is_the_position_of_the_row_that_fires() -> None:
    """row_index names the firing row by its place in the table, or says why none fires."""
    machine = door()
    assert machine.row_index(Door.SHUT, Lock(1234)) == Success(2)
    assert machine.row_index(Door.LOCKED, "open") == Success(3)
    assert machine.row_index(Door.SHUT, Lock(1)) == Failure(
        GuardRejected(Door.SHUT, Lock(1), "wrong code")
    )


def test_unmatched_input_is_an_invalid_transition() -> None:
    """No row for the input in that state gives InvalidTransition(state, input), never an exception."""
    result = door().transition(Door.OPEN, "open")
    assert result == Failure(InvalidTransition(Door.OPEN, "open"))
    assert str(result.failure()) == "no transition from OPEN on open"


def test_a_guard_returning_a_reason_refuses_with_that_reason() -> None:
    """A guard's reason comes back inside GuardRejected."""
    assert door().transition(Door.SHUT, Lock(1)) == Failure(
        GuardRejected(Door.SHUT, Lock(1), "wrong code")
    )


def test_a_guard_returning_false_refuses_with_its_name() -> None:
    """A guard returning False is reported by its function name."""

    def never(state: str, input: str) -> bool:
        return False

    fsm: Fsm[str, str, None] = Fsm(
        "a", [Transition("a", "go", "b", guard=never)], states=("a", "b")
    )
    assert fsm.why_not("a", "go") == GuardRejected("a", "go", "guard never refused")


def test_a_guard_returning_anything_else_is_a_programming_error() -> None:
    """A guard must return True, False or a str; anything else raises TypeError."""
    fsm: Fsm[str, str, None] = Fsm(
        "a",
        [Transition("a", "go", "b", guard=lambda s, i: 1)],  # type: ignore[arg-type,return-value]
        states=("a", "b"),
    )
    with pytest.raises(TypeError, match="guards return True, False or a reason"):
        fsm.transition("a", "go")


def test_rows_are_tried_in_table_order_and_a_refusing_guard_falls_through() -> None:
    """The first matching row whose guard accepts fires; an unguarded row after it is the default."""
    fsm: Fsm[str, int, None] = Fsm(
        "idle",
        [
            Transition("idle", int, "big", guard=lambda s, n: n > 10),
            Transition("idle", int, "small"),
        ],
        states=("idle", "big", "small"),
    )
    assert fsm.transition("idle", 50) == Success(("big", None))
    assert fsm.transition("idle", 5) == Success(("small", None))


def test_every_refusing_guard_is_reported() -> None:
    """When every matching row's guard refuses, the reasons are joined."""
    fsm: Fsm[str, int, None] = Fsm(
        "a",
        [
            Transition("a", int, "b", guard=lambda s, n: n > 10 or "too small"),
            Transition("a", int, "c", guard=lambda s, n: n < 0 or "not negative"),
        ],
        states=("a", "b", "c"),
    )
    assert fsm.why_not("a", 5) == GuardRejected("a", 5, "too small; not negative")


def test_a_target_breaking_an_invariant_is_refused_naming_it() -> None:
    """A transition into a state that breaks an invariant fails with InvariantViolated."""
    not_locked: Invariant[Door] = Invariant("never locked", lambda d: d is not Door.LOCKED)
    fsm: Fsm[Door, str, None] = Fsm(
        Door.OPEN,
        [Transition(Door.OPEN, "close", Door.SHUT), Transition(Door.SHUT, "lock", Door.LOCKED)],
        [not_locked],
    )
    result = fsm.transition(Door.SHUT, "lock")
    assert result == Failure(InvariantViolated(Door.LOCKED, not_locked))
    assert "never locked" in str(result.failure())
    assert not fsm.can_transition(Door.SHUT, "lock")


def test_can_transition_and_why_not_agree_with_transition() -> None:
    """can_transition is True exactly when why_not is None and transition succeeds."""
    fsm = door()
    for state in fsm.states:
        for value in ("open", "close", Lock(1), Lock(1234), "kick"):
            result = fsm.transition(state, value)
            assert fsm.can_transition(state, value) == isinstance(result, Success)
            assert (fsm.why_not(state, value) is None) == isinstance(result, Success)


def test_enabled_lists_the_known_inputs_a_state_accepts() -> None:
    """enabled(state) draws from inputs (row values, then samples) and each one is accepted."""
    fsm = door()
    assert fsm.inputs == ("close", "open", Lock(1234))
    assert fsm.enabled(Door.SHUT) == ("open", Lock(1234))
    assert fsm.enabled(Door.OPEN) == ("close",)


def test_row_for_names_the_row_that_fires() -> None:
    """row_for returns the row itself, for coverage measurements."""
    fsm = door()
    assert fsm.row_for(Door.SHUT, Lock(1234)) == Success(fsm.transitions[2])


def test_states_default_to_the_members_of_the_initial_enum() -> None:
    """With an Enum initial state, every member is a state, in definition order."""
    assert door().states == (Door.OPEN, Door.SHUT, Door.LOCKED)


def test_states_must_be_given_when_the_initial_state_is_not_an_enum() -> None:
    """Without an Enum, leaving out states= is refused rather than guessed."""
    with pytest.raises(ValueError, match="pass states="):
        Fsm("a", [Transition("a", "go", "b")])


def test_ambiguous_rows_are_refused_naming_both() -> None:
    """Two unguarded rows for the same source and input are refused; the message names them."""
    with pytest.raises(ValueError, match=r"ambiguous: transitions\[0\] .* and transitions\[2\]"):
        Fsm(
            Door.OPEN,
            [
                Transition(Door.OPEN, "close", Door.SHUT),
                Transition(Door.SHUT, "open", Door.OPEN),
                Transition(Door.OPEN, "close", Door.LOCKED),
            ],
        )


def test_overlapping_class_and_value_rows_are_ambiguous() -> None:
    """An unguarded class row and an unguarded row for one of its instances are ambiguous."""
    with pytest.raises(ValueError, match=r"transitions\[0\] .* and transitions\[1\]"):
        Fsm(
            Door.SHUT,
            [Transition(Door.SHUT, Lock, Door.LOCKED), Transition(Door.SHUT, Lock(1), Door.OPEN)],
        )


def test_a_guarded_row_behind_an_unguarded_one_is_refused() -> None:
    """A guarded row that an earlier unguarded row always beats can never fire: refused."""
    with pytest.raises(ValueError, match=r"transitions\[1\] .* can never fire"):
        Fsm(
            Door.SHUT,
            [
                Transition(Door.SHUT, "open", Door.OPEN),
                Transition(Door.SHUT, "open", Door.LOCKED, guard=lambda s, i: True),
            ],
        )


def test_rows_naming_unknown_states_are_refused_naming_the_row() -> None:
    """A source or target outside states= is refused, naming the row and the state."""
    with pytest.raises(ValueError) as refused:
        Fsm(
            "idle",
            [Transition("idle", "go", "runing"), Transition("lost", "go", "idle")],
            states=("idle", "running"),
        )
    message = str(refused.value)
    assert "transitions[0] (idle --go--> runing) names unknown target state runing" in message
    assert "transitions[1] (lost --go--> idle) names unknown source state lost" in message


def test_rows_leaving_a_final_state_are_refused() -> None:
    """A final state is where the lifecycle ends: no row may leave it."""
    with pytest.raises(ValueError, match=r"transitions\[1\] .* leaves final state SHUT"):
        Fsm(
            Door.OPEN,
            [Transition(Door.OPEN, "close", Door.SHUT), Transition(Door.SHUT, "open", Door.OPEN)],
            finals=(Door.SHUT,),
        )


def test_an_initial_state_breaking_an_invariant_is_refused() -> None:
    """The machine cannot start where its own invariant fails."""
    with pytest.raises(ValueError, match="initial state OPEN breaks invariant 'shut'"):
        Fsm(Door.OPEN, [], [Invariant("shut", lambda d: d is Door.SHUT)])


def test_fsm_is_a_state_machine() -> None:
    """An Fsm satisfies the StateMachine protocol (checked by mypy here)."""
    machine: StateMachine[Door, str | Lock, str | None] = door()
    assert machine.can_transition(Door.OPEN, "close")


def test_with_history_records_each_step() -> None:
    """apply adds a Step(source, input, target, output) and moves the state."""
    walked = WithHistory(door(), Door.OPEN).apply("close").bind(lambda h: h.apply(Lock(1234)))
    assert walked.map(lambda h: (h.state, h.history)) == Success(
        (
            Door.LOCKED,
            pvector(
                [
                    Step(Door.OPEN, "close", Door.SHUT, "thud"),
                    Step(Door.SHUT, Lock(1234), Door.LOCKED, "click"),
                ]
            ),
        )
    )
    assert walked.map(lambda h: (h.start, h.inputs, h.outputs)) == Success(
        (Door.OPEN, ("close", Lock(1234)), ("thud", "click"))
    )


def test_a_refused_input_leaves_the_history_unchanged() -> None:
    """apply returns the error and the original WithHistory is untouched."""
    history = WithHistory(door(), Door.OPEN).apply("close").unwrap()
    assert history.apply(Lock(9)) == Failure(GuardRejected(Door.SHUT, Lock(9), "wrong code"))
    assert history.state is Door.SHUT
    assert len(history.history) == 1


def test_replay_reproduces_a_history_and_stops_at_the_first_refusal() -> None:
    """replay(machine, start, inputs) equals step-by-step apply; a refused input is the failure."""
    fsm = door()
    history = WithHistory(fsm, Door.OPEN).apply("close").bind(lambda h: h.apply("open")).unwrap()
    assert replay(fsm, history.start, history.inputs) == Success(history)
    assert replay(fsm, Door.OPEN, ["close", "close", "open"]) == Failure(
        InvalidTransition(Door.SHUT, "close")
    )


def test_as_decider_accepts_inputs_as_their_own_events() -> None:
    """The FSM as a Decider: decide returns (input,), evolve moves the state."""
    decider = door().as_decider()
    assert decider.initial is Door.OPEN
    assert run(decider, "open", ["close"]) == Success(("open",))
    events: list[str | Lock] = ["close", Lock(1234)]
    assert state_of(decider, events) is Door.LOCKED


def test_as_decider_rejections_say_which_transition_error_it_was() -> None:
    """Each TransitionError maps to a Rejection code with details."""
    not_locked: Invariant[Door] = Invariant("never locked", lambda d: d is not Door.LOCKED)
    machine: Fsm[Door, str | Lock, None] = Fsm(
        Door.SHUT,
        [
            Transition(Door.SHUT, Lock, Door.OPEN, guard=right_code),
            Transition(Door.SHUT, "lock", Door.LOCKED),
        ],
        [not_locked],
    )
    guarded = machine.as_decider()
    assert guarded.decide("kick", Door.SHUT) == Failure(
        Rejection(
            "no transition from SHUT on kick",
            "invalid_transition",
            {"state": "SHUT", "input": "kick"},
        )
    )
    refused = guarded.decide(Lock(1), Door.SHUT).failure()
    assert (refused.code, refused.details["reason"]) == ("guard_rejected", "wrong code")
    broken = guarded.decide("lock", Door.SHUT).failure()
    assert (broken.code, broken.details["invariant"]) == ("invariant_violated", "never locked")


def test_as_decider_terminal_states_are_those_no_row_leaves() -> None:
    """is_terminal is True for states with no way out (finals included)."""
    fsm: Fsm[Door, str, None] = Fsm(
        Door.OPEN, [Transition(Door.OPEN, "close", Door.SHUT)], finals=(Door.SHUT,)
    )
    decider = fsm.as_decider()
    assert [decider.is_terminal(s) for s in fsm.states] == [False, True, True]


def test_evolving_by_a_refused_event_is_a_programming_error() -> None:
    """An event the machine refuses cannot come from its own decisions: ValueError."""
    with pytest.raises(ValueError, match="cannot evolve by 'open'"):
        door().as_decider().evolve(Door.OPEN, "open")


def test_to_decider_works_for_any_state_machine() -> None:
    """to_decider turns any StateMachine into a Decider given its initial state."""

    class Counter:
        def transition(
            self, state: int, input: int
        ) -> Success[tuple[int, None]] | Failure[InvalidTransition[int, int]]:
            if input > 0:
                return Success((state + input, None))
            return Failure(InvalidTransition(state, input))

        def can_transition(self, state: int, input: int) -> bool:
            return input > 0

    decider = to_decider(Counter(), 0)
    assert state_of(decider, [1, 2]) == 3
    assert run(decider, -1, []).failure().code == "invalid_transition"
