"""Mermaid and DOT diagrams: checked structurally against Mermaid's state-diagram grammar."""

from __future__ import annotations

import re

import pytest

from cim.examples.orders import OrderStatus, order_fsm
from cim.fsm import Fsm, Transition

ID = r"[A-Za-z_][A-Za-z0-9_]*"
# Mermaid's lexer: a transition label runs from ':' to the end of the line and may not contain
# ':', ';' or a newline (after ``#code;`` entities are decoded away, as Mermaid does first).
EDGE = re.compile(rf"^    ({ID}) --> ({ID}) : ([^:;\n]+)$")
DECLARATION = re.compile(rf'^    state "([^"]*)" as ({ID})$')
ENTITY = re.compile(r"#(\w+);")
OTHER_LINES = (
    rf"    {ID} --> \[\*\]",
    rf"    {ID}",
    r"    classDef current [a-z0-9#:,\-]+",
    rf"    class {ID} current",
)
# Keywords Mermaid's state-diagram lexer would read instead of an id at the start of a line.
KEYWORD_PREFIXES = ("default",)
KEYWORDS = {"class", "classdef", "state", "note", "scale", "direction", "hide", "end", "style"}


def decode(text: str) -> str:
    """Undo Mermaid entity codes, as the renderer does."""
    named = {"quot": '"', "lt": "<", "gt": ">"}
    return ENTITY.sub(lambda m: named.get(m[1]) or chr(int(m[1])), text)


def parse_mermaid(text: str) -> tuple[str, list[tuple[str, str, str]], dict[str, str]]:
    """Check every line against the grammar; return the initial id, the edges, the id labels."""
    lines = text.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert text.endswith("\n")
    initial, edges, labels = "", [], {}
    for line in lines[1:]:
        without_entities = ENTITY.sub("", line)
        if match := re.fullmatch(rf"    \[\*\] --> ({ID})", line):
            assert not initial, "more than one start arrow"
            initial = match[1]
        elif match := DECLARATION.fullmatch(line):
            assert "\n" not in match[1]
            labels[match[2]] = decode(match[1])
        elif match := EDGE.fullmatch(without_entities):
            full = EDGE.fullmatch(line) or re.fullmatch(rf"    ({ID}) --> ({ID}) : (.+)", line)
            assert full is not None
            assert "%%" not in full[3]
            assert not re.search(r"(?i)direction\s", full[3])
            edges.append((full[1], full[2], decode(full[3])))
        elif not any(re.fullmatch(pattern, line) for pattern in OTHER_LINES):
            pytest.fail(f"line not in the state-diagram grammar: {line!r}")
    ids = {i for edge in edges for i in edge[:2]} | {initial}
    for identifier in ids:
        assert identifier.lower() not in KEYWORDS
        assert not identifier.lower().startswith(KEYWORD_PREFIXES)
    return initial, edges, labels


def test_order_diagram_has_a_start_arrow_and_one_edge_per_row() -> None:
    """Header, ``[*] --> DRAFT``, then one ``A --> B : label`` per row in table order."""
    initial, edges, _ = parse_mermaid(order_fsm.to_mermaid())
    assert initial == "DRAFT"
    assert len(edges) == len(order_fsm.transitions)
    assert edges[0] == ("DRAFT", "SUBMITTED", "Submit")
    assert edges[4] == ("DRAFT", "CANCELLED", "Cancel [cancel_reason_given]")
    assert "    DELIVERED --> [*]" in order_fsm.to_mermaid().splitlines()


def test_highlight_marks_the_current_state_with_a_class() -> None:
    """highlight= adds a classDef and applies it to that state only."""
    lines = order_fsm.to_mermaid(highlight=OrderStatus.SHIPPED).splitlines()
    assert lines[-2].startswith("    classDef current ")
    assert lines[-1] == "    class SHIPPED current"
    parse_mermaid("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="cannot highlight"):
        order_fsm.to_mermaid(highlight="lost")  # type: ignore[arg-type]


AWKWARD_STATES = (
    "in review",
    "in_review",
    "1st",
    "class",
    "default",
    "Default-Route",
    'say "hi"',
    "a:b",
    "état",
    "",
)


def awkward() -> Fsm[str, str, str]:
    """States and inputs full of characters Mermaid treats specially."""
    return Fsm(
        "in review",
        [
            Transition("in review", "go; now", "in_review", output="50% off"),
            Transition("in_review", "<b>bold</b>", "1st", guard=lambda s, i: True),
            Transition("1st", "direction LR", "class"),
            Transition("class", "#tag: x", "default"),
            Transition("default", '"quoted"\nnewline', "Default-Route", output="{braces}"),
            Transition("Default-Route", "%% not a comment", 'say "hi"'),
            Transition('say "hi"', "a --> b", "a:b"),
            Transition("a:b", "→ unicode", "état"),
            Transition("état", "empty", ""),
        ],
        states=AWKWARD_STATES,
        finals=("",),
    )


def test_awkward_names_become_valid_distinct_ids_with_their_labels_kept() -> None:
    """Every state gets a distinct safe id; its real name survives as the displayed label."""
    fsm = awkward()
    initial, edges, labels = parse_mermaid(fsm.to_mermaid(highlight="a:b"))
    ids = [initial] + [edge[1] for edge in edges]
    assert len(set(ids)) == len(AWKWARD_STATES)
    shown = [labels.get(i, i) for i in ids]
    assert shown == [*AWKWARD_STATES[:-1], "''"]


def test_awkward_labels_are_escaped_and_decode_back() -> None:
    """Labels with ``: ; # % " < > { }``, newlines and ``direction`` decode to the original text."""
    fsm = awkward()
    _, edges, _ = parse_mermaid(fsm.to_mermaid())
    assert [edge[2] for edge in edges] == [
        "go; now / 50% off",
        "<b>bold</b> [guard]",
        "direction LR",
        "#tag: x",
        '"quoted" newline / {braces}',
        "%% not a comment",
        "a --> b",
        "→ unicode",
        "empty",
    ]


def test_dot_has_a_start_node_one_edge_per_row_and_escaped_labels() -> None:
    """The DOT text is a digraph with the start arrow, one edge per row, finals doubled."""
    dot = awkward().to_dot(highlight="1st")
    lines = dot.splitlines()
    assert lines[0] == "digraph fsm {"
    assert lines[-1] == "}"
    edges = [line for line in lines if " -> " in line]
    assert edges[0] == '    "__start__" -> "in_review";'
    assert len(edges) == 1 + len(awkward().transitions)
    assert '[label="\\"quoted\\"\\nnewline / {braces}"]' in dot
    assert '"unnamed" [label="\'\'", peripheries=2];' in dot
    assert '"etat" [label="état"];' in dot
    assert 'fillcolor="#fde68a"' in dot
