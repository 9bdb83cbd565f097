"""Shared test configuration: Hypothesis profiles and the anyio backend.

The ``nats_server`` and ``nats_url`` fixtures come from the laws pytest plugin.

``CIM_HYPOTHESIS_PROFILE=mutation`` (set by ``tools/mutation.py``) makes every property cheap
enough to judge thousands of mutants: at most ``MUTATION_EXAMPLES`` examples per property (also
for tests and law checkers that ask for more), no shrinking, and no example database (so a run
does not depend on the mutants judged before it). A mutant only a longer search would catch
then counts as surviving: the scores stay a lower bound.
"""

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings

MUTATION_EXAMPLES = 25
CHEAP_PHASES = (Phase.explicit, Phase.reuse, Phase.generate)

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True)
PROFILE = os.environ.get("CIM_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
settings.load_profile("default" if PROFILE == "mutation" else PROFILE)

# Tests that need the full search even in a mutation run: they look for a planted bug that
# 25 examples do not find, or check the shrunk counterexample.
FULL_SEARCH = frozenset(
    {
        "test_round_trip_law_catches_a_lossy_codec",
        "test_terminal_law_catches_a_closed_account_taking_deposits",
        "test_history_law_catches_evolve_failing_on_a_reachable_state",
        "test_drawn_histories_find_what_known_inputs_cannot",
        "test_a_projection_that_drops_effects_when_folded_in_two_parts_is_caught",
        "test_a_raising_step_is_a_violation_with_its_input",
        "test_drawn_cases_have_the_documented_sizes",
        "test_drawn_histories_have_the_documented_size",
        "test_drawn_replay_histories_have_the_documented_size",
    }
)
_cheap = [False]  # while a test runs in a mutation run (settings made at import stay full)

if PROFILE == "mutation":
    # Explicit settings (``@settings(max_examples=300)``, the law checkers' defaults) would win
    # over a profile, so the search is made cheap where Hypothesis reads the settings.
    def _switched(full: property, cheap: Callable[[Any], object]) -> property:
        return property(lambda self: cheap(self) if _cheap[0] else full.fget(self))  # type: ignore[misc]

    CHEAP: dict[str, Callable[[Any], object]] = {
        "max_examples": lambda self: min(self._max_examples, MUTATION_EXAMPLES),
        "database": lambda self: None,
        "phases": lambda self: tuple(p for p in self._phases if p in CHEAP_PHASES),
    }
    for name, cheap in CHEAP.items():
        type.__setattr__(settings, name, _switched(getattr(settings, name), cheap))

    @pytest.fixture(autouse=True)
    def _mutation_search(request: pytest.FixtureRequest) -> Iterator[None]:
        """A mutation run searches cheaply, except in the tests that need the full search."""
        _cheap[0] = request.node.originalname not in FULL_SEARCH
        yield
        _cheap[0] = False


PLANTED_BUG_TEST = re.compile(r"reject|catch|caught")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``CIM_MUTATION_TARGET=cim``, leave out the law checkers' planted-bug tests.

    They show that a law rejects a broken implementation (they judge ``laws/``, the other
    mutation target): a mutant of ``cim/`` leaves the planted bug in place, so they pass with
    it, and they are the slowest tests there are.
    """
    if os.environ.get("CIM_MUTATION_TARGET") != "cim":
        return
    planted = [
        item
        for item in items
        if item.path.name.endswith("_laws.py") and PLANTED_BUG_TEST.search(item.name)
    ]
    if planted:
        config.hook.pytest_deselected(items=planted)
        items[:] = [item for item in items if item not in planted]


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (nats-py needs it)."""
    return "asyncio"
