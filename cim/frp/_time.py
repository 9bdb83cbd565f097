"""Time for signals: any totally ordered value (ints, floats, Decimals, datetimes, store positions)."""

from __future__ import annotations

from typing import Any, Protocol


class Time(Protocol):
    """A moment: any totally ordered value (ints, floats, Decimals, aware datetimes, ...).

    Signals order times with ``<`` only (equal means neither is before the other), so the times
    of one signal must be mutually comparable. The type checker sees that a time is ordered (so
    ``t < last`` type-checks for any time); which ordered type a behaviour expects is documented
    by the code that builds it, not checked statically.
    """

    def __lt__(self, other: Any, /) -> bool: ...

    def __le__(self, other: Any, /) -> bool: ...

    def __gt__(self, other: Any, /) -> bool: ...

    def __ge__(self, other: Any, /) -> bool: ...


def check_time(t: Time) -> Time:
    """Return *t* if it can order occurrences; raise ``ValueError`` for a NaN-like time."""
    if t != t:
        raise ValueError(f"time {t!r} is not equal to itself (NaN?); times must be totally ordered")
    return t
