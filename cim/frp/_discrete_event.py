"""Discrete events: a ``DiscreteEvent[T]`` means a time-ordered list of ``(t, value)`` occurrences.

>>> events = DiscreteEvent.from_pairs([(0, "create"), (5, "update"), (10, "delete")])
>>> events.filter(lambda s: s != "delete").occurrences
((0, 'create'), (5, 'update'))
>>> counts = events.accum(0, lambda n, _: n + 1)
>>> [counts.at(t) for t in (0, 1, 5, 6, 11)]
[0, 1, 1, 2, 3]
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from functools import reduce
from itertools import accumulate, islice, pairwise
from operator import itemgetter
from typing import Any, Generic, TypeVar

from attrs import field, frozen

from cim.frp._behavior import Behavior, distinct_times
from cim.frp._signal import Signal
from cim.frp._time import Time, check_time

T = TypeVar("T")
U = TypeVar("U")
S = TypeVar("S")
B = TypeVar("B")

Occurrence = tuple[Time, T]
"""One occurrence: the time it happens and the value it carries."""

_time_of: Callable[[Occurrence[Any]], Time] = itemgetter(0)


def _occurrence_tuple(pairs: Iterable[Occurrence[T]]) -> tuple[Occurrence[T], ...]:
    occurrences = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError(f"an occurrence must be a (time, value) pair, got {pair!r}")
        occurrences.append(pair)
    return tuple(occurrences)


def _check_time_ordered(_: object, __: object, occurrences: tuple[Occurrence[Any], ...]) -> None:
    for t, _value in occurrences:
        check_time(t)
    for (before, _b), (after, _a) in pairwise(occurrences):
        if after < before:
            raise ValueError(
                f"occurrences must be ordered by time: {after!r} comes after {before!r}; "
                "use DiscreteEvent.from_pairs to sort them"
            )


@frozen
class DiscreteEvent(Signal[T]):
    """Occurrences at moments in time, in time order (simultaneous ones keep their order).

    Build one with :meth:`from_pairs` (which sorts) or :meth:`never`; the constructor itself
    requires ``occurrences`` to be ordered already.
    """

    occurrences: tuple[Occurrence[T], ...] = field(
        converter=_occurrence_tuple, validator=_check_time_ordered
    )

    @classmethod
    def from_pairs(cls, pairs: Iterable[Occurrence[T]]) -> DiscreteEvent[T]:
        """The event with these ``(time, value)`` occurrences, stably sorted by time.

        Occurrences at equal times keep their input order.
        """
        occurrences = _occurrence_tuple(pairs)
        try:
            ordered = sorted(occurrences, key=_time_of)
        except TypeError as error:
            raise TypeError(f"occurrence times must be mutually comparable: {error}") from None
        return cls(ordered)

    @classmethod
    def never(cls) -> DiscreteEvent[T]:
        """The event that never occurs (the identity of :meth:`merge`)."""
        return cls(())

    def map(self, f: Callable[[T], U]) -> DiscreteEvent[U]:
        """``f`` applied to every value, at the same times."""
        return DiscreteEvent(tuple((t, f(v)) for t, v in self.occurrences))

    def filter(self, keep: Callable[[T], bool]) -> DiscreteEvent[T]:
        """Only the occurrences whose value satisfies *keep*."""
        return DiscreteEvent(tuple((t, v) for t, v in self.occurrences if keep(v)))

    def merge(
        self, other: DiscreteEvent[T], combine: Callable[[T, T], T] | None = None
    ) -> DiscreteEvent[T]:
        """The time-ordered union of both events' occurrences.

        At equal times this event's occurrences come before *other*'s. With *combine*, the i-th
        occurrence of this event at a time and the i-th of *other* at the same time become one
        occurrence ``combine(mine, theirs)``; unmatched ones pass through in order. So when each
        event occurs at most once at a time, a simultaneous pair becomes one combined occurrence.
        ``merge`` is associative (with an associative *combine*) and :meth:`never` is its identity.

        >>> a = DiscreteEvent.from_pairs([(1, "a"), (3, "b")])
        >>> b = DiscreteEvent.from_pairs([(1, "x"), (2, "y")])
        >>> a.merge(b).occurrences
        ((1, 'a'), (1, 'x'), (2, 'y'), (3, 'b'))
        >>> a.merge(b, lambda x, y: x + y).occurrences
        ((1, 'ax'), (2, 'y'), (3, 'b'))
        """
        return DiscreteEvent(_merge(self.occurrences, other.occurrences, combine))

    def take(self, n: int) -> DiscreteEvent[T]:
        """The first *n* occurrences (``n >= 0``)."""
        return DiscreteEvent(self.occurrences[: _count(n)])

    def skip(self, n: int) -> DiscreteEvent[T]:
        """All but the first *n* occurrences (``n >= 0``)."""
        return DiscreteEvent(self.occurrences[_count(n) :])

    def between(self, t0: Time, t1: Time) -> DiscreteEvent[T]:
        """The occurrences at times ``t`` with ``t0 <= t < t1`` (start included, end excluded).

        Half-open windows tile: ``e.between(a, b)`` then ``e.between(b, c)`` is
        ``e.between(a, c)``. Raises ``ValueError`` when ``t1`` is before ``t0``.
        """
        if t1 < t0:
            raise ValueError(f"between({t0!r}, {t1!r}): the end is before the start")
        start = bisect_left(self.occurrences, t0, key=_time_of)
        end = bisect_left(self.occurrences, t1, lo=start, key=_time_of)
        return DiscreteEvent(self.occurrences[start:end])

    def scan(self, initial: S, f: Callable[[S, T], S]) -> DiscreteEvent[S]:
        """The running value ``f(... f(initial, v1) ..., vn)`` as an occurrence at each time.

        *initial* itself does not occur; it is the value before the first occurrence.
        """
        running = islice(accumulate(self._values(), f, initial=initial), 1, None)
        return DiscreteEvent(tuple(zip(self._times(), running, strict=True)))

    def fold(self, initial: S, f: Callable[[S, T], S]) -> S:
        """The final running value (*initial* when nothing occurs): the last value of :meth:`scan`."""
        return reduce(f, self._values(), initial)

    def accum(self, initial: S, f: Callable[[S, T], S]) -> Behavior[S]:
        """The running value as a behaviour: at ``t``, the fold of occurrences strictly before ``t``.

        Equal to ``self.scan(initial, f).hold(initial)``.
        """
        return self.scan(initial, f).hold(initial)

    def hold(self, initial: T) -> Behavior[T]:
        """A step behaviour: at ``t``, the value of the last occurrence strictly before ``t``.

        Before (and at) the first occurrence it is *initial*. Sampling costs O(log n).

        >>> held = DiscreteEvent.from_pairs([(5, "on")]).hold("off")
        >>> held.at(5), held.at(6)
        ('off', 'on')
        """
        return Behavior(_Step(initial, self.occurrences))

    def hold_from(self, start: Time, initial: T) -> Behavior[T]:
        """``hold`` as created at time *start*: occurrences before *start* are ignored.

        This is Sodium's ``hold`` (and reactive-banana's ``stepper`` run in a ``Moment``) when it
        is built at *start*, for example inside a ``switch``: it sees the occurrences at times
        ``t >= start`` (those at *start* included, taking effect just after it), never earlier
        ones. :meth:`hold` is the same with *start* before every occurrence.

        >>> ticks = DiscreteEvent.from_pairs([(1, "a"), (5, "b")])
        >>> late = ticks.hold_from(3, "-")
        >>> late.at(4), late.at(6), ticks.hold("-").at(4)
        ('-', 'b', 'a')
        """
        first = bisect_left(self.occurrences, start, key=_time_of)
        return Behavior(_Step(initial, self.occurrences[first:]))

    def calm(self) -> DiscreteEvent[T]:
        """Drop each occurrence whose value equals the previous occurrence's (Sodium's ``calm``).

        >>> DiscreteEvent.from_pairs([(1, "a"), (2, "a"), (3, "b"), (4, "a")]).calm().occurrences
        ((1, 'a'), (3, 'b'), (4, 'a'))
        """
        occurrences = self.occurrences
        return DiscreteEvent(
            tuple(o for i, o in enumerate(occurrences) if i == 0 or occurrences[i - 1][1] != o[1])
        )

    def snapshot(self, behavior: Behavior[B], f: Callable[[T, B], U]) -> DiscreteEvent[U]:
        """For each occurrence ``(t, v)``, an occurrence ``(t, f(v, behavior.at(t)))``."""
        return DiscreteEvent(tuple((t, f(v, behavior.at(t))) for t, v in self.occurrences))

    def gate(self, open_: Behavior[bool]) -> DiscreteEvent[T]:
        """Only the occurrences at times ``t`` where ``open_.at(t)`` is true."""
        return DiscreteEvent(tuple((t, v) for t, v in self.occurrences if open_.at(t)))

    def _times(self) -> Iterable[Time]:
        return (t for t, _ in self.occurrences)

    def _values(self) -> Iterable[T]:
        return (v for _, v in self.occurrences)


def _count(n: int) -> int:
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"expected a count >= 0, got {n!r}")
    return n


def _merge(
    left: Sequence[Occurrence[T]],
    right: Sequence[Occurrence[T]],
    combine: Callable[[T, T], T] | None,
) -> tuple[Occurrence[T], ...]:
    merged: list[Occurrence[T]] = []
    i = j = 0
    while i < len(left) and j < len(right):
        left_time, right_time = left[i][0], right[j][0]
        if right_time < left_time:
            merged.append(right[j])
            j += 1
        elif combine is None or left_time < right_time:
            merged.append(left[i])
            i += 1
        else:
            i_end, j_end = _same_time_end(left, i), _same_time_end(right, j)
            paired = min(i_end - i, j_end - j)
            merged.extend(
                (left_time, combine(left[i + k][1], right[j + k][1])) for k in range(paired)
            )
            merged.extend(left[i + paired : i_end])
            merged.extend(right[j + paired : j_end])
            i, j = i_end, j_end
    merged.extend(left[i:])
    merged.extend(right[j:])
    return tuple(merged)


def _same_time_end(occurrences: Sequence[Occurrence[Any]], start: int) -> int:
    t = occurrences[start][0]
    end = start + 1
    while end < len(occurrences) and not t < occurrences[end][0]:
        end += 1
    return end


@frozen
class _Step(Generic[T]):
    initial: T
    occurrences: tuple[Occurrence[T], ...]

    def __call__(self, t: Time) -> T:
        before = bisect_left(self.occurrences, t, key=_time_of)
        return self.occurrences[before - 1][1] if before else self.initial

    def initial_value(self) -> T:
        return self.initial

    def update_times(self) -> tuple[Time, ...]:
        return distinct_times(t for t, _ in self.occurrences)

    def after(self, t: Time) -> T:
        until = bisect_right(self.occurrences, t, key=_time_of)
        return self.occurrences[until - 1][1] if until else self.initial
