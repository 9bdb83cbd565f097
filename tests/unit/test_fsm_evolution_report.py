"""fsm_diff's report, word for word, on two releases that differ in every way a diff can show."""

from __future__ import annotations

from enum import Enum
from textwrap import dedent

from cim.fsm import (
    Divergence,
    Fsm,
    GuardTightened,
    InvalidTransition,
    Transition,
    fsm_diff,
    refinement_counterexample,
    same_label,
)


def _reviewed(state: str, value: object) -> bool | str:
    return "pausing needs a review"


def _few(state: str, n: object) -> bool | str:
    return (isinstance(n, int) and n < 10) or "too many"


OLD: Fsm[str, object, None] = Fsm(
    "idle",
    [
        Transition("idle", "start", "busy"),
        Transition("busy", "finish", "done"),
        Transition("idle", "drop", "gone"),
        Transition("idle", "lose", "lost"),
        Transition("busy", "pause", "idle"),
        Transition("idle", int, "busy", guard=lambda s, n: True),
    ],
    states=("idle", "busy", "done", "gone", "lost"),
    finals=("done", "gone"),
    sample_inputs=(1, 20),
)
NEW: Fsm[str, object, None] = Fsm(
    "idle",
    [
        Transition("idle", "start", "busy"),
        Transition("busy", "finish", "on hold"),
        Transition("busy", "pause", "idle", guard=_reviewed),
        Transition("on hold", "resume", "busy"),
        Transition("idle", int, "busy", guard=_few),
    ],
    states=("idle", "busy", "done", "on hold"),
    finals=("done",),
)


def test_the_diff_lists_every_kind_of_change() -> None:
    """States and rows added, removed and retargeted, guards added and tightened, in order."""
    diff = fsm_diff(OLD, NEW)
    assert diff.states_added == ("on hold",)
    assert diff.states_removed == ("gone", "lost")
    assert diff.unreachable_now == ("done",)
    assert [(r.source, r.on) for r in diff.transitions_removed] == [
        ("idle", "drop"),
        ("idle", "lose"),
    ]
    assert [(r.source, r.on) for r in diff.transitions_added] == [("on hold", "resume")]
    assert diff.guards_tightened == (
        GuardTightened(NEW.transitions[2]),
        GuardTightened(NEW.transitions[4], 20, "too many"),
    )
    assert diff.counterexample == Divergence(
        ("drop",), "gone", refusal=InvalidTransition("idle", "drop")
    )


def test_the_diff_reads_as_a_report() -> None:
    """str(diff) shows each non-empty section and the counterexample."""
    assert str(fsm_diff(OLD, NEW)) == dedent(
        """\
        fsm diff: BREAKING
          states added:
            - on hold
          states removed:
            - gone
            - lost
          states no longer reachable:
            - done
          transitions removed:
            - idle --drop--> gone
            - idle --lose--> lost
          transitions added:
            - on hold --resume--> busy
          transitions retargeted:
            - busy --finish--> now goes to on hold (was done)
          guards tightened:
            - busy --pause--> idle: a guard was added
            - idle --int--> busy: now refuses 20 (too many)
          counterexample: the old machine accepts [drop] (ending in gone); the new one refuses drop: no transition from idle on drop"""
    )


def test_an_unchanged_machine_reads_as_no_changes() -> None:
    """A machine compared with itself is compatible with no changes."""
    assert str(fsm_diff(OLD, OLD)) == "fsm diff: compatible\n  no changes"


def test_the_mermaid_diff_shows_both_machines() -> None:
    """Both tables in one diagram: marked rows, renamed ids, and classed states."""
    assert fsm_diff(OLD, NEW).to_mermaid() == dedent(
        """\
        stateDiagram-v2
            state "on hold" as on_hold
            [*] --> idle
            idle --> busy : start
            busy --> on_hold : finish
            busy --> idle : pause [_reviewed]
            on_hold --> busy : ADDED resume
            idle --> busy : int [_few]
            idle --> gone : REMOVED drop
            idle --> lost : REMOVED lose
            done --> [*]
            classDef removed fill:#fecaca,stroke:#b91c1c,stroke-dasharray:4 2
            classDef added fill:#bbf7d0,stroke:#15803d
            classDef unreachable fill:#fde68a,stroke:#b45309,stroke-width:3px
            class gone,lost removed
            class on_hold added
            class done unreachable
        """
    )


def test_a_divergence_reads_as_the_history_and_both_states() -> None:
    """A divergence of states names the whole history and both end states."""
    divergence = Divergence(("start", "finish"), "done", "on hold")
    assert (
        str(divergence)
        == "after [start, finish] the old machine is in done but the new one in on hold"
    )


def test_a_refusal_reads_as_the_history_and_the_refused_input() -> None:
    """A refusal names the history, the old end state, the refused (last) input and why."""
    divergence = Divergence(
        ("start", "finish"), "done", refusal=InvalidTransition("busy", "finish")
    )
    assert str(divergence) == (
        "the old machine accepts [start, finish] (ending in done); "
        "the new one refuses finish: no transition from busy on finish"
    )


