"""The schema evolution law and the checks behind it reject planted breaking changes."""

from __future__ import annotations

from typing import Any

import pytest
from attrs import frozen
from hypothesis import settings
from hypothesis import strategies as st

from cim import EventTypes, JsonCodec, MalformedPayload, UnknownEventType
from cim.evolution import (
    FieldsDropped,
    TypeRemoved,
    Unreadable,
    UpcastNotDeterministic,
    ValueChanged,
    VersionLowered,
    VersionsNoLongerReadable,
    registry_changes,
    stored_event_problems,
)
from laws import EvolutionCase, LawViolation, check_schema_evolution


@frozen
class PaidV1:
    """Version 1 of a payment."""

    order_id: str
    amount: float
    note: str


@frozen
class PaidDropped:
    """``note`` removed without an upcaster."""

    order_id: str
    amount: float


@frozen
class PaidRenamed:
    """``amount`` renamed to ``total`` without an upcaster."""

    order_id: str
    total: float
    note: str


@frozen
class PaidNarrowed:
    """``amount`` narrowed from float to int."""

    order_id: str
    amount: int
    note: str


@frozen
class PaidV2:
    """Version 2: ``amount`` in cents, ``note`` dropped on purpose by the upcaster."""

    order_id: str
    cents: int


@frozen
class Tagged:
    """Tags stored as a list and now read as a set: order and repeats are lost."""

    tags: frozenset[str]


def _v1_to_v2(old: dict[str, Any]) -> dict[str, Any]:
    return {"order_id": old["order_id"], "cents": round(old["amount"] * 100)}


OLD = EventTypes().register(PaidV1, name="Paid")
GOOD = EventTypes().register(PaidV2, name="Paid", version=2, upcasters={1: _v1_to_v2})
FINITE = {PaidV1: st.builds(PaidV1, st.text(), st.floats(-1e6, 1e6), st.text())}


def test_a_compatible_change_holds() -> None:
    """An upcaster that maps every field keeps the law: v2 reads everything v1 wrote."""
    check_schema_evolution(OLD, GOOD, payloads=FINITE, max_examples=50)
    check_schema_evolution(OLD, OLD, max_examples=50)  # no change at all


def test_a_field_dropped_without_an_upcaster_is_reported() -> None:
    """Removing a field from the class with no upcaster loses stored data: a violation."""
    dropped = EventTypes().register(PaidDropped, name="Paid")
    with pytest.raises(LawViolation) as caught:
        check_schema_evolution(OLD, dropped, payloads=FINITE, max_examples=50)
    assert caught.value.law == "schema evolution: 'Paid' v1"
    assert isinstance(caught.value.counterexample, EvolutionCase)
    assert caught.value.counterexample.event_type == "Paid"
    assert caught.value.counterexample.schema_version == 1
    assert "stored field note is not read by the new class" in caught.value.detail


def test_a_renamed_field_and_a_narrowed_type_are_reported() -> None:
    """A rename without an upcaster cannot be read; an int where floats were stored changes values."""
    renamed = EventTypes().register(PaidRenamed, name="Paid")
    with pytest.raises(LawViolation, match="cannot be read: payload of 'Paid'"):
        check_schema_evolution(OLD, renamed, payloads=FINITE, max_examples=50)
    narrowed = EventTypes().register(PaidNarrowed, name="Paid")
    with pytest.raises(LawViolation) as caught:
        check_schema_evolution(OLD, narrowed, payloads=FINITE, max_examples=100)
    assert "amount" in caught.value.detail
    assert isinstance(caught.value.counterexample, EvolutionCase)


def test_registry_changes_name_removed_types_lowered_versions_and_lost_upcasters() -> None:
    """Comparing registrations alone finds removals, downgrades and removed upcasters."""
    assert registry_changes(OLD, EventTypes()) == (TypeRemoved("Paid"),)
    assert registry_changes(GOOD, OLD) == (VersionLowered("Paid", 2, 1),)
    no_upcaster = EventTypes().register(PaidV2, name="Paid", version=2)
    assert registry_changes(GOOD, no_upcaster) == (VersionsNoLongerReadable("Paid", (1,)),)
    assert registry_changes(OLD, GOOD) == ()
    with pytest.raises(LawViolation, match="'Paid' was removed"):
        check_schema_evolution(OLD, EventTypes())


