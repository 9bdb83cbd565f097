"""The order flow example: its decider's every decision, its evolution, and its read model's effects."""

from __future__ import annotations

import pytest
from pyrsistent import pmap
from returns.result import Failure, Success

from cim.decider import Rejection, run, state_of
from cim.effects import DatabaseUpdate, DatabaseWrite
from cim.examples.order_flow import (
    ORDER_STATS,
    ORDERS,
    Order,
    OrderCancelled,
    OrderCommand,
    OrderConfirmed,
    OrderDelivered,
    OrderEvent,
    OrderPlaced,
    OrderShipped,
    OrderSubmitted,
    PlaceOrder,
    decide,
    evolve,
    is_final,
    order,
    order_summaries,
    summary_step,
)
from cim.examples.orders import Cancel, Confirm, Deliver, OrderStatus, Ship, Submit, order_fsm
from cim.fsm import rejection_of
from cim.projection import fold

PLACED: list[OrderEvent] = [OrderPlaced("o-1", "ada", 2500)]
LIFECYCLE: list[OrderEvent] = [
    OrderSubmitted("o-1"),
    OrderConfirmed("o-1"),
    OrderShipped("o-1"),
    OrderDelivered("o-1"),
]


def test_placing_a_new_order() -> None:
    """A valid PlaceOrder on a fresh order places it; a total of one cent is positive."""
    assert decide(PlaceOrder("o-1", "ada", 1), Order()) == Success((OrderPlaced("o-1", "ada", 1),))


@pytest.mark.parametrize(
    "command",
    [
        PlaceOrder("o-1", "ada", 0),
        PlaceOrder("o-1", "ada", -5),
        PlaceOrder("o-1", "  ", 10),
        PlaceOrder("", "ada", 10),
    ],
)
def test_invalid_orders_are_refused(command: PlaceOrder) -> None:
    """An order needs an id, a non-blank customer and a positive total."""
    assert decide(command, Order()) == Failure(
        Rejection("an order needs an id, a customer and a positive total", "invalid_order")
    )


def test_an_order_is_placed_once() -> None:
    """Placing an already placed order is refused with its id."""
    assert run(order, PlaceOrder("o-1", "bob", 10), PLACED) == Failure(
        Rejection("order o-1 is already placed", "already_placed")
    )


def test_lifecycle_commands_need_a_placed_order() -> None:
    """Before PlaceOrder no lifecycle command is accepted."""
    assert decide(Submit(), Order()) == Failure(
        Rejection("the order has not been placed", "not_placed")
    )


@pytest.mark.parametrize(
    ("history", "command", "event"),
    [
        (PLACED, Submit(), OrderSubmitted("o-1")),
        (PLACED + LIFECYCLE[:1], Confirm(), OrderConfirmed("o-1")),
        (PLACED + LIFECYCLE[:2], Ship(), OrderShipped("o-1")),
        (PLACED + LIFECYCLE[:3], Deliver(), OrderDelivered("o-1")),
        (PLACED, Cancel("changed my mind"), OrderCancelled("o-1", "changed my mind")),
    ],
)
def test_each_lifecycle_command_gives_its_event(
    history: list[OrderEvent], command: OrderCommand, event: OrderEvent
) -> None:
    """Each accepted lifecycle command records exactly its event for the order."""
    assert run(order, command, history) == Success((event,))


def test_a_refused_transition_is_the_fsm_rejection() -> None:
    """A transition the FSM refuses becomes its rejection."""
    refused = order_fsm.transition(OrderStatus.DRAFT, Ship())
    assert isinstance(refused, Failure)
    assert run(order, Ship(), PLACED) == Failure(rejection_of(refused.failure()))


@pytest.mark.parametrize(
    ("events", "status"),
    [
        (PLACED, OrderStatus.DRAFT),
        (PLACED + LIFECYCLE[:1], OrderStatus.SUBMITTED),
        (PLACED + LIFECYCLE[:2], OrderStatus.CONFIRMED),
        (PLACED + LIFECYCLE[:3], OrderStatus.SHIPPED),
        (PLACED + LIFECYCLE, OrderStatus.DELIVERED),
        ([*PLACED, OrderCancelled("o-1", "why")], OrderStatus.CANCELLED),
    ],
)
def test_evolve_follows_the_fsm(events: list[OrderEvent], status: OrderStatus) -> None:
    """Folding the events gives the FSM's status and keeps the placed order's fields."""
    assert state_of(order, events) == Order(status, "o-1", "ada", 2500)


def test_evolve_refuses_events_before_placing() -> None:
    """A lifecycle event for an order never placed is a programming error."""
    with pytest.raises(ValueError, match="before the order was placed"):
        evolve(Order(), OrderSubmitted("o-1"))


def test_evolve_refuses_what_is_not_a_lifecycle_event() -> None:
    """Something that is not an order event is a programming error."""
    with pytest.raises(TypeError, match="not a lifecycle event"):
        evolve(state_of(order, PLACED), object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (None, False),
        *((s, s in (OrderStatus.DELIVERED, OrderStatus.CANCELLED)) for s in OrderStatus),
    ],
)
def test_only_delivered_and_cancelled_are_final(status: OrderStatus | None, final: bool) -> None:
    """is_final holds exactly for delivered and cancelled orders."""
    assert is_final(Order(status)) is final


def test_the_read_model_rows_and_counts() -> None:
    """Placing writes the row, later events update its status (and reason), counts follow."""
    statuses, effects = summary_step(pmap(), OrderPlaced("o-1", "ada", 2500))
    assert statuses == pmap({"o-1": "draft"})
    assert effects == (
        DatabaseWrite(ORDERS, "o-1", {"customer": "ada", "total_cents": 2500, "status": "draft"}),
        DatabaseWrite(ORDER_STATS, "by_status", pmap({"draft": 1})),
    )
    statuses, effects = summary_step(statuses, OrderPlaced("o-2", "bob", 100))
    assert effects[-1] == DatabaseWrite(ORDER_STATS, "by_status", pmap({"draft": 2}))
    statuses, effects = summary_step(statuses, OrderCancelled("o-1", "late"))
    assert effects == (
        DatabaseUpdate(ORDERS, "o-1", {"status": "cancelled", "reason": "late"}),
        DatabaseWrite(ORDER_STATS, "by_status", pmap({"cancelled": 1, "draft": 1})),
    )


@pytest.mark.parametrize(
    ("event", "status"),
    [
        (OrderSubmitted("o-1"), "submitted"),
        (OrderConfirmed("o-1"), "confirmed"),
        (OrderShipped("o-1"), "shipped"),
        (OrderDelivered("o-1"), "delivered"),
    ],
)
def test_each_event_sets_its_status_in_the_read_model(event: OrderEvent, status: str) -> None:
    """A lifecycle event updates the row's status only."""
    _, effects = summary_step(pmap({"o-1": "draft"}), event)
    assert effects[0] == DatabaseUpdate(ORDERS, "o-1", {"status": status})


def test_the_projection_folds_the_whole_flow() -> None:
    """Folding the flow ends with one delivered order counted."""
    folded = fold(order_summaries, PLACED + LIFECYCLE)
    assert folded.state == pmap({"o-1": "delivered"})
    assert folded.effects[-1] == DatabaseWrite(ORDER_STATS, "by_status", pmap({"delivered": 1}))
