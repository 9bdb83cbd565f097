"""Registries for the ``cim check upcasting`` tests: what was stored, and new versions of it."""

from __future__ import annotations

from attrs import frozen

from cim import EventTypes


@frozen
class ShippedV1:
    """What the first release stored."""

    order_id: str
    carrier: str
    weight_grams: int


@frozen
class Shipped:
    """The next release forgot ``carrier`` (no upcaster drops it): stored carriers are lost."""

    order_id: str
    weight_grams: int


@frozen
class ShippedV2:
    """The right way to drop ``carrier``: schema version 2 with an upcaster that removes it."""

    order_id: str
    weight_grams: int


stored_types = EventTypes().register(ShippedV1, name="Shipped")
dropped_field = EventTypes().register(Shipped)
dropped_by_upcaster = EventTypes().register(
    ShippedV2,
    name="Shipped",
    version=2,
    upcasters={1: lambda old: {k: v for k, v in old.items() if k != "carrier"}},
)
