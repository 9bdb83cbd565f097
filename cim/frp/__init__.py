"""Signals: functional reactive programming with a denotational meaning.

A :class:`Behavior` ``[T]`` means a function from time to ``T``; a :class:`DiscreteEvent` ``[T]``
means a time-ordered list of ``(t, value)`` occurrences. Every combinator is defined by that
meaning, and ``laws.check_signal_laws`` checks the algebra (functor, applicative, merge, hold).
Time is any totally ordered value (see :class:`Time`).

>>> counter = Behavior.constant(0)
>>> doubled = counter.map(lambda n: n * 2)
>>> lift2(lambda a, b: a + b, counter, doubled).at(42)
0
>>> events = DiscreteEvent.from_pairs([(0, "create"), (5, "update"), (10, "delete")])
>>> events.filter(lambda s: s != "delete").occurrences
((0, 'create'), (5, 'update'))
"""

from cim.frp._accumulator import Accumulator, OutOfOrder
from cim.frp._behavior import Behavior, StepFunction, apply, lift2, lift3, lift_all
from cim.frp._discrete_event import DiscreteEvent, Occurrence
from cim.frp._envelopes import TimeSource, events_from_envelopes, occurrence_from_envelope
from cim.frp._signal import Signal
from cim.frp._steps import hold_loop, switch_e, switch_s, updates, values
from cim.frp._time import Time

__all__ = (
    "Accumulator",
    "Behavior",
    "DiscreteEvent",
    "Occurrence",
    "OutOfOrder",
    "Signal",
    "StepFunction",
    "Time",
    "TimeSource",
    "apply",
    "events_from_envelopes",
    "hold_loop",
    "lift2",
    "lift3",
    "lift_all",
    "occurrence_from_envelope",
    "switch_e",
    "switch_s",
    "updates",
    "values",
)
