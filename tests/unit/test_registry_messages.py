"""EventTypes registrations: defaults, exact refusal messages, and upcasters kept by class too."""

from __future__ import annotations

import re

import pytest
from attrs import frozen

from cim import EventTypes


@frozen
class Moved:
    """A payload for these tests."""

    to: str


def test_the_default_schema_version_is_one() -> None:
    """Without version= a type is registered at version 1."""
    assert EventTypes().register(Moved).by_class(Moved).version == 1


@pytest.mark.parametrize("name", ["", " Moved", "Moved\n", "Mo\x00ved"])
def test_names_must_be_printable_without_surrounding_space(name: str) -> None:
    """Blank, padded or unprintable names are refused, naming the name."""
    with pytest.raises(ValueError, match=re.escape(f"event type name {name!r} must be printable")):
        EventTypes().register(Moved, name=name)


def test_an_out_of_range_upcaster_names_the_type_and_the_range() -> None:
    """An upcaster from the current version or later is refused with the valid range."""
    with pytest.raises(
        ValueError,
        match=re.escape(
            "upcaster for 'Moved' from version 3 is out of range: "
            "the current version is 3, so upcasters go from 1..2"
        ),
    ):
        EventTypes().register(Moved, version=3, upcasters={3: lambda d: d})


def test_a_non_callable_upcaster_is_named() -> None:
    """An upcaster that is not callable is a TypeError naming type, step and value."""
    with pytest.raises(
        TypeError, match=re.escape("upcaster for 'Moved' from version 1 is not callable: 'x'")
    ):
        EventTypes().register(Moved, version=2, upcasters={1: "x"})  # type: ignore[dict-item]


def test_a_gap_in_the_chain_lists_every_missing_step() -> None:
    """A chain with gaps names each missing version, comma-separated, and how to fix it."""
    with pytest.raises(
        ValueError,
        match=re.escape(
            "upcast chain of 'Moved' has a gap: no upcaster from version 2, 3 "
            "(chain must run unbroken to version 4; add upcasters from the newest version "
            "downwards)"
        ),
    ):
        EventTypes().register(Moved, version=4, upcasters={1: lambda d: d})


def test_upcaster_checks_the_chain_under_the_types_name() -> None:
    """upcaster refuses a gap and names the registered type."""
    types = EventTypes().register(Moved, name="moved", version=3)
    with pytest.raises(ValueError, match=re.escape("upcast chain of 'moved' has a gap")):
        types.upcaster("moved", 1, lambda d: d)


def test_an_added_upcaster_is_seen_by_name_and_by_class() -> None:
    """The registration found by class carries the upcaster added by name."""

    def step(data: dict[str, object]) -> dict[str, object]:
        """Upgrade version 1 to 2."""
        return data

    types = EventTypes().register(Moved, version=2).upcaster("Moved", 1, step)
    assert types.by_class(Moved).upcasters[1] is step
    assert types.by_name("Moved").upcasters[1] is step
    assert types.by_class(Moved) == types.by_name("Moved")
