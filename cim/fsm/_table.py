"""Transition rows and the checks that make a table of them a well-formed machine."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeAlias, TypeVar

from attrs import frozen

from cim.fsm._labels import label

S = TypeVar("S")
In = TypeVar("In")
Out = TypeVar("Out")

Guard: TypeAlias = Callable[[S, In], bool | str]
"""``guard(state, input)``: ``True`` lets the row fire; ``False`` or a reason (``str``) refuses."""


def guard_name(guard: Callable[..., object]) -> str:
    """The guard's function name, as shown on diagrams (``guard`` for lambdas)."""
    name = getattr(guard, "__name__", "")
    return name if name and name != "<lambda>" else "guard"


@frozen
class Transition(Generic[S, In, Out]):
    """One row of a table: in ``source``, an input matching ``on`` leads to ``target``.

    ``on`` matches by class when it is a class (``isinstance``), otherwise by equality (enums,
    literals, record instances). ``output`` is what the transition produces; ``guard`` may refuse.

    >>> Transition("idle", "coin", "ready").matches("coin")
    True
    >>> Transition("idle", int, "ready").matches(7)
    True
    """

    source: S
    on: In | type[In]
    target: S
    output: Out | None = None
    guard: Guard[S, In] | None = None

    def matches(self, input: object) -> bool:
        """Whether *input* is one this row is for (guard not consulted)."""
        if isinstance(self.on, type):
            return isinstance(input, self.on)
        return bool(input == self.on)

    def refusal(self, state: S, input: In) -> str | None:
        """Why the guard refuses *input* in *state*, or ``None`` when the row may fire."""
        if self.guard is None:
            return None
        verdict = self.guard(state, input)
        if verdict is True:
            return None
        if verdict is False:
            return f"guard {guard_name(self.guard)} refused"
        if isinstance(verdict, str):
            return verdict or f"guard {guard_name(self.guard)} refused"
        raise TypeError(
            f"guard {guard_name(self.guard)} returned {verdict!r}; "
            "guards return True, False or a reason (str)"
        )


def describe_row(index: int, row: Transition[Any, Any, Any]) -> str:
    """``transitions[i] (A --on--> B)``: how error messages name a row."""
    arrow = f"{label(row.source)} --{label(row.on)}--> {label(row.target)}"
    guarded = f" [{guard_name(row.guard)}]" if row.guard is not None else ""
    return f"transitions[{index}] ({arrow}{guarded})"


def _overlap(a: object, b: object) -> bool:
    """Whether some input matches both ``on`` values *a* and *b*."""
    if isinstance(a, type) and isinstance(b, type):
        return issubclass(a, b) or issubclass(b, a)
    if isinstance(a, type):
        return isinstance(b, a)
    if isinstance(b, type):
        return isinstance(a, b)
    return bool(a == b)


def _covers(a: object, b: object) -> bool:
    """Whether every input matching ``on`` value *b* also matches *a*."""
    if isinstance(a, type):
        return issubclass(b, a) if isinstance(b, type) else isinstance(b, a)
    return not isinstance(b, type) and bool(a == b)


def table_problems(
    rows: Sequence[Transition[S, Any, Any]],
    states: Sequence[S],
    initial: S,
    finals: Sequence[S],
) -> list[str]:
    """Everything wrong with a table, each problem naming the rows involved."""
    known = set(states)
    problems: list[str] = []
    if len(known) != len(states):
        problems.append(f"states are listed twice: {[label(s) for s in states]}")
    if initial not in known:
        problems.append(f"initial state {label(initial)} is not one of the states")
    problems.extend(
        f"final state {label(s)} is not one of the states" for s in finals if s not in known
    )
    for i, row in enumerate(rows):
        for end, state in (("source", row.source), ("target", row.target)):
            if state not in known:
                problems.append(f"{describe_row(i, row)} names unknown {end} state {label(state)}")
        if row.source in finals:
            problems.append(f"{describe_row(i, row)} leaves final state {label(row.source)}")
    for j, later in enumerate(rows):
        for i, earlier in enumerate(rows[:j]):
            if earlier.source != later.source or earlier.guard is not None:
                continue
            if later.guard is None and _overlap(earlier.on, later.on):
                problems.append(
                    f"ambiguous: {describe_row(i, earlier)} and {describe_row(j, later)} "
                    f"both take {label(later.on)} in {label(later.source)} without a guard"
                )
            elif later.guard is not None and _covers(earlier.on, later.on):
                problems.append(
                    f"{describe_row(j, later)} can never fire: the unguarded "
                    f"{describe_row(i, earlier)} takes every input it matches"
                )
    return problems
