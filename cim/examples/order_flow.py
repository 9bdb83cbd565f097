"""Orders end to end: commands, events, a decider built on the order FSM, and a read model.

:mod:`cim.examples.orders` defines the lifecycle (``order_fsm``). This module adds what a running
system needs around it: the ``PlaceOrder`` command, events with payloads, the :data:`order`
decider (the FSM decides every lifecycle step) and the :data:`order_summaries` projection that
keeps two read-model collections, ``orders`` (one row per order) and ``order_stats`` (orders per
status). ``docs/runtime.md`` runs it on NATS.

>>> from cim.decider import run, state_of
>>> placed = [OrderPlaced("o-1", "ada", 2500)]
>>> run(order, Submit(), placed)
<Success: (OrderSubmitted(order_id='o-1'),)>
>>> run(order, Ship(), placed)
<Failure: invalid_transition: no transition from DRAFT on Ship()>
>>> state_of(order, placed + [OrderSubmitted("o-1")]).status
<OrderStatus.SUBMITTED: 'submitted'>

>>> from cim.projection import fold
>>> folded = fold(order_summaries, placed + [OrderSubmitted("o-1")])
>>> folded.effects[-1]
DatabaseWrite(collection='order_stats', key='by_status', data=pmap({'submitted': 1}))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import attrs
from attrs import frozen
from pyrsistent import PMap, pmap
from returns.result import Failure, Result, Success

from cim import EventTypes
from cim.decider import Decider, Rejection
from cim.effects import DatabaseUpdate, DatabaseWrite, Effect
from cim.examples.orders import (
    Cancel,
    Confirm,
    Deliver,
    OrderInput,
    OrderStatus,
    Ship,
    Submit,
    order_fsm,
)
from cim.fsm import rejection_of
from cim.projection import Consumes, Projection

# ------------------------------------------------------------------ commands


@frozen
class PlaceOrder:
    """Start the order ``order_id`` for ``customer`` worth ``total_cents`` (> 0)."""

    order_id: str
    customer: str
    total_cents: int


OrderCommand: TypeAlias = PlaceOrder | Submit | Confirm | Ship | Deliver | Cancel
"""Placing an order, then the lifecycle inputs of :data:`~cim.examples.orders.order_fsm`."""

# ------------------------------------------------------------------ events


@frozen
class OrderPlaced:
    """The order was placed (it is a draft)."""

    order_id: str
    customer: str
    total_cents: int


@frozen
class OrderSubmitted:
    """The customer submitted the order."""

    order_id: str


@frozen
class OrderConfirmed:
    """The shop confirmed the order."""

    order_id: str


@frozen
class OrderShipped:
    """The order left the warehouse."""

    order_id: str


@frozen
class OrderDelivered:
    """The order arrived."""

    order_id: str


@frozen
class OrderCancelled:
    """The order was cancelled before shipping, for ``reason``."""

    order_id: str
    reason: str


OrderEvent: TypeAlias = (
    OrderPlaced | OrderSubmitted | OrderConfirmed | OrderShipped | OrderDelivered | OrderCancelled
)

order_flow_types = (
    EventTypes()
    .register(OrderPlaced)
    .register(OrderSubmitted)
    .register(OrderConfirmed)
    .register(OrderShipped)
    .register(OrderDelivered)
    .register(OrderCancelled)
)
"""The registry of every order event, for ``JsonCodec`` and the stores."""

# ------------------------------------------------------------------ decider


@frozen
class Order:
    """The decision state of one order (``status`` is ``None`` until it is placed)."""

    status: OrderStatus | None = None
    order_id: str = ""
    customer: str = ""
    total_cents: int = 0


def _input_of(event: OrderEvent) -> OrderInput:
    match event:
        case OrderSubmitted():
            return Submit()
        case OrderConfirmed():
            return Confirm()
        case OrderShipped():
            return Ship()
        case OrderDelivered():
            return Deliver()
        case OrderCancelled(reason=reason):
            return Cancel(reason)
    raise TypeError(f"not a lifecycle event: {event!r}")


def _event_of(order_id: str, command: OrderInput) -> OrderEvent:
    match command:
        case Submit():
            return OrderSubmitted(order_id)
        case Confirm():
            return OrderConfirmed(order_id)
        case Ship():
            return OrderShipped(order_id)
        case Deliver():
            return OrderDelivered(order_id)
        case Cancel(reason=reason):
            return OrderCancelled(order_id, reason)
    raise TypeError(f"not an order command: {command!r}")


def decide(command: OrderCommand, state: Order) -> Result[tuple[OrderEvent, ...], Rejection]:
    """The events *command* causes for the order in *state*, or why it is refused."""
    if isinstance(command, PlaceOrder):
        if state.status is not None:
            return Failure(Rejection(f"order {state.order_id} is already placed", "already_placed"))
        if command.total_cents <= 0 or not command.customer.strip() or not command.order_id:
            return Failure(
                Rejection("an order needs an id, a customer and a positive total", "invalid_order")
            )
        return Success((OrderPlaced(command.order_id, command.customer, command.total_cents),))
    if state.status is None:
        return Failure(Rejection("the order has not been placed", "not_placed"))
    moved = order_fsm.transition(state.status, command)
    if isinstance(moved, Failure):
        return Failure(rejection_of(moved.failure()))
    return Success((_event_of(state.order_id, command),))


def evolve(state: Order, event: OrderEvent) -> Order:
    """The order after *event* (the FSM gives the new status)."""
    if isinstance(event, OrderPlaced):
        return Order(OrderStatus.DRAFT, event.order_id, event.customer, event.total_cents)
    if state.status is None:
        raise ValueError(f"{event!r} before the order was placed")
    status, _ = order_fsm.transition(state.status, _input_of(event)).unwrap()
    return attrs.evolve(state, status=status)


def is_final(state: Order) -> bool:
    """Delivered and cancelled orders accept no command."""
    return state.status in (OrderStatus.DELIVERED, OrderStatus.CANCELLED)


order: Decider[OrderCommand, OrderEvent, Order] = Decider(Order(), decide, evolve, is_final)
"""One order as a decider; commands for it go to the stream ``order.<order_id>``."""

# ------------------------------------------------------------------ read model

ORDER_CATEGORY = "order"
"""The stream category of orders: one stream ``order.<order_id>`` per order."""
ORDERS = "orders"
"""Read-model collection: one row per order (customer, total_cents, status, reason)."""
ORDER_STATS = "order_stats"
"""Read-model collection: the row ``by_status`` counts orders per status."""

_STATUS_AFTER = {
    OrderSubmitted: OrderStatus.SUBMITTED,
    OrderConfirmed: OrderStatus.CONFIRMED,
    OrderShipped: OrderStatus.SHIPPED,
    OrderDelivered: OrderStatus.DELIVERED,
    OrderCancelled: OrderStatus.CANCELLED,
}


def _counts(statuses: PMap[str, str]) -> PMap[str, int]:
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return pmap(counts)


def summary_step(
    statuses: PMap[str, str], event: OrderEvent
) -> tuple[PMap[str, str], Sequence[Effect]]:
    """Track every order's status; write its row and the per-status counts."""
    if isinstance(event, OrderPlaced):
        status = OrderStatus.DRAFT.value
        row: Effect = DatabaseWrite(
            ORDERS,
            event.order_id,
            {"customer": event.customer, "total_cents": event.total_cents, "status": status},
        )
    else:
        status = _STATUS_AFTER[type(event)].value
        changes = {"status": status}
        if isinstance(event, OrderCancelled):
            changes["reason"] = event.reason
        row = DatabaseUpdate(ORDERS, event.order_id, changes)
    after = statuses.set(event.order_id, status)
    return after, (row, DatabaseWrite(ORDER_STATS, "by_status", _counts(after)))


order_summaries: Projection[PMap[str, str], OrderEvent] = Projection(
    "order_summaries", pmap(), summary_step, consumes=Consumes(categories=[ORDER_CATEGORY])
)
"""Keeps ``orders`` and ``order_stats`` up to date (its state: each order's status); it consumes
the ``order`` category only, so other apps' events on the same stream never reach it."""

__all__ = (
    "ORDERS",
    "ORDER_CATEGORY",
    "ORDER_STATS",
    "Order",
    "OrderCancelled",
    "OrderCommand",
    "OrderConfirmed",
    "OrderDelivered",
    "OrderEvent",
    "OrderPlaced",
    "OrderShipped",
    "OrderSubmitted",
    "PlaceOrder",
    "decide",
    "evolve",
    "is_final",
    "order",
    "order_flow_types",
    "order_summaries",
    "summary_step",
)
