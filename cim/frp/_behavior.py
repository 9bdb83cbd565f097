"""Behaviours: values that vary with time; a ``Behavior[T]`` means a function from time to ``T``.

>>> counter = Behavior.constant(0)
>>> doubled = counter.map(lambda n: n * 2)
>>> lift2(lambda a, b: a + b, counter, doubled).at(7)
0
>>> Behavior.time().map(lambda t: t * 10).at(3)
30
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from attrs import frozen

from cim.frp._signal import Signal
from cim.frp._time import Time

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
U = TypeVar("U")
T_co = TypeVar("T_co", covariant=True)


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
        return Behavior(_Mapped(self, f))

    def switch(self: Behavior[Behavior[U]]) -> Behavior[U]:
        """Flatten a behaviour of behaviours: at ``t``, sample the behaviour current at ``t``.

        With :meth:`~cim.frp.DiscreteEvent.hold` this switches between behaviours when an event
        occurs: ``changes.hold(first).switch()`` follows ``first`` until the first occurrence of
        ``changes`` and then the behaviour that occurrence carries (from just after its time).
        """
        return Behavior(_Switched(self))


def lift2(f: Callable[[A, B], C], a: Behavior[A], b: Behavior[B]) -> Behavior[C]:
    """Combine two behaviours pointwise: the value at ``t`` is ``f(a.at(t), b.at(t))``."""
    return Behavior(_Lifted2(f, a, b))


def apply(functions: Behavior[Callable[[A], B]], arguments: Behavior[A]) -> Behavior[B]:
    """Applicative apply: the value at ``t`` is ``functions.at(t)(arguments.at(t))``."""
    return lift2(_call, functions, arguments)


def _identity(t: Any) -> Any:
    return t


def _call(f: Callable[[A], B], x: A) -> B:
    return f(x)


@frozen
class _Constant(Generic[T_co]):
    value: T_co

    def __call__(self, t: Time) -> T_co:
        return self.value


@frozen
class _Mapped(Generic[A, B]):
    source: Behavior[A]
    f: Callable[[A], B]

    def __call__(self, t: Time) -> B:
        return self.f(self.source.at(t))


@frozen
class _Lifted2(Generic[A, B, C]):
    f: Callable[[A, B], C]
    a: Behavior[A]
    b: Behavior[B]

    def __call__(self, t: Time) -> C:
        return self.f(self.a.at(t), self.b.at(t))


@frozen
class _Switched(Generic[A]):
    source: Behavior[Behavior[A]]

    def __call__(self, t: Time) -> A:
        return self.source.at(t).at(t)
