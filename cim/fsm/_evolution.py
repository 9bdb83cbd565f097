"""How a new version of an :class:`~cim.fsm.Fsm` differs from the old one, and whether every
history the old one accepts still works.

Machines of two releases are usually loaded from two modules, so their states and inputs are
different objects (two ``Enum`` classes): states and inputs are matched by *label* (an Enum
member's name, a string as is) unless equal. A history is a sequence of inputs from ``initial``;
the new machine *refines* the old one when it accepts every history the old one accepts and ends
in the corresponding state. :func:`refinement_counterexample` searches the two machines side by
side, breadth first, over the inputs they know (rows' values and ``sample_inputs``), so the
counterexample it returns is a shortest one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from attrs import field, frozen
from returns.result import Failure

from cim.fsm._diagram import HIGHLIGHT_STYLE, edge_label, mermaid_text, state_ids
from cim.fsm._errors import GuardRejected, TransitionError
from cim.fsm._labels import label
from cim.fsm._table import Transition

if TYPE_CHECKING:
    from cim.fsm._fsm import Fsm

S = TypeVar("S")
In = TypeVar("In")

Correspondence = Callable[[Any, Any], bool]
"""``corresponds(old_state, new_state)``: whether a new state stands for an old one."""


def same_label(old: object, new: object) -> bool:
    """The default :data:`Correspondence`: equal, or with the same label (Enum member name)."""
    return bool(old == new) or label(old) == label(new)


@frozen
class Divergence(Generic[S, In]):
    """A history the old machine accepts that the new one does not follow.

    ``inputs`` lead the old machine from its initial state to ``old_state``; the new machine
    either refuses the last one (``refusal``) or ends in ``new_state``, which does not
    correspond to ``old_state``.
    """

    inputs: tuple[In, ...]
    old_state: S
    new_state: Any = None
    refusal: TransitionError[Any, Any] | None = None

    def __str__(self) -> str:
        shown = "[" + ", ".join(label(i) for i in self.inputs) + "]"
        if self.refusal is not None:
            return (
                f"the old machine accepts {shown} (ending in {label(self.old_state)}); "
                f"the new one refuses {label(self.inputs[-1])}: {self.refusal}"
            )
        return (
            f"after {shown} the old machine is in {label(self.old_state)} but the new one in "
            f"{label(self.new_state)}"
        )


@frozen
class Retargeted:
    """In ``source`` on ``on``, the old machine went to ``old_target``; the new one to ``new_target``."""

    source: Any
    on: Any
    old_target: Any
    new_target: Any

    def __str__(self) -> str:
        return (
            f"{label(self.source)} --{label(self.on)}--> now goes to {label(self.new_target)} "
            f"(was {label(self.old_target)})"
        )


@frozen
class GuardTightened:
    """The new ``row`` has a guard that refuses ``input`` in its source, which the old accepted
    (``input`` is ``None`` when no example input is known: a guard was added)."""

    row: Transition[Any, Any, Any]
    input: Any = None
    reason: str = "a guard was added"

    def __str__(self) -> str:
        arrow = f"{label(self.row.source)} --{label(self.row.on)}--> {label(self.row.target)}"
        if self.input is None:
            return f"{arrow}: {self.reason}"
        return f"{arrow}: now refuses {label(self.input)} ({self.reason})"


def _key(row: Transition[Any, Any, Any]) -> tuple[str, str, str]:
    return label(row.source), label(row.on), label(row.target)


def _arrow(row: Transition[Any, Any, Any]) -> str:
    return f"{label(row.source)} --{label(row.on)}--> {label(row.target)}"


@frozen
class FsmDiff:
    """What changed from ``old`` to ``new``, as data; :attr:`compatible` is the verdict.

    ``states_added``/``states_removed`` and ``unreachable_now`` (reachable in the old machine,
    not in the new one) are state labels; ``transitions_removed``/``transitions_added`` are rows
    of the old and new tables; ``counterexample`` is the shortest old history the new machine
    does not follow, ``None`` when it follows them all.
    """

    old: Fsm[Any, Any, Any] = field(repr=False)
    new: Fsm[Any, Any, Any] = field(repr=False)
    states_added: tuple[str, ...]
    states_removed: tuple[str, ...]
    unreachable_now: tuple[str, ...]
    transitions_removed: tuple[Transition[Any, Any, Any], ...]
    transitions_added: tuple[Transition[Any, Any, Any], ...]
    retargeted: tuple[Retargeted, ...]
    guards_tightened: tuple[GuardTightened, ...]
    counterexample: Divergence[Any, Any] | None

    @property
    def compatible(self) -> bool:
        """Whether the new machine follows every history the old one accepts."""
        return self.counterexample is None

    def __str__(self) -> str:
        lines = [f"fsm diff: {'compatible' if self.compatible else 'BREAKING'}"]
        sections: tuple[tuple[str, tuple[str, ...]], ...] = (
            ("states added", self.states_added),
            ("states removed", self.states_removed),
            ("states no longer reachable", self.unreachable_now),
            ("transitions removed", tuple(map(_arrow, self.transitions_removed))),
            ("transitions added", tuple(map(_arrow, self.transitions_added))),
            ("transitions retargeted", tuple(map(str, self.retargeted))),
            ("guards tightened", tuple(map(str, self.guards_tightened))),
        )
        for title, items in sections:
            if items:
                lines.append(f"  {title}:")
                lines.extend(f"    - {item}" for item in items)
        if len(lines) == 1:
            lines.append("  no changes")
        if self.counterexample is not None:
            lines.append(f"  counterexample: {self.counterexample}")
        return "\n".join(lines)

    def to_mermaid(self) -> str:
        """Both machines in one ``stateDiagram-v2``: rows only the old one has are labelled
        ``REMOVED``, rows only the new one has ``ADDED``; removed and no longer reachable states
        are filled red, added ones green."""
        new_labels = {label(s) for s in self.new.states}
        states = [*self.new.states, *(s for s in self.old.states if label(s) not in new_labels)]
        ids = {label(s): i for s, i in state_ids(states).items()}
        lines = ["stateDiagram-v2"]
        lines.extend(
            f'    state "{mermaid_text(label(s))}" as {ids[label(s)]}'
            for s in states
            if label(s) != ids[label(s)]
        )
        lines.append(f"    [*] --> {ids[label(self.new.initial)]}")
        removed = {_key(r) for r in self.transitions_removed}
        added = {_key(r) for r in self.transitions_added}
        rows = [(r, "ADDED " if _key(r) in added else "") for r in self.new.transitions]
        rows.extend((r, "REMOVED ") for r in self.old.transitions if _key(r) in removed)
        lines.extend(
            f"    {ids[label(r.source)]} --> {ids[label(r.target)]} : "
            f"{mermaid_text(mark + edge_label(r))}"
            for r, mark in rows
        )
        lines.extend(f"    {ids[label(s)]} --> [*]" for s in self.new.finals)
        lines.append(f"    classDef removed {_REMOVED_STYLE}")
        lines.append(f"    classDef added {_ADDED_STYLE}")
        lines.append(f"    classDef unreachable {HIGHLIGHT_STYLE}")
        for name, states_marked in (
            ("removed", self.states_removed),
            ("added", self.states_added),
            ("unreachable", tuple(s for s in self.unreachable_now if s in new_labels)),
        ):
            if states_marked:
                lines.append(f"    class {','.join(ids[s] for s in states_marked)} {name}")
        return "\n".join(lines) + "\n"


_REMOVED_STYLE = "fill:#fecaca,stroke:#b91c1c,stroke-dasharray:4 2"
_ADDED_STYLE = "fill:#bbf7d0,stroke:#15803d"


def _translated(new: Fsm[Any, Any, Any], value: Any) -> Any:
    """The new machine's input standing for the old machine's *value* (equal, else same label)."""
    for candidate in new.inputs:
        if candidate == value:
            return candidate
    for candidate in new.inputs:
        if label(candidate) == label(value):
            return candidate
    return value


def refinement_counterexample(
    old: Fsm[Any, Any, Any],
    new: Fsm[Any, Any, Any],
    corresponds: Correspondence = same_label,
) -> Divergence[Any, Any] | None:
    """The shortest history (over the inputs the old machine knows) that the old machine accepts
    and the new one refuses or ends in a state that does not correspond; ``None`` if none.
    """
    if not corresponds(old.initial, new.initial):
        return Divergence((), old.initial, new.initial)
    start = (old.initial, new.initial)
    seen = {start}
    queue: deque[tuple[Any, Any, tuple[Any, ...]]] = deque([(*start, ())])
    while queue:
        old_state, new_state, path = queue.popleft()
        for value in old.inputs:
            stepped = old.transition(old_state, value)
            if isinstance(stepped, Failure):
                continue
            old_next = stepped.unwrap()[0]
            history = (*path, value)
            followed = new.transition(new_state, _translated(new, value))
            if isinstance(followed, Failure):
                return Divergence(history, old_next, refusal=followed.failure())
            new_next = followed.unwrap()[0]
            if not corresponds(old_next, new_next):
                return Divergence(history, old_next, new_next)
            if (old_next, new_next) not in seen:
                seen.add((old_next, new_next))
                queue.append((old_next, new_next, history))
    return None


def fsm_diff(
    old: Fsm[Any, Any, Any],
    new: Fsm[Any, Any, Any],
    corresponds: Correspondence = same_label,
) -> FsmDiff:
    """Compare *old* and *new*: states and rows added and removed, rows that now lead elsewhere,
    guards that refuse what the old machine accepted, states no longer reachable, and the
    shortest old history the new machine does not follow."""
    old_labels = [label(s) for s in old.states]
    new_labels = [label(s) for s in new.states]
    new_reachable = {label(s) for s in new.reachable_states()}
    new_keys = {_key(r) for r in new.transitions}
    old_keys = {_key(r) for r in old.transitions}
    old_targets = {(label(r.source), label(r.on)): label(r.target) for r in old.transitions}
    retargeted = tuple(
        Retargeted(r.source, r.on, old_targets[(label(r.source), label(r.on))], r.target)
        for r in new.transitions
        if old_targets.get((label(r.source), label(r.on)), label(r.target)) != label(r.target)
    )
    moved = {(label(r.source), label(r.on)) for r in retargeted}
    return FsmDiff(
        old=old,
        new=new,
        states_added=tuple(s for s in new_labels if s not in old_labels),
        states_removed=tuple(s for s in old_labels if s not in new_labels),
        unreachable_now=tuple(
            label(s)
            for s in old.reachable_states()
            if label(s) in new_labels and label(s) not in new_reachable
        ),
        transitions_removed=tuple(
            r
            for r in old.transitions
            if _key(r) not in new_keys and (label(r.source), label(r.on)) not in moved
        ),
        transitions_added=tuple(
            r
            for r in new.transitions
            if _key(r) not in old_keys and (label(r.source), label(r.on)) not in moved
        ),
        retargeted=retargeted,
        guards_tightened=_guards_tightened(old, new),
        counterexample=refinement_counterexample(old, new, corresponds),
    )


def _guards_tightened(
    old: Fsm[Any, Any, Any], new: Fsm[Any, Any, Any]
) -> tuple[GuardTightened, ...]:
    found: list[GuardTightened] = []
    old_guarded = {_key(r): r.guard is not None for r in old.transitions}
    for row in new.transitions:
        if row.guard is not None and old_guarded.get(_key(row)) is False:
            found.append(GuardTightened(row))
    for row in old.transitions:
        values = [row.on] if not isinstance(row.on, type) else list(old.sample_inputs)
        for value in values:
            if not row.matches(value) or old.row_for(row.source, value).value_or(None) != row:
                continue
            source = next((s for s in new.states if same_label(row.source, s)), None)
            if source is None:
                continue
            refused = new.why_not(source, _translated(new, value))
            if isinstance(refused, GuardRejected):
                new_row = next((r for r in new.transitions if _key(r) == _key(row)), row)
                if not any(t.row == new_row and t.input is None for t in found):
                    found.append(GuardTightened(new_row, value, refused.reason))
    return tuple(found)
