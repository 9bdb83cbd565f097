"""What a law checker draws: helpers of the tests that pin its sizes and its example counts."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis.strategies import SearchStrategy


def longest_drawn(cases: SearchStrategy[Any], *fields: str) -> dict[str, int]:
    """The greatest length of each of *fields* over 300 reproducible draws of *cases*."""
    longest = dict.fromkeys(fields, 0)

    @settings(max_examples=300, derandomize=True, database=None)
    @given(cases)
    def measure(case: Any) -> None:
        for name, most in longest.items():
            longest[name] = max(most, len(getattr(case, name)))

    measure()
    return longest


def counted(draws: list[Any], values: SearchStrategy[Any]) -> SearchStrategy[Any]:
    """*values*, appending each drawn value to *draws*."""

    def seen(value: Any) -> Any:
        draws.append(value)
        return value

    return values.map(seen)
