"""What the law checkers share: settings with a ``max_examples`` shortcut, and turning an
exception raised by the code under test into a law violation with its input."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from hypothesis import settings as Settings

from laws._runner import DEFAULT_SETTINGS

T = TypeVar("T")
P = ParamSpec("P")


def with_max_examples(settings: Settings | None, max_examples: int | None) -> Settings:
    """*settings* (default: the laws' defaults), with ``max_examples`` replaced when given."""
    base = settings or DEFAULT_SETTINGS
    if max_examples is None:
        return base
    if max_examples < 1:
        raise ValueError(f"max_examples must be >= 1, got {max_examples}")
    return Settings(parent=base, max_examples=max_examples)


class Raised(Exception):
    """The code under test raised while a law was being checked."""

    def __init__(self, what: str, error: Exception) -> None:
        super().__init__(f"{what} raised {type(error).__name__}: {error}")


def attempt(name: str, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)``; an exception it raises becomes :class:`Raised`, showing the
    call as ``name(args...)``."""
    try:
        return function(*args, **kwargs)
    except Exception as error:
        raise Raised(f"{name}({', '.join(map(repr, args))})", error) from error


def guarded(law: Callable[[T], str | None]) -> Callable[[T], str | None]:
    """*law*, reporting a :class:`Raised` as the problem instead of letting it escape."""

    def holds(case: T) -> str | None:
        try:
            return law(case)
        except Raised as raised:
            return str(raised)

    return holds
