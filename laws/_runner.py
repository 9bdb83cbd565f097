"""Run one law as a Hypothesis property and report a violation with its shrunk counterexample."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, given
from hypothesis import settings as Settings
from hypothesis.errors import FlakyFailure
from hypothesis.strategies import SearchStrategy

T = TypeVar("T")

DEFAULT_SETTINGS = Settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class LawViolation(AssertionError):
    """A law does not hold; ``counterexample`` is the (shrunk) input that breaks it."""

    def __init__(self, law: str, counterexample: object, detail: str) -> None:
        self.law = law
        self.counterexample = counterexample
        self.detail = detail
        super().__init__(f"law {law!r} violated: {detail}\n  counterexample: {counterexample!r}")


def check_law(
    law: str,
    examples: SearchStrategy[T],
    holds: Callable[[T], str | None],
    settings: Settings | None = None,
) -> None:
    """Check that *holds* returns ``None`` for every example; raise :class:`LawViolation` if not.

    *holds* returns a description of what went wrong, or ``None`` when the law holds. Hypothesis
    shrinks a failing example before the violation is raised, so the counterexample is minimal.

    Hypothesis re-runs a failing example before reporting it. Code that keeps state between calls
    (a global, a cache) can fail once and pass on the re-run; Hypothesis calls that flaky. For a
    law about pure code that is itself the violation, so it is reported as one.
    """

    @given(examples)
    def prop(example: T) -> None:
        problem = holds(example)
        if problem is not None:
            raise LawViolation(law, example, problem)

    try:
        Settings(parent=settings or DEFAULT_SETTINGS)(prop)()
    except FlakyFailure as flaky:
        first = _first_violation(flaky)
        if first is None:
            raise
        detail = (
            f"{first.detail}\n  (re-running this example did not fail the same way: the code "
            "under test depends on state kept outside its arguments)"
        )
        raise LawViolation(first.law, first.counterexample, detail) from flaky


def _first_violation(group: BaseExceptionGroup[BaseException]) -> LawViolation | None:
    for error in group.exceptions:
        if isinstance(error, LawViolation):
            return error
        if isinstance(error, BaseExceptionGroup):
            found = _first_violation(error)
            if found is not None:
                return found
    return None
