"""Analysis of an :class:`~cim.fsm.Fsm` as data: reachability, traps, dead rows, paths, covers.

How a row is judged able to fire from its source state:

* a row matching by value (``on`` is not a class) fires if the machine, given that value in the
  source state, picks this row and succeeds: its guard accepts, no earlier row takes the input,
  the target keeps every invariant;
* a row matching by class is tried with the machine's ``sample_inputs`` of that class, judged the
  same way; a row whose class has no sample counts as *possibly* firing (when its target keeps the
  invariants), so reachability errs towards "reachable". Paths through such a row have no
  concrete input: :func:`shortest_path` and :func:`transition_cover` raise ``ValueError`` asking
  for a sample.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from attrs import frozen
from returns.result import Success

from cim.fsm._labels import label
from cim.fsm._table import Transition, describe_row

if TYPE_CHECKING:
    from cim.fsm._fsm import Fsm

S = TypeVar("S")
In = TypeVar("In")
Out = TypeVar("Out")


@frozen
class _Edge(Generic[S, In]):
    """Row ``index`` can fire from ``source``; ``witness`` is an input that fires it, if known."""

    index: int
    source: S
    target: S
    witness: tuple[In, ...]


def _edges(fsm: Fsm[S, In, Any]) -> tuple[_Edge[S, In], ...]:
    edges: list[_Edge[S, In]] = []
    for i, row in enumerate(fsm.transitions):
        if isinstance(row.on, type):
            candidates = [x for x in fsm.sample_inputs if isinstance(x, row.on)]
            if not candidates:
                if all(invariant.holds(row.target) for invariant in fsm.invariants):
                    edges.append(_Edge(i, row.source, row.target, ()))
                continue
        else:
            candidates = [row.on]
        for candidate in candidates:
            if fsm.row_index(row.source, candidate) == Success(i):
                edges.append(_Edge(i, row.source, row.target, (candidate,)))
                break
    return tuple(edges)


def _paths(
    fsm: Fsm[S, In, Any], edges: tuple[_Edge[S, In], ...]
) -> dict[S, tuple[_Edge[S, In], ...]]:
    """Breadth-first: for each reachable state, the edges of a shortest path to it."""
    paths: dict[S, tuple[_Edge[S, In], ...]] = {fsm.initial: ()}
    queue = deque([fsm.initial])
    while queue:
        state = queue.popleft()
        for edge in edges:
            if edge.source == state and edge.target not in paths:
                paths[edge.target] = (*paths[state], edge)
                queue.append(edge.target)
    return paths


def _inputs_along(fsm: Fsm[S, In, Any], path: tuple[_Edge[S, In], ...]) -> tuple[In, ...]:
    inputs: list[In] = []
    for edge in path:
        if not edge.witness:
            row = fsm.transitions[edge.index]
            raise ValueError(
                f"{describe_row(edge.index, row)} matches by class and no sample input fires it: "
                f"pass sample_inputs=(...) with a {label(row.on)} it accepts"
            )
        inputs.append(edge.witness[0])
    return tuple(inputs)


def reachable_states(fsm: Fsm[S, In, Any]) -> tuple[S, ...]:
    """States reachable from ``fsm.initial``, in ``fsm.states`` order."""
    paths = _paths(fsm, _edges(fsm))
    return tuple(state for state in fsm.states if state in paths)


def unreachable_states(fsm: Fsm[S, In, Any]) -> tuple[S, ...]:
    """States not reachable from ``fsm.initial``, in ``fsm.states`` order."""
    paths = _paths(fsm, _edges(fsm))
    return tuple(state for state in fsm.states if state not in paths)


def dead_ends(fsm: Fsm[S, In, Any]) -> tuple[S, ...]:
    """Non-final states (reachable or not) that no row can leave."""
    leaving = {edge.source for edge in _edges(fsm)}
    return tuple(s for s in fsm.states if s not in fsm.finals and s not in leaving)


def never_fired(fsm: Fsm[S, In, Out]) -> tuple[Transition[S, In, Out], ...]:
    """Rows that cannot fire from their source, or whose source is unreachable."""
    edges = _edges(fsm)
    paths = _paths(fsm, edges)
    used = {edge.index for edge in edges if edge.source in paths}
    return tuple(row for i, row in enumerate(fsm.transitions) if i not in used)


def shortest_path(fsm: Fsm[S, In, Any], target: S) -> tuple[In, ...] | None:
    """The fewest inputs from ``fsm.initial`` to *target*, or ``None`` when unreachable."""
    if target not in fsm.states:
        raise ValueError(f"{target!r} is not one of the machine's states")
    path = _paths(fsm, _edges(fsm)).get(target)
    return None if path is None else _inputs_along(fsm, path)


def transition_cover(fsm: Fsm[S, In, Any]) -> tuple[tuple[In, ...], ...]:
    """Input sequences from ``fsm.initial`` that together take every reachable row once or more.

    One sequence per row (a shortest path to its source, then the row), minus sequences that
    are a prefix of another (the longer one takes the same rows).
    """
    edges = _edges(fsm)
    paths = _paths(fsm, edges)
    walks = [(*paths[edge.source], edge) for edge in edges if edge.source in paths]
    sequences: list[tuple[In, ...]] = []
    for walk in walks:
        if any(other[: len(walk)] == walk for other in walks if len(other) > len(walk)):
            continue
        sequences.append(_inputs_along(fsm, walk))
    return tuple(sequences)
