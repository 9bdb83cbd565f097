"""Defaults a caller relies on without saying so: terminality, names kept, payload bytes."""

from __future__ import annotations

from attrs import frozen
from returns.result import Success

from cim import EventTypes, JsonCodec
from cim.decider import Decider
from cim.fsm import Fsm, Transition, to_decider
from cim.projection import Projection, filter_events


def test_a_decider_is_never_terminal_unless_told() -> None:
    """Without is_terminal a decider (and an fsm decider) accepts commands in every state."""
    plain: Decider[int, int, int] = Decider(0, lambda c, s: Success((c,)), lambda s, e: s + e)
    assert not plain.is_terminal(0)
    machine: Fsm[str, str, None] = Fsm(
        initial="a", transitions=[Transition("a", "go", "b")], states=("a", "b")
    )
    assert not to_decider(machine, "b").is_terminal("b")


def test_filter_events_keeps_the_projection_name_and_initial_state() -> None:
    """The filtered projection is the same read model, seeing fewer events."""
    counted: Projection[int, int] = Projection("counted", 5, lambda n, e: (n + e, ()))
    only_even = filter_events(counted, lambda e: e % 2 == 0)
    assert (only_even.name, only_even.initial) == ("counted", 5)


@frozen
class Note:
    """A payload."""

    text: str
    pinned: bool


def test_encode_payload_is_the_payload_json() -> None:
    """encode_payload writes the payload alone as compact JSON."""
    codec = JsonCodec(EventTypes().register(Note))
    assert codec.encode_payload(Note("hi", True)) == b'{"text":"hi","pinned":true}'
