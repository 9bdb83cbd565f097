"""Analysis of table-defined machines: reachability, dead ends, dead rows, paths and covers."""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

import pytest
from attrs import frozen
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Success

from cim.fsm import Fsm, Invariant, Transition, replay

S = TypeVar("S")
In = TypeVar("In")


class Stage(Enum):
    START = 1
    MIDDLE = 2
    END = 3
    TRAP = 4
    ORPHAN = 5
    LOCKED = 6
    FORBIDDEN = 7


def never(state: Stage, input: str) -> bool:
    return False


def planted() -> Fsm[Stage, str, None]:
    """A machine with planted defects: an orphan, a trap, a row no guard lets through, and a
    state that breaks an invariant."""
    return Fsm(
        Stage.START,
        [
            Transition(Stage.START, "next", Stage.MIDDLE),
            Transition(Stage.MIDDLE, "next", Stage.END),
            Transition(Stage.MIDDLE, "fall", Stage.TRAP),
            Transition(Stage.ORPHAN, "next", Stage.END),
            Transition(Stage.START, "unlock", Stage.LOCKED, guard=never),
            Transition(Stage.LOCKED, "next", Stage.END),
            Transition(Stage.MIDDLE, "cheat", Stage.FORBIDDEN),
        ],
        [Invariant("never forbidden", lambda s: s is not Stage.FORBIDDEN)],
        finals=(Stage.END,),
    )


def test_reachable_and_unreachable_states_partition_the_states() -> None:
    """Orphans, states behind refusing guards and invariant-breaking states are unreachable."""
    fsm = planted()
    assert fsm.reachable_states() == (Stage.START, Stage.MIDDLE, Stage.END, Stage.TRAP)
    assert fsm.unreachable_states() == (Stage.ORPHAN, Stage.LOCKED, Stage.FORBIDDEN)


def test_dead_ends_are_non_final_states_without_a_way_out() -> None:
    """TRAP and FORBIDDEN have no rows out; END is final so it is not a dead end."""
    assert planted().dead_ends() == (Stage.TRAP, Stage.FORBIDDEN)


def test_never_fired_lists_rows_no_reachable_state_can_use() -> None:
    """Rows from unreachable states, behind refusing guards or into forbidden states never fire."""
    fsm = planted()
    rows = fsm.transitions
    assert fsm.never_fired() == (rows[3], rows[4], rows[5], rows[6])


def test_shortest_path_gives_the_fewest_inputs_or_none() -> None:
    """shortest_path leads from initial to the target; unreachable targets give None."""
    fsm = planted()
    assert fsm.shortest_path(Stage.START) == ()
    assert fsm.shortest_path(Stage.END) == ("next", "next")
    assert fsm.shortest_path(Stage.ORPHAN) is None
    with pytest.raises(ValueError, match="not one of the machine's states"):
        fsm.shortest_path("nowhere")  # type: ignore[arg-type]


def test_transition_cover_takes_every_reachable_row() -> None:
    """The cover's sequences replay from initial and together take every row that can fire."""
    fsm = planted()
    cover = fsm.transition_cover()
    assert cover == (("next", "next"), ("next", "fall"))
    assert _rows_taken(fsm, cover) == set(range(3))


def test_a_guard_that_refuses_some_inputs_keeps_the_row_when_a_value_passes() -> None:
    """Guards are judged on the row's own value: a guard refusing another value does not matter."""
    fsm: Fsm[str, str, None] = Fsm(
        "a",
        [
            Transition("a", "go", "b", guard=lambda s, i: i == "go"),
            Transition("a", "stay", "c", guard=lambda s, i: i == "go"),
        ],
        states=("a", "b", "c"),
    )
    assert fsm.unreachable_states() == ("c",)


@frozen
class Pay:
    amount: int


def positive(state: str, pay: Pay) -> bool | str:
    return pay.amount > 0 or "amount must be positive"


def payments(samples: tuple[Pay, ...]) -> Fsm[str, Pay, None]:
    return Fsm(
        "due",
        [Transition("due", Pay, "paid", guard=positive)],
        states=("due", "paid"),
        finals=("paid",),
        sample_inputs=samples,
    )


def test_class_rows_are_judged_with_sample_inputs() -> None:
    """A guarded class row fires when a sample input of its class passes the guard."""
    assert payments((Pay(5),)).reachable_states() == ("due", "paid")
    assert payments((Pay(5),)).shortest_path("paid") == (Pay(5),)
    assert payments((Pay(0),)).unreachable_states() == ("paid",)
    assert payments((Pay(0),)).dead_ends() == ("due",)


def test_class_rows_without_samples_count_as_possibly_firing() -> None:
    """Without samples a class row is assumed able to fire; a path through it asks for one."""
    fsm = payments(())
    assert fsm.reachable_states() == ("due", "paid")
    assert fsm.never_fired() == ()
    with pytest.raises(ValueError, match=r"transitions\[0\] .* pass sample_inputs"):
        fsm.shortest_path("paid")
    with pytest.raises(ValueError, match="pass sample_inputs"):
        fsm.transition_cover()


def _rows_taken(fsm: Fsm[S, In, Any], cover: tuple[tuple[In, ...], ...]) -> set[int]:
    """The indexes of the rows the cover's sequences take when replayed from initial."""
    taken: set[int] = set()
    for sequence in cover:
        history = replay(fsm, fsm.initial, sequence)
        assert isinstance(history, Success), f"{sequence} does not replay: {history}"
        for step in history.unwrap().history:
            taken.add(fsm.transitions.index(fsm.row_for(step.source, step.input).unwrap()))
    return taken


@st.composite
def tables(draw: st.DrawFn) -> Fsm[str, str, None]:
    """Random unguarded tables over a few states and inputs (no two rows share source and input)."""
    states = [f"s{i}" for i in range(draw(st.integers(1, 6)))]
    keys = st.tuples(st.sampled_from(states), st.sampled_from(["a", "b", "c"]))
    chosen = draw(st.lists(keys, unique=True, max_size=12))
    rows: list[Transition[str, str, None]] = [
        Transition(src, on, draw(st.sampled_from(states))) for src, on in chosen
    ]
    return Fsm(states[0], rows, states=states)


@settings(max_examples=60, deadline=None)
@given(tables())
def test_analysis_agrees_with_running_the_machine(fsm: Fsm[str, str, None]) -> None:
    """Paths lead where they claim, unreachable states are never entered, the cover is complete."""
    for state in fsm.reachable_states():
        path = fsm.shortest_path(state)
        assert path is not None
        assert replay(fsm, fsm.initial, path).map(lambda h: h.state) == Success(state)
    frontier, seen = {fsm.initial}, {fsm.initial}
    while frontier:
        frontier = {
            fsm.transition(s, i).unwrap()[0] for s in frontier for i in fsm.enabled(s)
        } - seen
        seen |= frontier
    assert set(fsm.unreachable_states()) == set(fsm.states) - seen
    fired = {i for i, row in enumerate(fsm.transitions) if row not in fsm.never_fired()}
    assert _rows_taken(fsm, fsm.transition_cover()) == fired
    assert set(fsm.dead_ends()) == {s for s in fsm.states if not fsm.enabled(s)}
