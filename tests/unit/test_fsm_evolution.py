"""State-machine evolution: the diff, the refinement counterexample and the law, on planted changes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

import laws._fsm_laws as fsm_laws
from cim.fsm import (
    Divergence,
    Fsm,
    GuardRejected,
    Transition,
    fsm_diff,
    refinement_counterexample,
)
from laws import EvolutionHistory, LawViolation, check_fsm_evolution
from tests.cli.fsm_versions import TicketV1, TicketV2, breaking, compatible, v1
from tests.unit._drawn import counted, longest_drawn


def test_an_added_step_is_compatible() -> None:
    """Adding a state and rows keeps every old history: the law holds and the diff says so."""
    check_fsm_evolution(v1, compatible, inputs=st.sampled_from(["assign", "close", "review"]))
    diff = fsm_diff(v1, compatible)
    assert diff.compatible
    assert diff.states_added == ("IN_REVIEW",)
    assert [(r.source, r.on) for r in diff.transitions_added] == [
        (TicketV2.ASSIGNED, "review"),
        (TicketV2.IN_REVIEW, "close"),
    ]
    assert not diff.transitions_removed
    assert "compatible" in str(diff)


def test_removing_a_used_transition_is_reported_with_a_shortest_counterexample() -> None:
    """ASSIGNED --close--> CLOSED removed: the counterexample is the two-step history using it."""
    with pytest.raises(LawViolation) as caught:
        check_fsm_evolution(v1, breaking)
    assert caught.value.law == "fsm evolution: old histories still accepted"
    divergence = caught.value.counterexample
    assert isinstance(divergence, Divergence)
    assert divergence.inputs in (("assign", "close"), ("close",))
    diff = fsm_diff(v1, breaking)
    assert not diff.compatible
    assert [(r.source, r.on, r.target) for r in diff.transitions_removed] == [
        (TicketV1.ASSIGNED, "close", TicketV1.CLOSED)
    ]
    assert next(str(g) for g in diff.guards_tightened).startswith("OPEN --close--> CLOSED")
    text = str(diff)
    assert "BREAKING" in text
    assert "ASSIGNED --close--> CLOSED" in text
    assert "counterexample" in text


def test_the_counterexample_is_the_shortest_old_history() -> None:
    """Breadth-first search finds the one-step history when the first step already breaks."""
    tightened_only: Fsm[TicketV2, str, None] = Fsm(
        TicketV2.OPEN,
        [
            Transition(TicketV2.OPEN, "assign", TicketV2.ASSIGNED),
            Transition(TicketV2.ASSIGNED, "close", TicketV2.CLOSED),
            Transition(TicketV2.OPEN, "close", TicketV2.CLOSED, guard=lambda s, i: "no"),
        ],
        finals=(TicketV2.CLOSED,),
    )
    found = refinement_counterexample(v1, tightened_only)
    assert found is not None
    assert found.inputs == ("close",)
    assert isinstance(found.refusal, GuardRejected)
    removed = refinement_counterexample(v1, breaking)
    assert removed is not None
    assert removed.inputs == ("close",)  # the guard on OPEN --close--> refuses first


def test_a_retargeted_row_ends_in_a_state_that_does_not_correspond() -> None:
    """The same input leading elsewhere is a divergence of states, and a retarget in the diff."""
    retargeted: Fsm[TicketV2, str, None] = Fsm(
        TicketV2.OPEN,
        [
            Transition(TicketV2.OPEN, "assign", TicketV2.IN_REVIEW),
            Transition(TicketV2.IN_REVIEW, "close", TicketV2.CLOSED),
            Transition(TicketV2.OPEN, "close", TicketV2.CLOSED),
        ],
        states=tuple(TicketV2),
        finals=(TicketV2.CLOSED,),
    )
    diff = fsm_diff(v1, retargeted)
    assert diff.counterexample == Divergence(("assign",), TicketV1.ASSIGNED, TicketV2.IN_REVIEW)
    assert [str(r) for r in diff.retargeted] == [
        "OPEN --assign--> now goes to IN_REVIEW (was ASSIGNED)"
    ]
    assert diff.unreachable_now == ("ASSIGNED",)
    with pytest.raises(LawViolation, match="the new one in IN_REVIEW"):
        check_fsm_evolution(v1, retargeted)


def test_drawn_histories_find_what_known_inputs_cannot() -> None:
    """Rows matching by class are tried with drawn inputs; a shrunk history shows the break."""
    old: Fsm[str, int, None] = Fsm(
        "idle", [Transition("idle", int, "busy")], states=("idle", "busy")
    )
    new: Fsm[str, int, None] = Fsm(
        "idle",
        [Transition("idle", int, "busy", guard=lambda s, n: n < 10)],
        states=("idle", "busy"),
    )
    with pytest.raises(LawViolation) as caught:
        check_fsm_evolution(old, new, inputs=st.integers(0, 100))
    assert caught.value.counterexample == EvolutionHistory([10])


def test_the_mermaid_diff_marks_changes() -> None:
    """Removed rows and added ones are labelled; added states are classed for colour."""
    mermaid = fsm_diff(v1, breaking).to_mermaid()
    assert mermaid.startswith("stateDiagram-v2\n")
    assert "ASSIGNED --> CLOSED : REMOVED close" in mermaid
    assert "ASSIGNED --> IN_REVIEW : ADDED review" in mermaid
    assert "class IN_REVIEW added" in mermaid


def test_the_correspondence_given_is_the_one_the_exhaustive_search_uses() -> None:
    """States renamed to lower case follow the old ones by the correspondence given, not by label."""
    old: Fsm[str, str, None] = Fsm("A", [Transition("A", "go", "B")], states=("A", "B"))
    renamed: Fsm[str, str, None] = Fsm("a", [Transition("a", "go", "b")], states=("a", "b"))
    check_fsm_evolution(
        old, renamed, inputs=st.just("go"), corresponds=lambda o, n: str(o).lower() == n
    )
    with pytest.raises(LawViolation, match="old histories still accepted"):
        check_fsm_evolution(old, renamed)


def _below_ten(state: str, n: int) -> bool:
    """A guard the old machine does not have: only inputs under 10."""
    return n < 10


def _three_steps(last_guard: Any = None) -> Fsm[str, int, None]:
    """a -> b -> c -> d, each step on any int (no known inputs); *last_guard* on c -> d."""
    return Fsm(
        "a",
        [
            Transition("a", int, "b", guard=lambda s, n: n >= 0),
            Transition("b", int, "c", guard=lambda s, n: n >= 0),
            Transition("c", int, "d", guard=last_guard or (lambda s, n: n >= 0)),
        ],
        states=("a", "b", "c", "d"),
    )


def test_a_drawn_refusal_names_the_law_the_input_and_the_inputs_before_it() -> None:
    """The third step refused by the new machine: the violation shows the two accepted before."""
    with pytest.raises(LawViolation) as caught:
        check_fsm_evolution(_three_steps(), _three_steps(_below_ten), inputs=st.just(10))
    assert caught.value.law == "fsm evolution: drawn histories"
    assert caught.value.detail.startswith("the new machine refuses 10 after [10, 10]: ")


def _drawn_law(
    monkeypatch: pytest.MonkeyPatch, old: Fsm[Any, Any, Any], new: Fsm[Any, Any, Any]
) -> tuple[SearchStrategy[EvolutionHistory[int]], Any]:
    """The histories and the law check_fsm_evolution hands to check_law (which is not run)."""
    handed: list[tuple[Any, Any]] = []
    monkeypatch.setattr(
        fsm_laws, "check_law", lambda law, cases, holds, chosen: handed.append((cases, holds))
    )
    check_fsm_evolution(old, new, inputs=st.integers(-1, 20))
    assert len(handed) == 1
    return handed[0]


def test_inputs_the_old_machine_refuses_are_skipped_not_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A refused input first does not hide the later accepted ones the new machine refuses."""
    _, holds = _drawn_law(monkeypatch, _three_steps(), _three_steps(_below_ten))
    detail = str(holds(EvolutionHistory([-1, 10, -1, 10, 10])))
    assert detail.startswith("the new machine refuses 10 after [10, 10]: ")
    assert holds(EvolutionHistory([-1, 10, 10, 9])) is None


def test_drawn_histories_have_the_documented_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """The drawn histories hold at most 12 inputs, and that many are drawn."""
    histories, _ = _drawn_law(monkeypatch, _three_steps(), _three_steps())
    assert longest_drawn(histories, "inputs") == {"inputs": 12}


@pytest.mark.parametrize("options", [{"max_examples": 2}, {"settings": settings(max_examples=2)}])
def test_check_fsm_evolution_runs_no_more_examples_than_asked(options: dict[str, Any]) -> None:
    """Asked for two examples (by max_examples or by settings), at most 2 x 12 inputs are drawn."""
    drawn: list[int] = []
    check_fsm_evolution(
        _three_steps(), _three_steps(), inputs=counted(drawn, st.integers(0, 20)), **options
    )
    # the default would be 100 histories (25 in a mutation run) of up to 12 inputs each
    assert 0 < len(drawn) <= 2 * 12
