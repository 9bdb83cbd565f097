"""The order lifecycle example behaves as the seed describes, as an Fsm and as a Decider."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from returns.result import Failure, Success

from cim.decider import run, state_of
from cim.examples.orders import (
    Cancel,
    Confirm,
    Deliver,
    OrderInput,
    OrderStatus,
    Ship,
    Submit,
    order_decider,
    order_fsm,
)
from cim.fsm import GuardRejected, InvalidTransition, WithHistory, replay
from laws import check_fsm_laws

DRAFT, SUBMITTED, CONFIRMED, SHIPPED, DELIVERED, CANCELLED = OrderStatus
HAPPY_PATH: tuple[OrderInput, ...] = (Submit(), Confirm(), Ship(), Deliver())
ALLOWED = {
    (DRAFT, Submit): SUBMITTED,
    (SUBMITTED, Confirm): CONFIRMED,
    (CONFIRMED, Ship): SHIPPED,
    (SHIPPED, Deliver): DELIVERED,
    (DRAFT, Cancel): CANCELLED,
    (SUBMITTED, Cancel): CANCELLED,
    (CONFIRMED, Cancel): CANCELLED,
}
EVERY_INPUT: tuple[OrderInput, ...] = (Submit(), Confirm(), Ship(), Deliver(), Cancel("why not"))


def test_the_happy_path_goes_draft_submitted_confirmed_shipped_delivered() -> None:
    """Submit, Confirm, Ship, Deliver walk the order through every status to DELIVERED."""
    history = replay(order_fsm, DRAFT, HAPPY_PATH).unwrap()
    assert [step.target for step in history.history] == [SUBMITTED, CONFIRMED, SHIPPED, DELIVERED]
    assert history.state is DELIVERED


@pytest.mark.parametrize("status", list(OrderStatus))
@pytest.mark.parametrize("command", EVERY_INPUT, ids=lambda c: type(c).__name__)
def test_exactly_the_seed_transitions_are_allowed(status: OrderStatus, command: OrderInput) -> None:
    """Each (status, input) pair is accepted exactly when the seed's table allows it."""
    expected = ALLOWED.get((status, type(command)))
    result = order_fsm.transition(status, command)
    if expected is None:
        assert result == Failure(InvalidTransition(status, command))
    else:
        assert result == Success((expected, None))


@pytest.mark.parametrize("status", [DRAFT, SUBMITTED, CONFIRMED])
def test_a_cancellation_needs_a_reason(status: OrderStatus) -> None:
    """A blank reason is refused by the guard, which says why."""
    assert order_fsm.why_not(status, Cancel("  ")) == GuardRejected(
        status, Cancel("  "), "a cancellation needs a reason"
    )


def test_delivered_and_cancelled_are_final() -> None:
    """Nothing leaves a final status; the decider sees them as terminal."""
    assert order_fsm.finals == (DELIVERED, CANCELLED)
    assert [s for s in OrderStatus if order_decider.is_terminal(s)] == [DELIVERED, CANCELLED]
    assert all(order_fsm.enabled(s) == () for s in order_fsm.finals)


def test_the_machine_has_no_unreachable_states_dead_ends_or_dead_rows() -> None:
    """Analysis finds nothing wrong with the order lifecycle."""
    assert order_fsm.unreachable_states() == ()
    assert order_fsm.dead_ends() == ()
    assert order_fsm.never_fired() == ()
    assert order_fsm.shortest_path(CANCELLED) == (Cancel("customer request"),)


def test_the_transition_cover_takes_all_seven_rows() -> None:
    """The ready-made test cases replay and take every row of the table."""
    taken = set()
    for sequence in order_fsm.transition_cover():
        for step in replay(order_fsm, DRAFT, sequence).unwrap().history:
            taken.add(
                order_fsm.transitions.index(order_fsm.row_for(step.source, step.input).unwrap())
            )
    assert taken == set(range(7))


def test_the_decider_decides_and_evolves_by_the_same_table() -> None:
    """As a Decider, accepted inputs are events and rejections carry the TransitionError kind."""
    assert state_of(order_decider, HAPPY_PATH[:2]) is CONFIRMED
    assert run(order_decider, Ship(), HAPPY_PATH[:2]) == Success((Ship(),))
    shipped = run(order_decider, Cancel("too late"), HAPPY_PATH[:3]).failure()
    assert (shipped.code, shipped.details["state"]) == ("invalid_transition", "SHIPPED")
    blank = run(order_decider, Cancel(""), []).failure()
    assert (blank.code, blank.details["reason"]) == (
        "guard_rejected",
        "a cancellation needs a reason",
    )


def test_with_history_keeps_every_step_of_an_order() -> None:
    """A WithHistory over the order machine replays to itself."""
    history = WithHistory(order_fsm, DRAFT)
    for command in (Submit(), Cancel("changed my mind")):
        history = history.apply(command).unwrap()
    assert history.state is CANCELLED
    assert replay(order_fsm, history.start, history.inputs) == Success(history)


def test_the_order_machine_obeys_the_state_machine_laws() -> None:
    """Determinism, can_transition agreement, refusals and replay hold for the order machine."""
    check_fsm_laws(
        order_fsm,
        states=st.sampled_from(order_fsm.states),
        inputs=st.sampled_from(EVERY_INPUT) | st.builds(Cancel, st.text(max_size=2)),
        settings=settings(max_examples=60, deadline=None),
    )


def test_the_guide_shows_the_generated_diagram() -> None:
    """docs/state-machines.md contains exactly what order_fsm.to_mermaid() produces."""
    guide = Path(__file__).parents[2] / "docs" / "state-machines.md"
    assert f"```mermaid\n{order_fsm.to_mermaid()}```" in guide.read_text(encoding="utf-8")
