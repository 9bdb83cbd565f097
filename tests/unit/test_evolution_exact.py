"""Schema evolution checks report every type, and each problem with its exact type, version and detail."""

from __future__ import annotations

import re
from typing import Any

from attrs import frozen

from cim import EventTypes, InvalidHeader, JsonCodec, MissingHeader
from cim.evolution import (
    TypeRemoved,
    Unreadable,
    UpcastNotDeterministic,
    ValueChanged,
    VersionLowered,
    VersionsNoLongerReadable,
    registry_changes,
    stored_event_problems,
)


@frozen
class Opened:
    """A first event type."""

    owner: str


@frozen
class Closed:
    """A second event type."""

    reason: str


@frozen
class Tagged:
    """Tags stored as a list and read as a set: repeats are lost."""

    tags: frozenset[str]


HEADERS = {"Cim-Event-Type": "Opened", "Cim-Schema-Version": "1"}
BODY = b'{"payload": {"owner": "Ada"}}'


def _same(payload: dict[str, Any]) -> dict[str, Any]:
    return dict(payload)


def test_registry_changes_reports_every_type_not_only_the_first() -> None:
    """Two removed types give two problems (by name), and so do two lowered versions."""
    both = EventTypes().register(Opened, version=2).register(Closed, version=2)
    assert registry_changes(both, EventTypes()) == (TypeRemoved("Closed"), TypeRemoved("Opened"))
    lowered = EventTypes().register(Opened).register(Closed)
    assert registry_changes(both, lowered) == (
        VersionLowered("Closed", 2, 1),
        VersionLowered("Opened", 2, 1),
    )


def test_only_versions_up_to_the_old_current_one_can_be_lost() -> None:
    """Versions the old registry never wrote are not reported as no longer readable."""
    old = EventTypes().register(Opened)
    new = EventTypes().register(Opened, version=3)
    assert registry_changes(old, new) == (VersionsNoLongerReadable("Opened", (1,)),)


def test_a_message_without_type_or_version_headers_is_unreadable_with_what_is_known() -> None:
    """A missing type reads as '', a missing or non-numeric version as None, next to the codec's error."""
    codec = JsonCodec(EventTypes().register(Opened))
    assert stored_event_problems(codec, {}, BODY) == (
        Unreadable("", None, MissingHeader("Cim-Event-Type")),
    )
    assert stored_event_problems(codec, {"Cim-Event-Type": "Opened"}, BODY) == (
        Unreadable("Opened", None, MissingHeader("Cim-Schema-Version")),
    )
    for bad in ("x", "²"):
        (problem,) = stored_event_problems(codec, {**HEADERS, "Cim-Schema-Version": bad}, BODY)
        assert problem == Unreadable(
            "Opened", None, InvalidHeader("Cim-Schema-Version", bad, "must be a decimal integer")
        )
    (unknown_version,) = stored_event_problems(codec, {**HEADERS, "Cim-Schema-Version": "7"}, BODY)
    assert isinstance(unknown_version, Unreadable)
    assert (unknown_version.event_type, unknown_version.schema_version) == ("Opened", 7)


def test_an_upcaster_that_changes_its_input_or_its_answer_is_reported_exactly() -> None:
    """Both faults name the type and the stored version, and say what went wrong."""
    calls: list[int] = []

    def counting(old: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        return {"owner": f"{old['owner']}-{len(calls)}"}

    def mutating(old: dict[str, Any]) -> dict[str, Any]:
        old["owner"] = "Bob"
        return dict(old)

    def types(upcaster: Any) -> JsonCodec:
        return JsonCodec(EventTypes().register(Opened, version=2, upcasters={1: upcaster}))

    (differed,) = stored_event_problems(types(counting), HEADERS, BODY)
    assert isinstance(differed, UpcastNotDeterministic)
    assert (differed.event_type, differed.schema_version) == ("Opened", 1)
    assert re.fullmatch(
        r"first gave \{'owner': 'Ada-(\d+)'\}, then \{'owner': 'Ada-(\d+)'\}", differed.detail
    )
    assert stored_event_problems(types(mutating), HEADERS, BODY) == (
        UpcastNotDeterministic("Opened", 1, "an upcaster changed the stored payload it was given"),
    )
    assert stored_event_problems(types(_same), HEADERS, BODY) == ()


def test_a_changed_value_names_type_version_field_and_both_values() -> None:
    """Repeated tags read back as a set: one ValueChanged with the stored and the read list."""
    codec = JsonCodec(EventTypes().register(Tagged))
    body = b'{"payload": {"tags": ["a", "a"]}}'
    headers = {"Cim-Event-Type": "Tagged", "Cim-Schema-Version": "1"}
    assert stored_event_problems(codec, headers, body) == (
        ValueChanged("Tagged", 1, "tags", ["a", "a"], ["a"]),
    )
