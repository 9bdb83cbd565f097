"""EventTypes: an immutable registry whose upcast chains never have gaps."""

from typing import Any

import pytest
from attrs import frozen

from cim import EventTypes


@frozen
class Placed:
    """Test payload."""

    order: str
    cents: int
    currency: str


@frozen
class Other:
    """Test payload."""

    x: int


def v1_to_v2(d: dict[str, Any]) -> dict[str, Any]:
    """Rename amount -> cents."""
    return {"order": d["order"], "cents": d["amount"]}


def v2_to_v3(d: dict[str, Any]) -> dict[str, Any]:
    """Add a currency."""
    return {**d, "currency": "EUR"}


def test_register_returns_a_new_registry() -> None:
    """Registering leaves the original registry unchanged."""
    empty = EventTypes()
    one = empty.register(Placed)
    assert "Placed" not in empty
    assert "Placed" in one
    assert Placed in one
    assert one.by_class(Placed).name == "Placed"
    assert len(one) == 1


def test_names_and_classes_are_unique() -> None:
    """A name or a class registered twice is refused."""
    types = EventTypes().register(Placed)
    with pytest.raises(ValueError, match="already registered"):
        types.register(Other, name="Placed")
    with pytest.raises(ValueError, match="already registered"):
        types.register(Placed, name="Placed2")


def test_only_attrs_classes_can_be_registered() -> None:
    """A plain class is refused with a TypeError."""
    with pytest.raises(TypeError, match="attrs"):
        EventTypes().register(dict)


def test_upcaster_chain_with_a_gap_is_refused_at_registration() -> None:
    """Upcasters 1->2 without 2->3 (current 3) is a gap, refused when registering."""
    with pytest.raises(ValueError, match="gap: no upcaster from version 2"):
        EventTypes().register(Placed, version=3, upcasters={1: v1_to_v2})


def test_upcasters_are_added_from_the_newest_version_down() -> None:
    """Adding 2->3 then 1->2 works; adding 1->2 first is a gap."""
    types = EventTypes().register(Placed, version=3)
    with pytest.raises(ValueError, match="gap"):
        types.upcaster("Placed", 1, v1_to_v2)
    full = types.upcaster("Placed", 2, v2_to_v3).upcaster("Placed", 1, v1_to_v2)
    assert full.by_name("Placed").oldest_readable == 1
    assert types.by_name("Placed").oldest_readable == 3


def test_upcaster_out_of_range_or_duplicate_is_refused() -> None:
    """from_version must be in 1..version-1 and not already present."""
    types = EventTypes().register(Placed, version=2, upcasters={1: v1_to_v2})
    with pytest.raises(ValueError, match="out of range"):
        types.upcaster("Placed", 2, v2_to_v3)
    with pytest.raises(ValueError, match="already has"):
        types.upcaster("Placed", 1, v1_to_v2)
    with pytest.raises(KeyError, match="unknown event type"):
        types.upcaster("Nope", 1, v1_to_v2)


def test_bad_versions_and_names_are_refused() -> None:
    """Version < 1 and blank names are programmer errors."""
    with pytest.raises(ValueError, match="version"):
        EventTypes().register(Placed, version=0)
    with pytest.raises(ValueError, match="name"):
        EventTypes().register(Placed, name=" ")


def test_merge_combines_two_registries() -> None:
    """merge (and |) knows every type of both; types registered the same way are kept once."""
    orders = EventTypes().register(Placed, version=3, upcasters={1: v1_to_v2, 2: v2_to_v3})
    others = EventTypes().register(Other)
    merged = orders | others
    assert [t.name for t in merged] == ["Other", "Placed"]
    assert merged.by_name("Placed") == orders.by_name("Placed")
    assert merged.by_class(Other) == others.by_name("Other")  # found by class too
    assert merged.by_class(Placed) == orders.by_name("Placed")
    assert orders.merge(merged) == merged
    assert len(orders) == 1  # unchanged


@pytest.mark.parametrize(
    ("theirs", "message"),
    [
        (lambda: EventTypes().register(Other, name="Placed"), r"'Placed' names .*Placed .*Other"),
        (lambda: EventTypes().register(Placed, name="Ordered"), r"as 'Placed' in one .* 'Ordered'"),
        (lambda: EventTypes().register(Placed, version=2, upcasters={1: v1_to_v2}), "version"),
        (
            lambda: EventTypes().register(Placed, version=3, upcasters={1: v1_to_v2, 2: v1_to_v2}),
            "upcasters",
        ),
    ],
)
def test_merge_refuses_clashes(theirs: Any, message: str) -> None:
    """One name for two classes, one class under two names, two versions or chains: refused."""
    orders = EventTypes().register(Placed, version=3, upcasters={1: v1_to_v2, 2: v2_to_v3})
    with pytest.raises(ValueError, match=message):
        orders.merge(theirs())


def test_merge_takes_only_registries() -> None:
    """Merging something else is a TypeError (and | answers NotImplemented)."""
    with pytest.raises(TypeError, match=r"^can only merge an EventTypes registry, got list$"):
        EventTypes().merge([Placed])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        EventTypes() | [Placed]
