"""What each schema-evolution problem says, word for word (the text `cim verify` and the law show)."""

from __future__ import annotations

from cim import UnknownEventType
from cim.evolution import (
    FieldsDropped,
    TypeRemoved,
    Unreadable,
    UpcastNotDeterministic,
    ValueChanged,
    VersionLowered,
    VersionsNoLongerReadable,
)


def test_a_removed_type_says_its_events_cannot_be_read() -> None:
    """TypeRemoved names the type."""
    assert (
        str(TypeRemoved("Placed"))
        == "'Placed' was removed: the new registry cannot read its events"
    )


def test_a_lowered_version_names_both_versions() -> None:
    """VersionLowered names the old and the new version."""
    assert str(VersionLowered("Placed", 3, 2)) == (
        "'Placed' went from schema version 3 back to 2: events written at v3 are newer than the new class"
    )


def test_versions_no_longer_readable_are_listed() -> None:
    """VersionsNoLongerReadable lists every version it lost."""
    assert str(VersionsNoLongerReadable("Placed", (1, 2))) == (
        "'Placed' v1, v2 can no longer be read: upcasters were removed"
    )


def test_an_unreadable_event_names_its_version_when_known() -> None:
    """Unreadable shows the version when the stored event carried one, and the decode error."""
    error = UnknownEventType("Placed")
    assert str(Unreadable("Placed", 2, error)) == (
        "'Placed' v2: cannot be read: unknown event type 'Placed'"
    )
    assert str(Unreadable("Placed", None, error)) == (
        "'Placed': cannot be read: unknown event type 'Placed'"
    )


def test_dropped_fields_agree_in_number() -> None:
    """One dropped field "is" not read, several "are"."""
    assert str(FieldsDropped("Placed", 1, ("note",))) == (
        "'Placed' v1: stored field note is not read by the new class (dropped without an upcaster)"
    )
    assert str(FieldsDropped("Placed", 1, ("note", "item.size"))) == (
        "'Placed' v1: stored fields note, item.size are not read by the new class "
        "(dropped without an upcaster)"
    )


def test_a_changed_value_shows_what_was_stored_and_what_is_read() -> None:
    """ValueChanged shows the field, the stored value and the value read back."""
    assert str(ValueChanged("Placed", 1, "amount", 1.5, 1)) == (
        "'Placed' v1: field amount stored as 1.5 reads back as 1"
    )


def test_a_non_deterministic_upcast_shows_the_detail() -> None:
    """UpcastNotDeterministic names the type, the version and what differed."""
    assert str(UpcastNotDeterministic("Placed", 1, "two runs differ")) == (
        "'Placed' v1: upcasting is not deterministic: two runs differ"
    )
