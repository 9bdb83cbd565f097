"""Exact texts of state machines: diagrams, state ids, error messages, table problems, rejections."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest
from pyrsistent import pmap
from returns.result import Success

from cim.decider import Decider, Keyed, Left, Right, compose, many, run, state_of
from cim.fsm import (
    Fsm,
    GuardRejected,
    InvalidTransition,
    Invariant,
    InvariantViolated,
    Transition,
    rejection_of,
)
from cim.fsm._diagram import state_ids
from cim.fsm._table import describe_row, guard_name

ODD = 'b "q\\'
MACHINE: Fsm[str, str, None] = Fsm(
    initial="start",
    transitions=[Transition("a", "go", ODD)],
    states=("start", "a", ODD, "orphan", "1st", "Xylo X"),
    finals=(ODD,),
)


def test_mermaid_names_odd_states_and_lists_unmentioned_ones() -> None:
    """States whose label is not an id get a state line; unmentioned plain states a bare line."""
    assert MACHINE.to_mermaid(highlight="a") == (
        "stateDiagram-v2\n"
        '    state "b #quot;q\\" as b__q\n'
        '    state "1st" as s_1st\n'
        '    state "Xylo X" as Xylo_X\n'
        "    [*] --> start\n"
        "    a --> b__q : go\n"
        "    orphan\n"
        "    b__q --> [*]\n"
        "    classDef current fill:#fde68a,stroke:#b45309,stroke-width:3px\n"
        "    class a current\n"
    )


def test_dot_escapes_labels_and_marks_finals_and_the_highlight() -> None:
    """DOT output: layout header, escaped labels, double border for finals, filled highlight."""
    assert MACHINE.to_dot(highlight="a") == (
        "digraph fsm {\n"
        "    rankdir=LR;\n"
        "    node [shape=box, style=rounded];\n"
        '    "__start__" [shape=point, label=""];\n'
        '    "start" [label="start"];\n'
        '    "a" [label="a", style="rounded,filled", fillcolor="#fde68a"];\n'
        '    "b__q" [label="b \\"q\\\\", peripheries=2];\n'
        '    "orphan" [label="orphan"];\n'
        '    "s_1st" [label="1st"];\n'
        '    "Xylo_X" [label="Xylo X"];\n'
        '    "__start__" -> "start";\n'
        '    "a" -> "b__q" [label="go"];\n'
        "}\n"
    )


@pytest.mark.parametrize("render", [Fsm.to_dot, Fsm.to_mermaid])
def test_highlighting_an_unknown_state_is_refused(render: object) -> None:
    """Both renderers refuse to highlight a state the machine does not have."""
    with pytest.raises(ValueError, match="cannot highlight 'nope'"):
        render(MACHINE, highlight="nope")  # type: ignore[operator]


def test_state_ids_number_clashes_from_two() -> None:
    """Labels that map to the same id get _2, _3, ... in order; X at the ends is kept."""
    assert state_ids(["a b", "a_b", "a-b", "BOX", "9"]) == {
        "a b": "a_b",
        "a_b": "a_b_2",
        "a-b": "a_b_3",
        "BOX": "BOX",
        "9": "s_9",
    }


def is_ready(state: object, input: object) -> bool:
    """A named guard."""
    return True


def test_guard_names_and_row_descriptions() -> None:
    """A guard is shown by its function name; callables without a name show as 'guard'."""
    assert guard_name(is_ready) == "is_ready"
    assert guard_name(functools.partial(is_ready)) == "guard"
    assert guard_name(lambda s, i: True) == "guard"
    row: Transition[str, str, None] = Transition("a", "go", "b", guard=is_ready)
    assert describe_row(3, row) == "transitions[3] (a --go--> b [is_ready])"
    assert describe_row(0, Transition("a", "go", "b")) == "transitions[0] (a --go--> b)"


def test_error_texts_name_state_input_and_invariant() -> None:
    """The three transition errors read naturally, with labels of state and input."""
    assert str(GuardRejected("locked", "push", "no coin")) == "push refused in locked: no coin"
    never: Invariant[int] = Invariant("never negative", lambda n: n >= 0)
    assert str(InvariantViolated(-1, never)) == "-1 breaks invariant 'never negative'"
    assert rejection_of(InvalidTransition("locked", "push")).details == {
        "state": "locked",
        "input": "push",
    }
    assert rejection_of(GuardRejected("locked", "push", "no")).details == {
        "state": "locked",
        "input": "push",
        "reason": "no",
    }


class Base:
    """An input class."""


class Sub(Base):
    """A subclass of it."""


@pytest.mark.parametrize(("first", "second"), [(Base, Sub), (Sub, Base)])
def test_rows_for_related_classes_without_guards_are_ambiguous(first: type, second: type) -> None:
    """A class row and a subclass row from one state, both unguarded, overlap either way round."""
    with pytest.raises(ValueError, match="ambiguous: transitions\\[0\\]"):
        Fsm(
            initial="a",
            transitions=[Transition("a", first, "b"), Transition("a", second, "b")],
            states=("a", "b"),
        )


def test_a_guarded_subclass_row_after_an_unguarded_class_row_never_fires() -> None:
    """The unguarded class row takes every input the later guarded subclass row matches."""
    with pytest.raises(
        ValueError, match="transitions\\[1\\] \\(a --Sub--> b \\[is_ready\\]\\) can never fire"
    ):
        Fsm(
            initial="a",
            transitions=[Transition("a", Base, "b"), Transition("a", Sub, "b", guard=is_ready)],
            states=("a", "b"),
        )


def test_every_table_problem_is_listed_with_its_labels() -> None:
    """The ValueError lists each problem on its own indented line, naming the states."""
    never_start: Invariant[str] = Invariant("not start", lambda s: s != "start")
    expected = (
        "invalid state machine:\n"
        "  states are listed twice: ['start', 'start', 'b']\n"
        "  final state zz is not one of the states\n"
        "  initial state start breaks invariant 'not start'"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        Fsm(
            initial="start",
            transitions=[],
            invariants=[never_start],
            states=("start", "start", "b"),
            finals=("zz",),
        )
    with pytest.raises(ValueError, match=re.escape("initial state q is not one of the states")):
        Fsm(initial="q", transitions=[], states=("a",))


def test_composed_deciders_keep_each_side_apart() -> None:
    """A Left event evolves the left state only; the pair is terminal only when both are."""
    counter = Fsm(
        initial=0, transitions=[Transition(0, "inc", 1)], states=(0, 1), finals=(1,)
    ).as_decider()
    other = Fsm(
        initial="x", transitions=[Transition("x", "go", "y")], states=("x", "y")
    ).as_decider()
    pair = compose(counter, other)
    assert state_of(pair, [Left("inc")]) == (1, "x")
    assert state_of(pair, [Right("go")]) == (0, "y")
    assert not pair.is_terminal((1, "x"))
    assert not pair.is_terminal((0, "y"))
    assert pair.is_terminal((1, "y"))
    assert run(pair, Left("inc"), []) == Success((Left("inc"),))
    assert run(pair, Right("go"), []) == Success((Right("go"),))


def test_untagged_commands_and_events_are_refused_by_name() -> None:
    """compose and many say which tagging they expected and show what they got."""
    counter: Decider[str, str, int] = Decider(
        initial=0,
        decide=lambda command, n: Success((command,)),
        evolve=lambda n, event: n + 1,
        is_terminal=lambda n: False,
    )
    pair: Decider[Any, Any, Any] = compose(counter, counter)
    family: Decider[Any, Any, Any] = many(counter)
    composed = "a Left(...) or Right(...) {} for a composed decider, got 'raw'"
    with pytest.raises(TypeError, match=re.escape("expected " + composed.format("command"))):
        pair.decide("raw", pair.initial)
    with pytest.raises(TypeError, match=re.escape("expected " + composed.format("event"))):
        pair.evolve(pair.initial, "raw")
    with pytest.raises(
        TypeError,
        match=re.escape("expected a Keyed(key, ...) event for a many() decider, got 'raw'"),
    ):
        family.evolve(family.initial, "raw")
    assert state_of(family, [Keyed("a", "x"), Keyed("a", "x"), Keyed("b", "x")]) == pmap(
        {"a": 2, "b": 1}
    )


def test_many_refuses_untagged_commands_and_is_terminal_only_when_every_member_is() -> None:
    """many() names what it expected; a family is terminal when new and existing members are."""
    final_at_start: Fsm[str, str, None] = Fsm(
        initial="done", transitions=[], states=("done",), finals=("done",)
    )
    family: Decider[Keyed[str, str], Keyed[str, str], Any] = many(final_at_start.as_decider())
    with pytest.raises(
        TypeError,
        match=re.escape("expected a Keyed(key, ...) command for a many() decider, got 'x'"),
    ):
        run(family, "x", [])  # type: ignore[misc]
    assert family.is_terminal(family.initial)
    parity: Decider[str, str, int] = Decider(
        initial=0,
        decide=lambda command, n: Success((command,)),
        evolve=lambda n, event: n + 1,
        is_terminal=lambda n: n % 2 == 0,
    )
    counters: Decider[Keyed[str, str], Keyed[str, str], Any] = many(parity)
    assert not counters.is_terminal(state_of(counters, [Keyed("k", "inc")]))
    assert counters.is_terminal(state_of(counters, [Keyed("k", "inc"), Keyed("k", "inc")]))


def test_the_never_fires_message_names_both_rows() -> None:
    """The full message names the shadowed row and the unguarded row that takes its inputs."""
    expected = (
        "transitions[1] (a --Sub--> b [is_ready]) can never fire: the unguarded "
        "transitions[0] (a --Base--> b) takes every input it matches"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        Fsm(
            initial="a",
            transitions=[Transition("a", Base, "b"), Transition("a", Sub, "b", guard=is_ready)],
            states=("a", "b"),
        )


def test_ambiguity_is_found_past_rows_of_other_states() -> None:
    """Rows leaving another state in between do not hide two ambiguous rows; labels are named."""
    expected = (
        "ambiguous: transitions[1] (a --go--> b) and transitions[2] (a --go--> c) "
        "both take go in a without a guard"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        Fsm(
            initial="a",
            transitions=[
                Transition("b", "go", "a"),
                Transition("a", "go", "b"),
                Transition("a", "go", "c"),
            ],
            states=("a", "b", "c"),
        )


def test_guards_see_the_current_state() -> None:
    """A guard is called with the state the machine is in."""
    only_in_a: Transition[str, str, None] = Transition(
        "a", "go", "b", guard=lambda state, _: state == "a"
    )
    machine: Fsm[str, str, None] = Fsm(
        initial="a", transitions=[only_in_a, Transition("b", "back", "a")], states=("a", "b")
    )
    assert machine.can_transition("a", "go")


def test_analysis_goes_on_past_a_class_row_without_samples() -> None:
    """A class row with no sample input still counts as possibly firing, and later rows count too."""
    machine: Fsm[str, object, None] = Fsm(
        initial="a",
        transitions=[Transition("a", Base, "b"), Transition("a", "skip", "c")],
        states=("a", "b", "c"),
    )
    assert machine.reachable_states() == ("a", "b", "c")
    assert machine.shortest_path("c") == ("skip",)
    expected = (
        "transitions[0] (a --Base--> b) matches by class and no sample input fires it: "
        "pass sample_inputs=(...) with a Base it accepts"
    )
    with pytest.raises(ValueError, match=re.escape(expected)):
        machine.shortest_path("b")


def test_a_class_row_without_samples_into_a_forbidden_state_cannot_fire() -> None:
    """Without samples, a class row counts only if its target keeps the invariants."""
    machine: Fsm[str, object, None] = Fsm(
        initial="a",
        transitions=[Transition("a", Base, "b"), Transition("a", "skip", "c")],
        states=("a", "b", "c"),
        invariants=[Invariant("never b", lambda s: s != "b")],
    )
    assert machine.reachable_states() == ("a", "c")
    assert machine.unreachable_states() == ("b",)


def test_guard_refusals_name_the_guard() -> None:
    """An empty reason and a wrong verdict type both name the guard function."""

    def blank(state: object, input: object) -> str:
        """Refuses without saying why."""
        return ""

    def confused(state: object, input: object) -> Any:
        """Returns something that is not a verdict."""
        return 3

    assert Transition("a", "go", "b", guard=blank).refusal("a", "go") == "guard blank refused"
    expected = "guard confused returned 3; guards return True, False or a reason (str)"
    with pytest.raises(TypeError, match=re.escape(expected)):
        Transition("a", "go", "b", guard=confused).refusal("a", "go")


def test_an_unguarded_class_row_shadows_a_guarded_row_for_one_of_its_instances() -> None:
    """A later guarded row matching an instance of an earlier unguarded class row never fires."""
    rows: list[Transition[str, Any, None]] = [
        Transition("a", Base, "b"),
        Transition("a", Sub(), "b", guard=is_ready),
    ]
    with pytest.raises(ValueError, match="can never fire"):
        Fsm(initial="a", transitions=rows, states=("a", "b"))
