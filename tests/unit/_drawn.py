"""How long what a law checker draws gets: the helper of the documented-size tests."""

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
