"""Revenue over time, folded from the stored order events with ``cim.frp``.

Pure and incremental evaluation of the same signal must agree; the demo prints both verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from attrs import field, frozen
from pyrsistent import PMap, pmap

from cim import EventEnvelope
from cim.examples.order_flow import OrderCancelled, OrderDelivered, OrderPlaced
from cim.frp import Accumulator, DiscreteEvent, events_from_envelopes, lift2

__all__ = ("Ledger", "RevenuePoint", "revenue_over_time")


@frozen
class Ledger:
    """Revenue so far: ``booked`` (placed minus cancelled) and ``delivered``, in cents."""

    totals: PMap[str, int] = field(factory=pmap)
    booked: int = 0
    delivered: int = 0

    def after(self, event: object) -> Ledger:
        """The ledger after one order event (other events change nothing).

        >>> Ledger().after(OrderPlaced("o-1", "ada", 2500)).after(OrderDelivered("o-1"))
        Ledger(totals=pmap({'o-1': 2500}), booked=2500, delivered=2500)
        """
        if isinstance(event, OrderPlaced):
            return Ledger(
                self.totals.set(event.order_id, event.total_cents),
                self.booked + event.total_cents,
                self.delivered,
            )
        if isinstance(event, OrderCancelled):
            return attrs.evolve(self, booked=self.booked - self.totals.get(event.order_id, 0))
        if isinstance(event, OrderDelivered):
            return attrs.evolve(self, delivered=self.delivered + self.totals.get(event.order_id, 0))
        return self


@frozen
class RevenuePoint:
    """Revenue sampled just after global ``position``."""

    position: int
    booked: int
    delivered: int
    delivered_share: float


def revenue_over_time(
    envelopes: Sequence[EventEnvelope[Any]], samples: int = 6
) -> tuple[tuple[RevenuePoint, ...], bool]:
    """Revenue sampled at *samples* positions across *envelopes*, and whether the incremental
    evaluator (fed one event at a time, as from a live subscription) agrees with the pure one.

    Time is the store position: ``ledger.at(p + 1)`` is the ledger after the event at ``p``.
    """
    occurrences: DiscreteEvent[Any] = events_from_envelopes(envelopes, time="position")
    ledger = occurrences.accum(Ledger(), Ledger.after)
    booked = ledger.map(lambda state: state.booked)
    delivered = ledger.map(lambda state: state.delivered)
    share = lift2(lambda d, b: d / b if b else 0.0, delivered, booked)
    if not envelopes:
        return (), True
    first, last = envelopes[0].position, envelopes[-1].position
    step = max(1, (last - first) // max(1, samples - 1))
    positions = sorted({*range(first, last, step), last})
    points = tuple(
        RevenuePoint(p, booked.at(p + 1), delivered.at(p + 1), share.at(p + 1)) for p in positions
    )
    live: Accumulator[Ledger, Any] = Accumulator.start(Ledger(), Ledger.after)
    for envelope in envelopes:
        live = live.push(envelope.position, envelope.payload).unwrap()
    return points, live.at(last + 1) == ledger.at(last + 1)
