"""An order's lifecycle: the seed's order state machine as a table-defined :class:`~cim.fsm.Fsm`.

An order is drafted, submitted, confirmed, shipped and delivered; until it ships it can be
cancelled, with a reason. Delivered and cancelled orders are final.

>>> order_fsm.transition(OrderStatus.DRAFT, Submit())
<Success: (<OrderStatus.SUBMITTED: 'submitted'>, None)>
>>> print(order_fsm.why_not(OrderStatus.SHIPPED, Cancel("too late")))
no transition from SHIPPED on Cancel(reason='too late')
>>> print(order_fsm.why_not(OrderStatus.DRAFT, Cancel("  ")))
Cancel(reason='  ') refused in DRAFT: a cancellation needs a reason
>>> order_fsm.shortest_path(OrderStatus.DELIVERED)
(Submit(), Confirm(), Ship(), Deliver())

As a :class:`~cim.decider.Decider` (state: the status; commands and events: the inputs):

>>> from cim.decider import run, state_of
>>> state_of(order_decider, [Submit(), Confirm()])
<OrderStatus.CONFIRMED: 'confirmed'>
>>> run(order_decider, Deliver(), [Submit()])
<Failure: invalid_transition: no transition from SUBMITTED on Deliver()>
"""

from __future__ import annotations

from enum import Enum
from typing import TypeAlias

from attrs import frozen

from cim.decider import Decider
from cim.fsm import Fsm, Transition


class OrderStatus(Enum):
    """Where an order is in its lifecycle."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


@frozen
class Submit:
    """The customer submits the draft order."""


@frozen
class Confirm:
    """The shop confirms a submitted order."""


@frozen
class Ship:
    """The warehouse ships a confirmed order."""


@frozen
class Deliver:
    """The carrier delivers a shipped order."""


@frozen
class Cancel:
    """Cancel an order that has not shipped yet; ``reason`` must not be blank."""

    reason: str


OrderInput: TypeAlias = Submit | Confirm | Ship | Deliver | Cancel
"""Everything that can happen to an order's status."""


def cancel_reason_given(status: OrderStatus, command: OrderInput) -> bool | str:
    """Guard: a cancellation must say why."""
    if isinstance(command, Cancel) and not command.reason.strip():
        return "a cancellation needs a reason"
    return True


order_fsm: Fsm[OrderStatus, OrderInput, None] = Fsm(
    initial=OrderStatus.DRAFT,
    transitions=[
        Transition(OrderStatus.DRAFT, Submit, OrderStatus.SUBMITTED),
        Transition(OrderStatus.SUBMITTED, Confirm, OrderStatus.CONFIRMED),
        Transition(OrderStatus.CONFIRMED, Ship, OrderStatus.SHIPPED),
        Transition(OrderStatus.SHIPPED, Deliver, OrderStatus.DELIVERED),
        Transition(OrderStatus.DRAFT, Cancel, OrderStatus.CANCELLED, guard=cancel_reason_given),
        Transition(OrderStatus.SUBMITTED, Cancel, OrderStatus.CANCELLED, guard=cancel_reason_given),
        Transition(OrderStatus.CONFIRMED, Cancel, OrderStatus.CANCELLED, guard=cancel_reason_given),
    ],
    finals=(OrderStatus.DELIVERED, OrderStatus.CANCELLED),
    sample_inputs=(Submit(), Confirm(), Ship(), Deliver(), Cancel("customer request")),
)
"""The order lifecycle; ``sample_inputs`` give analysis one concrete input per class."""

order_decider: Decider[OrderInput, OrderInput, OrderStatus] = order_fsm.as_decider()
"""The order lifecycle as a decider: an accepted input is its own event."""
