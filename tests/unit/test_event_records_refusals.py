"""Event records and registries: exact refusal messages and lookups after a merge."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import pytest
from attrs import frozen

from cim import EventEnvelope, EventTypes, NewEvent, StreamId


@frozen
class Placed:
    """A payload registered in one registry."""

    order_id: str


@frozen
class Paid:
    """A payload registered in another registry."""

    invoice_id: str


def test_metadata_that_is_not_a_mapping_is_refused_naming_its_type() -> None:
    """Only a dict is turned into a PMap: a tuple is refused, and the message names tuple."""
    bad: object = ()
    with pytest.raises(
        TypeError, match=r"^metadata must be a pyrsistent PMap\[str, str\], got tuple$"
    ):
        NewEvent(Placed("o-1"), metadata=bad)


def test_a_naive_recorded_at_is_refused_naming_the_value() -> None:
    """recorded_at must carry a time zone; the message names the field and the value."""
    with pytest.raises(
        ValueError,
        match=r"^recorded_at must be a timezone-aware datetime, got datetime\.datetime\(2024, 1, 1",
    ):
        EventEnvelope(
            event_id=UUID(int=1),
            stream=StreamId("order", "o-1"),
            version=1,
            position=1,
            event_type="Placed",
            schema_version=1,
            payload=Placed("o-1"),
            recorded_at=datetime(2024, 1, 1),  # naive on purpose
        )


def test_an_unknown_class_is_named_in_the_key_error() -> None:
    """by_class of an unregistered class says which class."""
    with pytest.raises(KeyError, match="Paid is not a registered event type"):
        EventTypes().register(Placed).by_class(Paid)


def test_a_merged_registry_finds_the_other_registry_types_by_name() -> None:
    """After a merge every type is found by its name, from either side."""
    merged = EventTypes().register(Placed) | EventTypes().register(Paid)
    assert merged.by_name("Paid").cls is Paid
    assert merged.by_name("Placed").cls is Placed
    assert len(merged) == 2
