"""Operations on step behaviours and behaviours of events: updates, values, switching, recursion.

A step behaviour changes only at the times of occurrences (see :class:`~cim.frp.Behavior`), so
its changes form a discrete event, and a step behaviour whose values are events can be switched.

>>> from cim.frp import DiscreteEvent
>>> held = DiscreteEvent.from_pairs([(1, "a"), (1, "b"), (4, "c")]).hold("-")
>>> updates(held).occurrences
((1, 'b'), (4, 'c'))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from cim.frp._behavior import Behavior, distinct_times, segments, steps_of
from cim.frp._discrete_event import DiscreteEvent
from cim.frp._time import Time

T = TypeVar("T")


def updates(behavior: Behavior[T]) -> DiscreteEvent[T]:
    """The update stream of a step behaviour: at each update time ``t``, its value just after ``t``.

    One occurrence per update time (simultaneous occurrences of a held event make one update, with
    the last value), including updates to an equal value (use :meth:`Behavior.calm` to drop those).
    This is Sodium's ``Operational.updates``. ``behavior`` is the ``hold`` of its updates from
    its first value on. Raises ``ValueError`` for a behaviour that is not a step behaviour.
    """
    steps = steps_of(behavior)
    return DiscreteEvent(tuple((t, steps.after(t)) for t in steps.update_times()))


def values(behavior: Behavior[T], start: Time) -> DiscreteEvent[T]:
    """The value of a step behaviour at *start*, then its updates (Sodium's ``Operational.value``).

    The first occurrence is ``(start, v)`` with ``v`` the value just after *start* (an update at
    *start* itself is folded into it, as Sodium does in the transaction that listens); then one
    occurrence per later update. Raises ``ValueError`` for a behaviour that is not a step behaviour.

    >>> from cim.frp import DiscreteEvent
    >>> values(DiscreteEvent.from_pairs([(2, "b"), (5, "c")]).hold("a"), 3).occurrences
    ((3, 'b'), (5, 'c'))
    """
    steps = steps_of(behavior)
    later = ((t, steps.after(t)) for t in steps.update_times() if start < t)
    return DiscreteEvent(((start, steps.after(start)), *later))


def switch_s(events: Behavior[DiscreteEvent[T]]) -> DiscreteEvent[T]:
    """Follow the event current at each moment: the occurrences ``(t, v)`` of ``events.at(t)``.

    *events* must be a step behaviour (typically ``changes.hold(first)``). As ``at(t)`` is the
    value strictly before ``t``, at a switch time the old event is still current: the new one's
    occurrences count from just after the switch. This is Sodium's ``switchS``.
    """
    steps = steps_of(events)
    switches = steps.update_times()
    currents = (steps.initial_value(), *(steps.after(u) for u in switches))
    return DiscreteEvent(
        tuple(
            (t, v)
            for start, end, current in segments(switches, currents)
            for t, v in current.occurrences
            if (start is None or start < t) and (end is None or not end < t)
        )
    )


def switch_e(
    initial: DiscreteEvent[T], changes: DiscreteEvent[DiscreteEvent[T]]
) -> DiscreteEvent[T]:
    """The occurrences of *initial*, then of the event each occurrence of *changes* carries.

    reactive-banana's ``switchE``: equal to ``switch_s(changes.hold(initial))``. An occurrence of
    *changes* at ``t`` switches just after ``t``: occurrences at ``t`` come from the old event.
    """
    return switch_s(changes.hold(initial))


def hold_loop(initial: T, define: Callable[[Behavior[T]], DiscreteEvent[T]]) -> Behavior[T]:
    """The behaviour ``b`` with ``b == define(b).hold(initial)``: a recursive ``hold``.

    This is Sodium's ``CellLoop`` (and reactive-banana's recursive ``mdo``) for a cell that holds
    an event defined from the cell itself, e.g. ``balance = hold(deposits snapshot balance)``::

        balance = hold_loop(0, lambda b: deposits.snapshot(b, lambda d, total: total + d))

    Meaning: the unique fixed point of ``b -> define(b).hold(initial)``. It exists and is unique
    when *define* is causal (its occurrences up to ``t`` depend on ``b`` only at times up to
    ``t``, as ``snapshot``, ``gate``, ``map``, ``filter`` and ``merge`` do): ``hold`` delays by
    "strictly before", so each occurrence depends only on earlier ones. It is computed by
    iterating from ``constant(initial)``: each round fixes the result up to one more of the
    occurrence times seen so far, so it settles within as many rounds as there are such times.
    Raises ``ValueError`` when the iteration does not settle (*define* is not causal).
    """
    event = define(Behavior.constant(initial))
    seen = _times(event)
    rounds = 0
    while True:
        next_event = define(event.hold(initial))
        if next_event.occurrences == event.occurrences:
            return event.hold(initial)
        seen = distinct_times((*seen, *_times(next_event)))
        rounds += 1
        if rounds > len(seen):
            raise ValueError(
                "hold_loop: the definition did not settle; it must be causal (an occurrence at t "
                "may depend on the held value only at times up to t)"
            )
        event = next_event


def _times(event: DiscreteEvent[Any]) -> tuple[Time, ...]:
    return distinct_times(t for t, _ in event.occurrences)
