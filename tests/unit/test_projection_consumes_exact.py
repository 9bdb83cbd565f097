"""Consumes exactly: the full text of every refusal, and union as set algebra over declarations."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cim.projection import Consumes

NAMES = st.frozensets(st.sampled_from(["a", "b", "c", "d"]), min_size=1) | st.none()
"""A declaration of categories or event types: some non-empty names, or None for all."""


class Placed:
    """A payload class, declared as an event type."""


def _either(left: frozenset[Any] | None, right: frozenset[Any] | None) -> frozenset[Any] | None:
    return None if left is None or right is None else left | right


@given(NAMES, NAMES, NAMES, NAMES, st.booleans())
def test_union_unites_declarations_and_keeps_the_form(
    left_categories: frozenset[str] | None,
    right_categories: frozenset[str] | None,
    left_types: frozenset[str] | None,
    right_types: frozenset[str] | None,
    envelopes: bool,
) -> None:
    """union consumes the union of both sides (None, all, absorbs) in the form both share."""
    left = Consumes(left_categories, left_types, envelopes)
    right = Consumes(right_categories, right_types, envelopes)
    assert left.union(right) == Consumes(
        _either(left_categories, right_categories), _either(left_types, right_types), envelopes
    )
    assert left.union(right).envelopes is envelopes


def test_union_of_different_forms_is_refused_with_the_way_out() -> None:
    """Payloads with envelopes is a ValueError naming the fix, whichever side is which."""
    expected = (
        "cannot combine a projection of payloads with one of envelopes: "
        "give both the same envelopes= (premap the payload one with "
        "lambda envelope: envelope.payload)"
    )
    for left, right in [(False, True), (True, False)]:
        with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
            Consumes(envelopes=left).union(Consumes(envelopes=right))


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (
            {"categories": "order"},
            TypeError,
            "categories must be a collection or None, got 'order' (wrap one: ['order'])",
        ),
        (
            {"event_types": Placed},
            TypeError,
            f"event_types must be a collection or None, got {Placed!r} (wrap one: [{Placed!r}])",
        ),
        ({"categories": 5}, TypeError, "categories must be a collection or None, got 5"),
        ({"categories": b"ab"}, TypeError, "categories must be a collection or None, got b'ab'"),
        (
            {"categories": []},
            ValueError,
            "categories is empty, so nothing would be consumed; give None for all",
        ),
        (
            {"event_types": ()},
            ValueError,
            "event_types is empty, so nothing would be consumed; give None for all",
        ),
        (
            {"categories": ["ok", "", 3]},
            TypeError,
            "categories must be non-empty strings, got '', 3",
        ),
        (
            {"categories": [Placed]},
            TypeError,
            f"categories must be non-empty strings, got {Placed!r}",
        ),
        (
            {"event_types": ["Placed", "", 1, Placed]},
            TypeError,
            "event_types must be event type names or payload classes, got '', 1",
        ),
    ],
)
def test_consumes_refusals_say_exactly_what_is_wrong(
    arguments: dict[str, Any], error: type[Exception], message: str
) -> None:
    """Every refused declaration names the argument, the bad values (sorted) and the fix."""
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        Consumes(**arguments)


@given(
    st.frozensets(st.sampled_from(["a", "b", "Placed"]), min_size=1),
    st.frozensets(st.sampled_from(["x", "y"]), min_size=1),
)
def test_valid_declarations_are_kept_as_given(
    types: frozenset[str], categories: frozenset[str]
) -> None:
    """Non-empty names (and payload classes) are accepted and stored as frozensets."""
    consumes = Consumes(list(categories), [*types, Placed])
    assert consumes.categories == categories
    assert consumes.event_types == types | {Placed}
    assert Consumes(None, None) == Consumes()
    assert Consumes().categories is None
    assert Consumes().event_types is None