def test_registration_problems_are_all_reported_at_once() -> None:
    """Two removed types give one violation of the registrations law listing both problems."""
    both = OLD.register(Tagged)
    with pytest.raises(LawViolation) as caught:
        check_schema_evolution(both, EventTypes())
    assert caught.value.law == "schema evolution: registrations"
    assert caught.value.counterexample == (TypeRemoved("Paid"), TypeRemoved("Tagged"))
    assert caught.value.detail == (
        "'Paid' was removed: the new registry cannot read its events; "
        "'Tagged' was removed: the new registry cannot read its events"
    )


@frozen
class TwoLists:
    """Two lists of tags, as version 1 stored them."""

    first: tuple[str, ...]
    second: tuple[str, ...]


@frozen
class TwoSets:
    """The same two fields read as sets: repeats are lost in both."""

    first: frozenset[str]
    second: frozenset[str]


def test_every_problem_of_a_generated_event_is_in_the_detail() -> None:
    """Both narrowed fields of one stored event are reported, separated by '; '."""
    old = EventTypes().register(TwoLists, name="Tags")
    new = EventTypes().register(TwoSets, name="Tags")
    repeated = {TwoLists: st.just(TwoLists(("a", "a"), ("b", "b")))}
    with pytest.raises(LawViolation) as caught:
        check_schema_evolution(old, new, payloads=repeated, max_examples=1)
    assert caught.value.detail == (
        "'Tags' v1: field first stored as ['a', 'a'] reads back as ['a']; "
        "'Tags' v1: field second stored as ['b', 'b'] reads back as ['b']"
    )


def _counted(drawn: list[PaidV1]) -> dict[type[Any], st.SearchStrategy[Any]]:
    def record(payment: PaidV1) -> PaidV1:
        drawn.append(payment)
        return payment

    return {PaidV1: FINITE[PaidV1].map(record)}


def test_the_settings_and_max_examples_given_are_used() -> None:
    """settings(max_examples=3) or max_examples=3 makes the law try at most 3 payloads."""
    drawn: list[PaidV1] = []
    check_schema_evolution(
        OLD, GOOD, payloads=_counted(drawn), settings=settings(max_examples=3, database=None)
    )
    assert 1 <= len(drawn) <= 3
    drawn.clear()
    check_schema_evolution(OLD, GOOD, payloads=_counted(drawn), max_examples=3)
    assert 1 <= len(drawn) <= 3


def test_a_non_deterministic_or_mutating_upcaster_is_reported() -> None:
    """An upcaster that changes its input, or answers differently each time, breaks the law."""
    calls: list[int] = []

    def counting(old: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        return {"order_id": old["order_id"], "cents": len(calls)}

    def mutating(old: dict[str, Any]) -> dict[str, Any]:
        old["cents"] = 1
        return {"order_id": old.pop("order_id"), "cents": 1}

    headers = {"Cim-Event-Type": "Paid", "Cim-Schema-Version": "1"}
    body = b'{"payload": {"order_id": "o-1", "amount": 1.5, "note": ""}}'
    for upcaster in (counting, mutating):
        types = EventTypes().register(PaidV2, name="Paid", version=2, upcasters={1: upcaster})
        problems = stored_event_problems(JsonCodec(types), headers, body)
        assert len(problems) == 1
        assert isinstance(problems[0], UpcastNotDeterministic)


def test_stored_event_problems_reads_one_stored_message_precisely() -> None:
    """Each kind of problem comes back as its own value, naming type, version and field."""
    headers = {"Cim-Event-Type": "Paid", "Cim-Schema-Version": "1"}
    body = b'{"payload": {"order_id": "o-1", "amount": 1.5, "note": "n"}}'
    assert stored_event_problems(JsonCodec(GOOD), headers, body) == ()
    dropped = EventTypes().register(PaidDropped, name="Paid")
    assert stored_event_problems(JsonCodec(dropped), headers, body) == (
        FieldsDropped("Paid", 1, ("note",)),
    )
    narrowed = JsonCodec(EventTypes().register(PaidNarrowed, name="Paid"))
    (unreadable,) = stored_event_problems(narrowed, headers, body)
    assert isinstance(unreadable, Unreadable)
    assert isinstance(unreadable.error, MalformedPayload)
    tags = JsonCodec(EventTypes().register(Tagged))
    listed = b'{"payload": {"tags": ["b", "a", "a"]}}'
    (changed,) = stored_event_problems(tags, {**headers, "Cim-Event-Type": "Tagged"}, listed)
    assert isinstance(changed, ValueChanged)
    assert (changed.field, changed.stored, sorted(changed.read)) == (
        "tags",
        ["b", "a", "a"],
        ["a", "b"],
    )
    (unknown,) = stored_event_problems(JsonCodec(EventTypes()), headers, body)
    assert isinstance(unknown, Unreadable)
    assert unknown.error == UnknownEventType("Paid")
