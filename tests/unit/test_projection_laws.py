"""The projection law checker passes lawful projections and catches planted broken ones."""

from collections.abc import Sequence

import pytest
from hypothesis import settings
from pyrsistent import PMap, pmap

from cim.effects import DatabaseUpdate, Effect, Log
from cim.examples import bank
from cim.projection import Projection
from laws import FoldCase, LawViolation, check_projection_laws
from tests.unit._bank_strategies import bank_events

Balances = Projection[PMap[str, int], bank.BankEvent]
FAST = settings(max_examples=60, database=None, deadline=None)


def test_bank_balances_keep_the_laws() -> None:
    """The shipped bank projection satisfies every projection law."""
    check_projection_laws(bank.balances, bank_events(), settings=FAST)


def test_max_examples_shortcut_is_accepted() -> None:
    """max_examples can be given without building Hypothesis settings."""
    check_projection_laws(bank.balances, bank_events(), max_examples=10)
    with pytest.raises(ValueError, match="max_examples"):
        check_projection_laws(bank.balances, bank_events(), max_examples=0)


# ---------------------------------------------------------------- planted: module-level counter
_steps_taken = 0


def _counting_step(
    state: PMap[str, int], event: bank.BankEvent
) -> tuple[PMap[str, int], Sequence[Effect]]:
    global _steps_taken
    _steps_taken += 1
    new, effects = bank.balance_step(state, event)
    return new, (*effects, Log("debug", "step", {"step": _steps_taken}))


def test_determinism_catches_a_module_level_counter() -> None:
    """A step numbering its effects with a global counter fails determinism, on one event."""
    leaky: Balances = Projection("leaky", pmap(), _counting_step)
    with pytest.raises(LawViolation) as caught:
        check_projection_laws(leaky, bank_events(), settings=FAST)
    violation = caught.value
    assert violation.law == "projection determinism"
    case = violation.counterexample
    assert isinstance(case, FoldCase)
    assert len(case.start) + len(case.xs) == 1  # shrunk to a single event
    assert "counterexample: FoldCase(" in str(violation)


# ---------------------------------------------------------------- planted: drops effects in two parts
_last_written: dict[str, object] = {}


def _deduplicating_step(
    state: PMap[str, int], event: bank.BankEvent
) -> tuple[PMap[str, int], Sequence[Effect]]:
    """Skips writes it believes are already done, remembering them outside the state."""
    if state == bank.balances.initial:
        _last_written.clear()
    new, effects = bank.balance_step(state, event)
    kept = []
    for effect in effects:
        if isinstance(effect, DatabaseUpdate):
            if _last_written.get(effect.key) == effect.changes:
                continue
            _last_written[effect.key] = effect.changes
        kept.append(effect)
    return new, kept


def test_a_projection_that_drops_effects_when_folded_in_two_parts_is_caught() -> None:
    """Resuming from a state after other folds loses writes: the checker shows the shrunk case."""
    lossy: Balances = Projection("lossy", pmap(), _deduplicating_step)
    with pytest.raises(LawViolation) as caught:
        check_projection_laws(lossy, bank_events(), settings=FAST)
    violation = caught.value
    assert violation.law in {"projection determinism", "fold associativity"}
    case = violation.counterexample
    assert isinstance(case, FoldCase)
    assert len(case.start) + len(case.xs) + len(case.ys) <= 3
    assert "DatabaseUpdate" in violation.detail


# ---------------------------------------------------------------- planted: unresumable state
def _last_opened_step(
    state: str | None, event: bank.BankEvent
) -> tuple[str | None, Sequence[Effect]]:
    """The last opened account; ``None`` once it is closed (a state fold cannot resume from)."""
    if isinstance(event, bank.AccountOpened):
        return event.account_id, ()
    if isinstance(event, bank.AccountClosed):
        return None, ()
    return state, ()


def test_identity_catches_a_state_that_fold_cannot_resume_from() -> None:
    """fold(state=None) restarts from initial, so a reachable None state breaks identity."""
    last_opened: Projection[str | None, bank.BankEvent] = Projection("last", "", _last_opened_step)
    with pytest.raises(LawViolation) as caught:
        check_projection_laws(last_opened, bank_events(), settings=FAST)
    assert caught.value.law == "projection identity"
    case = caught.value.counterexample
    assert isinstance(case, FoldCase)
    assert case.start == [bank.AccountClosed("acc-1")]


# ---------------------------------------------------------------- planted: a step that raises
def _fragile_step(state: int, event: bank.BankEvent) -> tuple[int, Sequence[Effect]]:
    if isinstance(event, bank.LimitSet):
        raise KeyError("limits not supported")
    return state + 1, ()


def test_a_raising_step_is_a_violation_with_its_input() -> None:
    """An exception from the projection becomes a LawViolation naming the call and the error."""
    with pytest.raises(LawViolation) as caught:
        check_projection_laws(Projection("fragile", 0, _fragile_step), bank_events(), settings=FAST)
    assert "raised KeyError: 'limits not supported'" in caught.value.detail
    case = caught.value.counterexample
    assert isinstance(case, FoldCase)
    assert [*case.start, *case.xs, *case.ys, *case.other] == [bank.LimitSet("acc-1", 0)]
