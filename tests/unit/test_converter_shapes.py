"""Every hook of a freshly made payload converter: exact JSON shapes and strict refusals."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any
from uuid import UUID

import cattrs
import pytest
from attrs import evolve, frozen
from pyrsistent import PMap, PSet, PVector, pmap, pset, pvector

from cim import make_payload_converter


@frozen
class Everything:
    """A payload with a field for each hook."""

    big: int
    small: int
    ident: UUID
    amount: Decimal
    flag: bool
    name: str
    tags: PSet[str]
    points: PVector[int]
    scores: PMap[str, int]
    loose_set: PSet  # type: ignore[type-arg]
    loose_vector: PVector  # type: ignore[type-arg]
    loose_map: PMap  # type: ignore[type-arg]
    ratio: float | int
    label: float | str


VALUE = Everything(
    big=2**70,
    small=-(2**63),
    ident=UUID(int=7),
    amount=Decimal("1.50"),
    flag=True,
    name="n",
    tags=pset(["a"]),
    points=pvector([1, 2]),
    scores=pmap({"x": 1}),
    loose_set=pset([1]),
    loose_vector=pvector(["v"]),
    loose_map=pmap({"k": "v"}),
    ratio=2.5,
    label="text",
)
JSON: dict[str, Any] = {
    "big": "1180591620717411303424",
    "small": -(2**63),
    "ident": "00000000-0000-0000-0000-000000000007",
    "amount": "1.50",
    "flag": True,
    "name": "n",
    "tags": ["a"],
    "points": [1, 2],
    "scores": {"x": 1},
    "loose_set": [1],
    "loose_vector": ["v"],
    "loose_map": {"k": "v"},
    "ratio": 2.5,
    "label": "text",
}


def test_every_shape_unstructures_to_plain_json() -> None:
    """Big ints and ids as text, persistent collections as lists and dicts."""
    assert make_payload_converter().unstructure(VALUE, Everything) == JSON


def test_every_shape_structures_back() -> None:
    """The JSON reads back to the same record."""
    assert make_payload_converter().structure(JSON, Everything) == VALUE


def test_a_non_finite_float_in_a_float_or_text_field_cannot_be_written() -> None:
    """Written as text it would read back as a string: refused with the field's type."""
    with pytest.raises(
        ValueError, match=re.escape("cannot encode -inf in a field of type float | str")
    ):
        make_payload_converter().unstructure(evolve(VALUE, label=-math.inf), Everything)


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("small", "12"),
        ("small", True),
        ("small", 1.5),
        ("flag", 1),
        ("name", 3),
        ("ident", 7),
        ("amount", 1.5),
        ("points", [True]),
        ("scores", {"x": "1"}),
        ("tags", [1]),
    ],
)
def test_json_types_must_match_the_annotation(field: str, bad: object) -> None:
    """No silent conversion: each mismatch is refused."""
    with pytest.raises(cattrs.BaseValidationError):
        make_payload_converter().structure({**JSON, field: bad}, Everything)


def test_a_float_union_reads_numbers_and_non_finite_text() -> None:
    """float | int keeps ints as ints; float | str keeps ordinary text as text."""
    converter = make_payload_converter()
    number: Any = float | int
    text: Any = float | str
    assert type(converter.structure(3, number)) is int
    assert math.isnan(converter.structure("NaN", number))
    assert converter.structure("NaN", text) == "NaN"
    assert type(converter.structure(2, text)) is float


def test_a_number_is_not_read_as_a_boolean() -> None:
    """A bool field refuses 1 (JSON has true and false), naming the value."""
    with pytest.raises(TypeError, match=r"^expected a boolean, got 1$"):
        make_payload_converter().structure(1, bool)
