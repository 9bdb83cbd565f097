"""Converter edges: 64-bit boundaries, exact refusal messages, hooks of nested and union types."""

from __future__ import annotations

import math
from typing import Any
from uuid import UUID

import pytest
from pyrsistent import PMap, PVector, pmap, pvector

from cim import make_payload_converter
from cim._converter import I64_MIN, U64_MAX

NON_FINITE_AS_TEXT = "read back as a string"


@pytest.mark.parametrize("number", [I64_MIN, U64_MAX])
def test_the_64_bit_bounds_travel_as_numbers(number: int) -> None:
    """I64_MIN and U64_MAX are JSON numbers, not text."""
    assert make_payload_converter().unstructure(number, int) == number


@pytest.mark.parametrize("number", [I64_MIN, U64_MAX])
def test_a_64_bit_bound_as_text_is_refused(number: int) -> None:
    """Only integers beyond 64 bits travel as text: the bounds as strings are refused."""
    with pytest.raises(ValueError, match=rf"^expected an integer, got the string '{number}'$"):
        make_payload_converter().structure(str(number), int)


def test_an_int_field_names_the_value_it_refuses() -> None:
    """A float is not read as an integer, and the message says which value."""
    with pytest.raises(TypeError, match=r"^expected an integer, got 1\.5$"):
        make_payload_converter().structure(1.5, int)


def test_a_str_field_names_the_value_it_refuses() -> None:
    """A number is not read as a string, and the message says which value."""
    with pytest.raises(TypeError, match=r"^expected a string, got 3$"):
        make_payload_converter().structure(3, str)


def test_a_union_of_float_and_two_others_reads_each_member() -> None:
    """float | int | str: an int stays an int and ordinary text stays text."""
    converter = make_payload_converter()
    three: Any = float | int | str
    assert converter.structure("text", three) == "text"
    assert type(converter.structure(3, three)) is int


def test_a_float_or_text_union_writes_other_members_with_their_hooks() -> None:
    """float | str | int | UUID: a big int as decimal text, a UUID as text."""
    converter = make_payload_converter()
    union: Any = float | str | int | UUID
    assert converter.unstructure(2**70, union) == str(2**70)
    assert converter.unstructure(UUID(int=7), union) == str(UUID(int=7))


@pytest.mark.parametrize(
    ("value", "annotation"),
    [
        (pvector([math.inf]), PVector[float | str]),
        (pmap({"k": math.inf}), PMap[str, float | str]),
    ],
)
def test_persistent_collections_write_items_with_the_annotated_hook(
    value: object, annotation: Any
) -> None:
    """An item is written by its annotated type: inf in a float | str item is refused."""
    with pytest.raises(ValueError, match=NON_FINITE_AS_TEXT):
        make_payload_converter().unstructure(value, annotation)


@pytest.mark.parametrize(
    ("value", "annotation", "expected"),
    [
        (pvector([2**70]), PVector[int], [str(2**70)]),
        (pmap({"k": 2**70}), PMap[str, int], {"k": str(2**70)}),
        (pvector([2**70]), PVector, [str(2**70)]),
        (pmap({"k": 2**70}), PMap, {"k": str(2**70)}),
    ],
)
def test_persistent_collections_unstructure_to_plain_lists_and_dicts(
    value: object, annotation: Any, expected: object
) -> None:
    """A PVector is written as a list and a PMap as a dict, big ints as text."""
    written = make_payload_converter().unstructure(value, annotation)
    assert written == expected
    assert type(written) is type(expected)
