"""Hypothesis strategies for what a foreign or broken client may send: messages and requests."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import strategies as st

from cim import Header

__all__ = ("command_requests", "foreign_headers", "foreign_messages", "json_values")

_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
_HEADER_NAME = st.one_of(
    st.sampled_from([str(h) for h in Header]),
    st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,15}", fullmatch=True).filter(
        lambda name: not name.lower().startswith("nats")  # server-interpreted headers
    ),
)


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value orjson can write (64-bit integers, no NaN, no lone surrogates)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        _TEXT,
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
        max_leaves=8,
    )


def foreign_headers() -> st.SearchStrategy[dict[str, str]]:
    """Headers a foreign client may set: cim's own names with junk values, and random names."""
    return st.dictionaries(_HEADER_NAME, _HEADER_TEXT, max_size=6)


def foreign_messages() -> st.SearchStrategy[tuple[dict[str, str], bytes]]:
    """``(headers, body)`` of a message a foreign client publishes on an event subject."""
    bodies = st.one_of(
        st.binary(max_size=200),
        json_values().map(orjson.dumps),
        st.fixed_dictionaries({"payload": json_values(), "metadata": json_values()}).map(
            orjson.dumps
        ),
    )
    return st.tuples(foreign_headers(), bodies)


def command_requests(command_names: list[str]) -> st.SearchStrategy[bytes]:
    """Request bodies for a command endpoint: bytes, JSON, and near-miss command shapes."""
    fields = {name: json_values() for name in ("amount", "account_id", "owner", "limit", "x")}
    commands = st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from([*command_names, "Nope", ""]), json_values())},
        optional=fields,
    )
    requests = st.fixed_dictionaries(
        {},
        optional={
            "stream": st.one_of(_TEXT, json_values(), st.sampled_from(["account.a-1", "a.b.c"])),
            "command": st.one_of(commands, json_values()),
            "correlation_id": st.one_of(_TEXT, json_values()),
        },
    )
    return st.one_of(
        st.binary(max_size=100), json_values().map(orjson.dumps), requests.map(orjson.dumps)
    )
