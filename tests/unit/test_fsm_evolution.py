"""State-machine evolution: the diff, the refinement counterexample and the law, on planted changes."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

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
