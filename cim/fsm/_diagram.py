"""Diagrams of an :class:`~cim.fsm.Fsm`: Mermaid ``stateDiagram-v2`` and Graphviz DOT text."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from cim.fsm._labels import label
from cim.fsm._table import Transition, guard_name

if TYPE_CHECKING:
    from cim.fsm._fsm import Fsm

S = TypeVar("S")

_START = "__start__"
# Words Mermaid's state-diagram lexer reads as keywords where a state id is expected.
_MERMAID_KEYWORDS = frozenset(
    {"class", "classdef", "state", "note", "scale", "direction", "end", "style", "click", "hide"}
    | {"acctitle", "accdescr", "statediagram"}
)
# Mermaid decodes ``#code;`` entities in labels; these characters would otherwise end a label,
# start a comment or be read as markup.
_MERMAID_ENTITIES = {
    "#": "#35;",
    ";": "#59;",
    ":": "#58;",
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "%": "#37;",
    "{": "#123;",
    "}": "#125;",
    "\n": " ",
    "\r": " ",
}
# ``direction LR`` anywhere on a line switches the lexer into a direction statement.
_DIRECTION = re.compile(r"(?i)(directio)n(?=\s)")
HIGHLIGHT_STYLE = "fill:#fde68a,stroke:#b45309,stroke-width:3px"


def state_ids(states: Sequence[S]) -> dict[S, str]:
    """A distinct ``[A-Za-z0-9_]`` identifier per state, close to its label, never a keyword."""
    ids: dict[S, str] = {}
    used = {_START}
    for state in states:
        ascii_label = unicodedata.normalize("NFKD", label(state)).encode("ascii", "ignore").decode()
        base = re.sub(r"[^A-Za-z0-9_]", "_", ascii_label).strip("_") or "unnamed"
        lowered = base.lower()
        if base[0].isdigit() or lowered in _MERMAID_KEYWORDS or lowered.startswith("default"):
            base = f"s_{base}"
        candidate, n = base, 1
        while candidate in used:
            n += 1
            candidate = f"{base}_{n}"
        used.add(candidate)
        ids[state] = candidate
    return ids


def mermaid_text(text: str) -> str:
    """*text* made safe for a Mermaid label (one line; no ``:``, ``;``, ``#``, quotes, markup)."""
    escaped = "".join(_MERMAID_ENTITIES.get(char, char) for char in text)
    return _DIRECTION.sub(r"\1#110;", escaped)


def dot_text(text: str) -> str:
    """*text* as the inside of a DOT double-quoted string."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def edge_label(row: Transition[Any, Any, Any]) -> str:
    """``input [guard] / output``: the input, then the guard's name and the output if any."""
    text = label(row.on)
    if row.guard is not None:
        text += f" [{guard_name(row.guard)}]"
    if row.output is not None:
        text += f" / {label(row.output)}"
    return text


def _check_highlight(fsm: Fsm[S, Any, Any], highlight: S | None) -> None:
    if highlight is not None and highlight not in fsm.states:
        raise ValueError(f"cannot highlight {highlight!r}: not one of the machine's states")


def to_mermaid(fsm: Fsm[S, Any, Any], highlight: S | None = None) -> str:
    """The machine as Mermaid ``stateDiagram-v2``: one ``A --> B : label`` line per row."""
    _check_highlight(fsm, highlight)
    ids = state_ids(fsm.states)
    lines = ["stateDiagram-v2"]
    lines.extend(
        f'    state "{mermaid_text(label(s))}" as {ids[s]}'
        for s in fsm.states
        if label(s) != ids[s]
    )
    lines.append(f"    [*] --> {ids[fsm.initial]}")
    lines.extend(
        f"    {ids[row.source]} --> {ids[row.target]} : {mermaid_text(edge_label(row))}"
        for row in fsm.transitions
    )
    mentioned = (
        {fsm.initial} | {r.source for r in fsm.transitions} | {r.target for r in fsm.transitions}
    )
    lines.extend(f"    {ids[s]}" for s in fsm.states if s not in mentioned and label(s) == ids[s])
    lines.extend(f"    {ids[s]} --> [*]" for s in fsm.finals)
    if highlight is not None:
        lines.append(f"    classDef current {HIGHLIGHT_STYLE}")
        lines.append(f"    class {ids[highlight]} current")
    return "\n".join(lines) + "\n"


def to_dot(fsm: Fsm[S, Any, Any], highlight: S | None = None) -> str:
    """The machine as a Graphviz ``digraph``; finals have a double border."""
    _check_highlight(fsm, highlight)
    ids = state_ids(fsm.states)
    lines = [
        "digraph fsm {",
        "    rankdir=LR;",
        "    node [shape=box, style=rounded];",
        f'    "{_START}" [shape=point, label=""];',
    ]
    for state in fsm.states:
        attributes = [f'label="{dot_text(label(state))}"']
        if state in fsm.finals:
            attributes.append("peripheries=2")
        if state == highlight:
            attributes.append('style="rounded,filled", fillcolor="#fde68a"')
        lines.append(f'    "{ids[state]}" [{", ".join(attributes)}];')
    lines.append(f'    "{_START}" -> "{ids[fsm.initial]}";')
    lines.extend(
        f'    "{ids[row.source]}" -> "{ids[row.target]}" [label="{dot_text(edge_label(row))}"];'
        for row in fsm.transitions
    )
    lines.append("}")
    return "\n".join(lines) + "\n"
