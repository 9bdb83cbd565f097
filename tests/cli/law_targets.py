"""Law targets for the ``cim check`` tests: the order example's (they hold) and a broken one."""

from collections.abc import Sequence

from hypothesis import strategies as st

from cim.effects import Effect, Log
from cim.examples.order_flow import (
    OrderCancelled,
    OrderConfirmed,
    OrderDelivered,
    OrderPlaced,
    OrderShipped,
    OrderSubmitted,
    order_summaries,
)
from cim.examples.orders import OrderStatus, order_fsm
from cim.projection import Projection
from laws.targets import fsm_target, projection_target

_ids = st.sampled_from(["o-1", "o-2", "o-3"])
order_events = st.one_of(
    st.builds(OrderPlaced, _ids, st.sampled_from(["ada", "grace"]), st.integers(1, 10_000)),
    *(
        st.builds(kind, _ids)
        for kind in (OrderSubmitted, OrderConfirmed, OrderShipped, OrderDelivered)
    ),
    st.builds(OrderCancelled, _ids, st.just("changed my mind")),
)

SUMMARY_LAWS = projection_target(order_summaries, order_events)
ORDER_FSM_LAWS = fsm_target(
    order_fsm,
    states=st.sampled_from(list(OrderStatus)),
    inputs=st.sampled_from(order_fsm.sample_inputs),
    label="order lifecycle FSM",
)

_seen = [0]


def _counting_step(total: int, event: int) -> tuple[int, Sequence[Effect]]:
    _seen[0] += 1  # hidden mutable state: folding twice gives different effects
    return total + event, (Log("info", f"event number {_seen[0]}"),)


BROKEN_LAWS = projection_target(Projection("leaky", 0, _counting_step), st.integers(0, 5))
