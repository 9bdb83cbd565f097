"""The projection laws: determinism, identity, fold associativity and replay consistency.

Every law folds from a *reachable* state: the fold of a drawn ``start`` list from the
projection's initial state, so the laws cover the states a projection really passes through.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from attrs import frozen
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from pyrsistent import pvector

from cim.projection import Folded, Projection, fold, scan
from laws._runner import check_law
from laws._support import attempt, guarded, with_max_examples

S = TypeVar("S")
E = TypeVar("E")
T = TypeVar("T")


@frozen
class FoldCase(Generic[E]):
    """A counterexample to a projection law: fold ``start`` from the initial state, then ``xs``,
    then ``ys`` (``other`` is folded in between, to expose state hidden outside the projection).
    The lists hold at most 8, 12, 12 and 6 events: ``start`` and ``xs`` together reach up to 20
    events from the initial state, further than ``xs`` alone."""

    start: list[E]
    xs: list[E]
    ys: list[E]
    other: list[E]


def _show(folded: Folded[Any]) -> str:
    return f"state={folded.state!r}, effects={list(folded.effects)!r}"


def check_projection_laws(
    projection: Projection[S, E],
    events: SearchStrategy[E],
    *,
    settings: Settings | None = None,
    max_examples: int | None = None,
) -> None:
    """Check the projection laws for *projection* over lists of events drawn from *events*.

    * determinism: folding the same events from the same state gives the same state and effects,
      twice in a row and again after other folds have run (no hidden mutable state);
    * identity: folding no events leaves the state unchanged and produces no effects;
    * fold associativity: ``fold(fold(s, xs).state, ys)`` ends in the state of ``fold(s, xs + ys)``
      and the effects of both parts, concatenated, are the effects of the whole;
    * replay consistency: ``scan`` passes through the state of every prefix and ends where
      ``fold`` ends.

    Raises :class:`~laws.LawViolation` with a shrunk :class:`FoldCase` when a law fails (also when
    the projection raises). *settings* are Hypothesis settings; *max_examples* overrides theirs.

    >>> from cim.projection import Projection
    >>> from hypothesis import strategies as st
    >>> counter = Projection("count", 0, lambda n, e: (n + e, ()))
    >>> check_projection_laws(counter, st.integers(), max_examples=20)
    """
    cases = st.builds(
        FoldCase,
        start=st.lists(events, max_size=8),
        xs=st.lists(events, max_size=12),
        ys=st.lists(events, max_size=12),
        other=st.lists(events, max_size=6),
    )
    chosen = with_max_examples(settings, max_examples)

    def fold_from(events: list[E], state: S | None) -> Folded[S]:
        return fold(projection, events, state)

    def scan_from(events: list[E], state: S) -> list[S]:
        return list(scan(projection, events, state))

    def folded(events: list[E], state: S | None = None) -> Folded[S]:
        return attempt("fold", fold_from, events, state)

    def determinism(case: FoldCase[E]) -> str | None:
        first, second = folded(case.start), folded(case.start)
        if first != second:
            return f"folding `start` twice gave {_show(first)} then {_show(second)}"
        before = folded(case.xs, first.state)
        again = folded(case.xs, first.state)
        if before != again:
            return f"folding `xs` twice from one state gave {_show(before)} then {_show(again)}"
        folded(case.other)
        folded(case.other, first.state)
        after = folded(case.xs, first.state)
        if before != after:
            return (
                f"folding `xs` gave {_show(before)}, but after folding `other` it gave "
                f"{_show(after)}"
            )
        return None

    def identity(case: FoldCase[E]) -> str | None:
        state = folded(case.start).state
        empty = folded([], state)
        if empty != Folded(state, pvector()):
            return f"folding no events from {state!r} gave {_show(empty)}"
        return None

    def associativity(case: FoldCase[E]) -> str | None:
        start = folded(case.start).state
        first = folded(case.xs, start)
        whole = folded(case.xs + case.ys, start)
        second = folded(case.ys, first.state)  # resume from the checkpoint, as a runner does
        if second.state != whole.state:
            return (
                f"folding `xs` then `ys` ends in {second.state!r}, "
                f"folding `xs + ys` in {whole.state!r}"
            )
        if first.effects + second.effects != whole.effects:
            return (
                f"effects of `xs` then `ys` are {list(first.effects + second.effects)!r}, "
                f"effects of `xs + ys` are {list(whole.effects)!r}"
            )
        return None

    def replay(case: FoldCase[E]) -> str | None:
        start = folded(case.start).state
        states = attempt("scan", scan_from, case.xs, start)
        if len(states) != len(case.xs) + 1:
            return f"scan over {len(case.xs)} events yielded {len(states)} states, not one more"
        for i, state in enumerate(states):
            expected = folded(case.xs[:i], start).state
            if state != expected:
                return f"scan's state after {i} events is {state!r}, fold's is {expected!r}"
        return None

    check_law("projection determinism", cases, guarded(determinism), chosen)
    check_law("projection identity", cases, guarded(identity), chosen)
    check_law("fold associativity", cases, guarded(associativity), chosen)
    check_law("replay consistency", cases, guarded(replay), chosen)
