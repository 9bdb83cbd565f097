"""Three releases of a ticket lifecycle, for ``cim fsm diff`` and the evolution law's tests.

Each release has its own Enum (as two deployed modules would): states match by member name.
"""

from __future__ import annotations

from enum import Enum

from cim.fsm import Fsm, Transition


class TicketV1(Enum):
    """The first release's states."""

    OPEN = "open"
    ASSIGNED = "assigned"
    CLOSED = "closed"


class TicketV2(Enum):
    """The second release adds a review step."""

    OPEN = "open"
    ASSIGNED = "assigned"
    IN_REVIEW = "in_review"
    CLOSED = "closed"


def _has_assignee(state: object, value: object) -> bool | str:
    return "a closed ticket needs an assignee first" if value == "close" else True


v1: Fsm[TicketV1, str, None] = Fsm(
    TicketV1.OPEN,
    [
        Transition(TicketV1.OPEN, "assign", TicketV1.ASSIGNED),
        Transition(TicketV1.ASSIGNED, "close", TicketV1.CLOSED),
        Transition(TicketV1.OPEN, "close", TicketV1.CLOSED),
    ],
    finals=(TicketV1.CLOSED,),
)

compatible: Fsm[TicketV2, str, None] = Fsm(
    TicketV2.OPEN,
    [
        Transition(TicketV2.OPEN, "assign", TicketV2.ASSIGNED),
        Transition(TicketV2.ASSIGNED, "close", TicketV2.CLOSED),
        Transition(TicketV2.OPEN, "close", TicketV2.CLOSED),
        Transition(TicketV2.ASSIGNED, "review", TicketV2.IN_REVIEW),
        Transition(TicketV2.IN_REVIEW, "close", TicketV2.CLOSED),
    ],
    finals=(TicketV2.CLOSED,),
)

breaking: Fsm[TicketV2, str, None] = Fsm(
    TicketV2.OPEN,
    [
        Transition(TicketV2.OPEN, "assign", TicketV2.ASSIGNED),
        Transition(TicketV2.ASSIGNED, "review", TicketV2.IN_REVIEW),
        Transition(TicketV2.IN_REVIEW, "close", TicketV2.CLOSED),
        Transition(TicketV2.OPEN, "close", TicketV2.CLOSED, guard=_has_assignee),
    ],
    finals=(TicketV2.CLOSED,),
)