def test_a_retargeted_row_with_a_new_guard_is_reported_against_the_old_row() -> None:
    """Rows are the same row only with the same source, input and target: a guard on a row that
    now leads elsewhere tightens the old row (it refuses what the old row took), not "a guard
    was added"."""
    old: Fsm[str, str, None] = Fsm("a", [Transition("a", "x", "b")], states=("a", "b", "c"))
    new: Fsm[str, str, None] = Fsm(
        "a", [Transition("a", "x", "c", guard=lambda s, i: "closed")], states=("a", "b", "c")
    )
    diff = fsm_diff(old, new)
    assert diff.guards_tightened == (GuardTightened(old.transitions[0], "x", "closed"),)


def _yes(state: str, value: object) -> bool | str:
    return True


def _no_ones(state: str, value: object) -> bool | str:
    return "no ones"


def _no_ints(state: str, value: object) -> bool | str:
    return "no ints"


def test_a_tightened_guard_on_a_value_row_names_the_refused_value() -> None:
    """A row for one value, guarded in both releases, now refusing it: tightened on that value."""
    old: Fsm[str, str, None] = Fsm(
        "A", [Transition("A", "pause", "B", guard=_yes)], states=("A", "B")
    )
    new: Fsm[str, str, None] = Fsm(
        "A", [Transition("A", "pause", "B", guard=_no_ones)], states=("A", "B")
    )
    assert fsm_diff(old, new).guards_tightened == (
        GuardTightened(new.transitions[0], "pause", "no ones"),
    )


def test_a_sample_input_is_charged_to_the_row_that_took_it() -> None:
    """A sample input the old machine gave to a more specific row tightens only that row."""
    old: Fsm[str, int, None] = Fsm(
        "A",
        [Transition("A", 1, "B", guard=_yes), Transition("A", int, "C", guard=_yes)],
        states=("A", "B", "C"),
        sample_inputs=(1,),
    )
    new: Fsm[str, int, None] = Fsm(
        "A",
        [Transition("A", 1, "B", guard=_no_ones), Transition("A", int, "C", guard=_no_ints)],
        states=("A", "B", "C"),
    )
    assert fsm_diff(old, new).guards_tightened == (
        GuardTightened(new.transitions[0], 1, "no ones; no ints"),
    )


def test_the_diff_uses_the_correspondence_it_is_given() -> None:
    """States corresponding by the given correspondence make a retargeted row compatible."""
    old: Fsm[str, str, None] = Fsm("a", [Transition("a", "x", "b")], states=("a", "b", "c"))
    new: Fsm[str, str, None] = Fsm("a", [Transition("a", "x", "c")], states=("a", "b", "c"))
    assert not fsm_diff(old, new).compatible
    assert fsm_diff(old, new, lambda o, n: True).compatible


def test_machines_starting_in_different_states_diverge_before_any_input() -> None:
    """Initial states that do not correspond are the empty counterexample."""
    old: Fsm[str, str, None] = Fsm("a", [Transition("a", "x", "b")], states=("a", "b"))
    new: Fsm[str, str, None] = Fsm("b", [Transition("b", "x", "a")], states=("a", "b"))
    assert refinement_counterexample(old, new) == Divergence((), "a", "b")


def test_the_search_goes_as_deep_as_the_first_divergence() -> None:
    """A row two steps in, removed, is found with the two-step history."""
    old: Fsm[str, str, None] = Fsm(
        "a", [Transition("a", "x", "b"), Transition("b", "y", "c")], states=("a", "b", "c")
    )
    new: Fsm[str, str, None] = Fsm("a", [Transition("a", "x", "b")], states=("a", "b", "c"))
    found = refinement_counterexample(old, new)
    assert found == Divergence(("x", "y"), "c", refusal=InvalidTransition("b", "y"))


class GoV1(Enum):
    GO = "go"


class GoV2(Enum):
    GO = "go, v2"


def test_inputs_of_two_releases_match_by_label() -> None:
    """The new release's own Enum member stands for the old one's of the same name."""
    old: Fsm[str, GoV1, None] = Fsm("a", [Transition("a", GoV1.GO, "b")], states=("a", "b"))
    new: Fsm[str, GoV2, None] = Fsm("a", [Transition("a", GoV2.GO, "b")], states=("a", "b"))
    assert fsm_diff(old, new).compatible


def test_equal_states_correspond_whatever_their_labels() -> None:
    """Equal values correspond even when they are shown differently (1 and 1.0)."""
    assert same_label(1, 1.0)
    assert not same_label(1, 2)


def test_rows_from_a_removed_state_and_unmatched_samples_are_skipped() -> None:
    """Rows leaving a state the new machine lacks are not judged for guards; sample inputs a
    class row does not take are skipped, the later ones still judged."""
    old: Fsm[str, object, None] = Fsm(
        "a",
        [
            Transition("gone", "x", "a"),
            Transition("a", int, "b", guard=_yes),
            Transition("a", "go", "gone"),
        ],
        states=("a", "b", "gone"),
        sample_inputs=("text", 20),
    )
    new: Fsm[str, object, None] = Fsm(
        "a", [Transition("a", int, "b", guard=_no_ints)], states=("a", "b")
    )
    assert fsm_diff(old, new).guards_tightened == (
        GuardTightened(new.transitions[0], 20, "no ints"),
    )


def test_the_search_visits_each_pair_of_states_once() -> None:
    """A cycle away from the initial state is followed once: the search ends (no divergence)."""
    cyclic: Fsm[str, str, None] = Fsm(
        "a",
        [Transition("a", "x", "b"), Transition("b", "y", "c"), Transition("c", "z", "b")],
        states=("a", "b", "c"),
    )
    assert refinement_counterexample(cyclic, cyclic) is None
