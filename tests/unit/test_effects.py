"""Effects are plain values: equal when their fields are, hashable, and deeply frozen."""

import pytest
from pyrsistent import PMap, pmap

from cim import StreamId
from cim.effects import (
    DatabaseDelete,
    DatabaseUpdate,
    DatabaseWrite,
    Effect,
    EmitEvent,
    Log,
    Publish,
)
from cim.examples.bank import Deposited


def test_equal_effects_compare_equal_and_hash_alike() -> None:
    """Two effects built from equal data are equal and usable as set members."""
    one = DatabaseWrite("accounts", "a-1", {"balance": 5, "tags": ["x"]})
    two = DatabaseWrite("accounts", "a-1", {"balance": 5, "tags": ["x"]})
    assert one == two
    assert len({one, two}) == 1
    assert one != DatabaseWrite("accounts", "a-1", {"balance": 6, "tags": ["x"]})


def test_nested_data_is_frozen() -> None:
    """Dicts become pmaps and lists tuples, all the way down, so an effect cannot change later."""
    data = {"owner": {"name": "Ada", "aliases": ["A"]}}
    write = DatabaseWrite("accounts", "a-1", data)
    data["owner"]["name"] = "Grace"
    assert isinstance(write.data, PMap)
    assert write.data["owner"] == pmap({"name": "Ada", "aliases": ("A",)})
    assert hash(write) == hash(
        DatabaseWrite("accounts", "a-1", {"owner": {"name": "Ada", "aliases": ["A"]}})
    )


def test_log_rejects_an_unknown_level() -> None:
    """A log level outside debug..critical is a programmer error naming the bad value."""
    with pytest.raises(ValueError, match="'loud'"):
        Log("loud", "hello")  # type: ignore[arg-type]


def test_every_effect_kind_is_a_frozen_value() -> None:
    """Each effect kind is immutable and part of the Effect union."""
    effects: list[Effect] = [
        Log("info", "opened", {"account": "a-1"}),
        DatabaseWrite("accounts", "a-1", {"balance": 0}),
        DatabaseUpdate("accounts", "a-1", {"balance": 5}),
        DatabaseDelete("accounts", "a-1"),
        Publish("bank.opened", b"{}", {"Nats-Msg-Id": "1"}),
        EmitEvent(StreamId("account", "a-1"), Deposited("a-1", 5)),
    ]
    for effect in effects:
        assert isinstance(effect, Effect)
        with pytest.raises(AttributeError):
            effect.key = "other"  # type: ignore[misc,union-attr]
