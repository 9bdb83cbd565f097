"""The incremental (push) evaluator: occurrences arrive one at a time, as from a live subscription.

An :class:`Accumulator` is an immutable value; ``push(t, value)`` does O(1) work and returns a new
one. It agrees with the pure (pull) semantics of the whole event seen so far:

* after each push, ``(t, acc.value)`` is the next occurrence of ``event.scan(initial, step)``;
* ``acc.value`` is ``event.fold(initial, step)``;
* ``acc.at(t)`` is ``event.accum(initial, step).at(t)`` for any ``t`` not before the last push
  (and, for :meth:`Accumulator.holding`, ``event.hold(initial).at(t)``).

Occurrences must arrive in time order; equal times are simultaneous occurrences and keep their
arrival order. An older time is not an occurrence the evaluator can take: ``push`` returns
``Failure(OutOfOrder(...))`` and the caller decides (drop it, or rebuild from the pure semantics).

>>> from returns.result import Success
>>> acc = Accumulator.start(0, lambda total, amount: total + amount)
>>> acc = acc.push(1, 10).unwrap().push(4, 5).unwrap()
>>> acc.value, acc.at(4), acc.at(5)
(15, 10, 15)
>>> acc.push(3, 1)
<Failure: occurrence at 3 arrived after one at 4>
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from attrs import evolve, frozen
from returns.result import Failure, Result, Success

from cim.frp._time import Time, check_time

S = TypeVar("S")
V = TypeVar("V")


@frozen
class OutOfOrder:
    """An occurrence at ``time`` was pushed after one at the later ``last_time``."""

    last_time: Time
    time: Time

    def __str__(self) -> str:
        return f"occurrence at {self.time!r} arrived after one at {self.last_time!r}"


@frozen
class Accumulator(Generic[S, V]):
    """The running value of ``scan``/``fold``/``accum``/``hold``, maintained one push at a time.

    ``value`` is the running value after every occurrence pushed so far; ``before_last`` the
    running value before the occurrences at ``last_time`` (the initial value until the first
    push).
    """

    step: Callable[[S, V], S]
    value: S
    before_last: S
    last_time: Time | None = None

    @classmethod
    def start(cls, initial: S, step: Callable[[S, V], S]) -> Accumulator[S, V]:
        """An evaluator of ``scan``/``fold``/``accum`` with *initial* and *step*, nothing pushed."""
        return Accumulator(step, initial, initial)

    @classmethod
    def holding(cls, initial: V) -> Accumulator[V, V]:
        """An evaluator of ``hold(initial)``: the running value is the latest occurrence's value."""
        return Accumulator(_latest, initial, initial)

    def push(self, t: Time, value: V) -> Result[Accumulator[S, V], OutOfOrder]:
        """Take the occurrence ``(t, value)``; ``Failure(OutOfOrder)`` if *t* is before the last.

        Raises ``ValueError`` for a time that is not equal to itself (NaN).
        """
        check_time(t)
        last = self.last_time
        if last is not None and t < last:
            return Failure(OutOfOrder(last, t))
        simultaneous = last is not None and not last < t
        return Success(
            evolve(
                self,
                value=self.step(self.value, value),
                before_last=self.before_last if simultaneous else self.value,
                last_time=t,
            )
        )

    def at(self, t: Time) -> S:
        """The running value of occurrences strictly before *t*, for *t* not before the last push.

        Raises ``ValueError`` for an earlier *t*: the evaluator keeps only the present; sample the
        pure ``DiscreteEvent.accum`` for the past.
        """
        last = self.last_time
        if last is None or last < t:
            return self.value
        if t < last:
            raise ValueError(
                f"cannot sample at {t!r}: the evaluator has moved on to {last!r} "
                "and keeps no history"
            )
        return self.before_last


def _latest(_: V, value: V) -> V:
    return value
