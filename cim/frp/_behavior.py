"""Behaviours: values that vary with time; a ``Behavior[T]`` means a function from time to ``T``.

>>> counter = Behavior.constant(0)
>>> doubled = counter.map(lambda n: n * 2)
>>> lift2(lambda a, b: a + b, counter, doubled).at(7)
0
>>> Behavior.time().map(lambda t: t * 10).at(3)
30

A *step* behaviour (a constant, a ``hold``/``accum``, and ``map``/``lift``/``switch``/``calm`` of
step behaviours) changes only at the times of some occurrences; it knows those times, so it has an
update stream (:func:`~cim.frp.updates`). A behaviour built from an arbitrary function of time has
none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from attrs import frozen

from cim.frp._signal import Signal
from cim.frp._time import Time

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")
U = TypeVar("U")
T_co = TypeVar("T_co", covariant=True)


@runtime_checkable
class StepFunction(Protocol[T_co]):
    """The meaning of a step behaviour: constant between its update times.

    ``initial_value()`` is its value up to and including the first update time,
    ``update_times()`` the times (sorted, distinct) at which it may change, and ``after(t)`` its
    value just after ``t`` (the limit from the right: it counts the occurrences at ``t``).
    """

    def __call__(self, t: Time, /) -> T_co: ...

    def initial_value(self) -> T_co: ...

    def update_times(self) -> tuple[Time, ...]: ...

    def after(self, t: Time, /) -> T_co: ...


@frozen
class Behavior(Signal[T_co]):
    """A value at every moment: ``at(t)`` samples it at time ``t``.

    ``function`` is the meaning itself; the constructors below give it a readable ``repr``.
    """

    function: Callable[[Any], T_co]

    def at(self, t: Time) -> T_co:
        """The value at time *t*."""
        return self.function(t)

    @classmethod
    def constant(cls, value: U) -> Behavior[U]:
        """The behaviour that is *value* at every time (the applicative ``pure``)."""
        return Behavior(_Constant(value))

    @classmethod
    def time(cls) -> Behavior[Any]:
        """The identity on time: its value at ``t`` is ``t``."""
        return Behavior(_identity)

    @classmethod
    def from_function(cls, f: Callable[[Any], U]) -> Behavior[U]:
        """The behaviour whose value at ``t`` is ``f(t)``; *f* must be pure."""
        return Behavior(f)

    def map(self, f: Callable[[T_co], U]) -> Behavior[U]:
        """``f`` applied to the value at every time."""
        return Behavior(_Lifted(f, (self,)))

    def switch(self: Behavior[Behavior[U]]) -> Behavior[U]:
        """Flatten a behaviour of behaviours: at ``t``, sample the behaviour current at ``t``.

        With :meth:`~cim.frp.DiscreteEvent.hold` this switches between behaviours when an event
        occurs: ``changes.hold(first).switch()`` follows ``first`` until the first occurrence of
        ``changes`` and then the behaviour that occurrence carries (from just after its time).
        This is Sodium's ``switchC`` and reactive-banana's ``switchB``.
        """
        return Behavior(_Switched(self))

    def calm(self) -> Behavior[T_co]:
        """The same values, but updates only when the value changes (Sodium's ``Cell.calm``).

        ``b.calm().at(t) == b.at(t)`` at every ``t``; :func:`~cim.frp.updates` of the result
        leaves out the updates of a step behaviour *b* to a value equal to the one before.
        """
        return Behavior(_Calmed(self))


def steps_of(behavior: Behavior[A]) -> StepFunction[A]:
    """The step structure of *behavior*; ``ValueError`` if it is not a step behaviour."""
    function = behavior.function
    if not isinstance(function, StepFunction):
        raise ValueError(
            f"{behavior!r} is not a step behaviour (a constant, a hold or accum, or map, lift, "
            "switch or calm of step behaviours), so it has no update times"
        )
    return function


def lift2(f: Callable[[A, B], C], a: Behavior[A], b: Behavior[B]) -> Behavior[C]:
    """Combine two behaviours pointwise: the value at ``t`` is ``f(a.at(t), b.at(t))``."""
    return Behavior(_Lifted(f, (a, b)))


def lift3(f: Callable[[A, B, C], D], a: Behavior[A], b: Behavior[B], c: Behavior[C]) -> Behavior[D]:
    """Combine three behaviours pointwise: the value at ``t`` is ``f(a.at(t), b.at(t), c.at(t))``."""
    return Behavior(_Lifted(f, (a, b, c)))


def lift_all(f: Callable[[tuple[A, ...]], B], behaviors: Iterable[Behavior[A]]) -> Behavior[B]:
    """Combine any number of behaviours: the value at ``t`` is ``f((b1.at(t), ..., bn.at(t)))``.

    *f* receives one tuple of the values, in the order of *behaviors* (Sodium's ``liftCells``);
    with no behaviours it is the constant ``f(())``.
    """
    return Behavior(_Lifted(_Packed(f), tuple(behaviors)))


def apply(functions: Behavior[Callable[[A], B]], arguments: Behavior[A]) -> Behavior[B]:
    """Applicative apply: the value at ``t`` is ``functions.at(t)(arguments.at(t))``."""
    return lift2(_call, functions, arguments)


def _identity(t: Any) -> Any:
    return t


def _call(f: Callable[[A], B], x: A) -> B:
    return f(x)


def distinct_times(times: Iterable[Time]) -> tuple[Time, ...]:
    """*times* sorted, each moment once (equal means neither is before the other)."""
    distinct: list[Time] = []
    for t in sorted(times):
        if not distinct or distinct[-1] < t:
            distinct.append(t)
    return tuple(distinct)


@frozen
class _Packed(Generic[A, B]):
    f: Callable[[tuple[A, ...]], B]

    def __call__(self, *values: A) -> B:
        return self.f(values)


@frozen
class _Constant(Generic[T_co]):
    value: T_co

    def __call__(self, t: Time) -> T_co:
        return self.value

    def initial_value(self) -> T_co:
        return self.value

    def update_times(self) -> tuple[Time, ...]:
        return ()

    def after(self, t: Time) -> T_co:
        return self.value


@frozen
class _Lifted(Generic[B]):
    f: Callable[..., B]
    sources: tuple[Behavior[Any], ...]

    def __call__(self, t: Time) -> B:
        return self.f(*(source.at(t) for source in self.sources))

    def initial_value(self) -> B:
        return self.f(*(steps_of(source).initial_value() for source in self.sources))

    def update_times(self) -> tuple[Time, ...]:
        return distinct_times(t for s in self.sources for t in steps_of(s).update_times())

    def after(self, t: Time) -> B:
        return self.f(*(steps_of(source).after(t) for source in self.sources))


@frozen
class _Switched(Generic[A]):
    source: Behavior[Behavior[A]]

    def __call__(self, t: Time) -> A:
        return self.source.at(t).at(t)

    def initial_value(self) -> A:
        return steps_of(steps_of(self.source).initial_value()).initial_value()

    def update_times(self) -> tuple[Time, ...]:
        outer = steps_of(self.source)
        switches = outer.update_times()
        currents = (outer.initial_value(), *(outer.after(u) for u in switches))
        inner = (
            t
            for start, end, current in segments(switches, currents)
            for t in steps_of(current).update_times()
            if (start is None or start < t) and (end is None or t < end)
        )
        return distinct_times((*switches, *inner))

    def after(self, t: Time) -> A:
        return steps_of(steps_of(self.source).after(t)).after(t)


def segments(
    switches: Sequence[Time], currents: Sequence[A]
) -> Iterable[tuple[Time | None, Time | None, A]]:
    """``(start, end, current)``: ``currents[k]`` is current from ``switches[k - 1]`` to ``switches[k]``.

    ``None`` stands for the open end before the first switch and after the last.
    """
    bounds: tuple[Time | None, ...] = (None, *switches, None)
    return zip(bounds[:-1], bounds[1:], currents, strict=True)


@frozen
class _Calmed(Generic[A]):
    source: Behavior[A]

    def __call__(self, t: Time) -> A:
        return self.source.at(t)

    def initial_value(self) -> A:
        return steps_of(self.source).initial_value()

    def update_times(self) -> tuple[Time, ...]:
        steps = steps_of(self.source)
        return tuple(t for t in steps.update_times() if steps(t) != steps.after(t))

    def after(self, t: Time) -> A:
        return steps_of(self.source).after(t)
