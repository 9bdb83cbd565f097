"""The projection law checker passes lawful projections and catches planted broken ones."""

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from pyrsistent import PMap, pmap

import laws._projection_laws as projection_laws
from cim.effects import DatabaseUpdate, Effect, Log
from cim.examples import bank
from cim.projection import Projection
from laws import FoldCase, LawViolation, check_projection_laws
from tests.unit._bank_strategies import bank_events
from tests.unit._drawn import longest_drawn

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
    assert caught.value.detail.startswith("fold([")  # the call that raised, by name
    assert "raised KeyError: 'limits not supported'" in caught.value.detail
    case = caught.value.counterexample
    assert isinstance(case, FoldCase)
    assert [*case.start, *case.xs, *case.ys, *case.other] == [bank.LimitSet("acc-1", 0)]


# ---------------------------------------------------------------- settings are honoured
def test_the_settings_given_are_used() -> None:
    """settings(max_examples=2) draws at most 2 cases per law, each of at most 38 events."""
    drawn: list[int] = []

    def record(event: int) -> int:
        drawn.append(event)
        return event

    counter: Projection[int, int] = Projection("count", 0, lambda n, e: (n + e, ()))
    few = settings(max_examples=2, database=None)
    check_projection_laws(counter, st.integers().map(record), settings=few)
    assert len(drawn) <= 4 * 2 * (8 + 12 + 12 + 6)


# ---------------------------------------------------------------- planted: cannot resume after 12
def _closing_step(count: int | None, event: int) -> tuple[int | None, Sequence[Effect]]:
    """Counts events; the 13th closes the counter (``None``, which fold cannot resume from)."""
    if count is None or count >= 12:
        return None, ()
    return count + 1, ()


def test_associativity_folds_from_a_reachable_state() -> None:
    """A state reached only after `start` and `xs` (13 events) breaks resuming: associativity."""
    closing: Projection[int | None, int] = Projection("closing", 0, _closing_step)
    with pytest.raises(LawViolation) as caught:
        check_projection_laws(closing, st.integers(), settings=FAST)
    assert caught.value.law == "fold associativity"
    case = caught.value.counterexample
    assert isinstance(case, FoldCase)
    assert len(case.start) + len(case.xs) >= 13
    assert caught.value.detail.startswith("folding `xs` then `ys` ends in ")


# ---------------------------------------------------------------- planted: state kept from initial
_opened_with: list[int] = [0]


def _remembering_step(count: int, event: int) -> tuple[int, Sequence[Effect]]:
    """Logs the first event of the last fold from the initial state, kept in a global."""
    if count == 0:
        _opened_with[0] = event
    return count + 1, (Log("debug", "opened with", {"first": _opened_with[0]}),)


def test_determinism_catches_state_changed_by_folding_other_events() -> None:
    """Folding `other` from the initial state changes what `xs` logs: determinism says so."""
    remembering: Projection[int, int] = Projection("remembering", 0, _remembering_step)
    with pytest.raises(LawViolation) as caught:
        check_projection_laws(remembering, st.integers(), settings=FAST)
    assert caught.value.law == "projection determinism"
    assert caught.value.detail.startswith("folding `xs` gave state=")
    assert "but after folding `other` it gave state=" in caught.value.detail


# ---------------------------------------------------------------- planted: effects must be handled
class _Watched(Sequence[Effect]):
    """No effects, but it knows whether anyone looked at them."""

    def __init__(self) -> None:
        self.handled = False

    def __len__(self) -> int:
        self.handled = True
        return 0

    def __getitem__(self, index: Any) -> Any:
        self.handled = True
        raise IndexError(index)

    def __iter__(self) -> Iterator[Effect]:
        self.handled = True
        return iter(())


_last_step: list[tuple[object, _Watched]] = []


def _unforgiving_step(state: tuple[int], event: int) -> tuple[tuple[int], Sequence[Effect]]:
    """Refuses to go on from its last state while that step's effects were not handled."""
    if _last_step and _last_step[-1][0] is state and not _last_step[-1][1].handled:
        raise RuntimeError("the effects of the previous event were not handled")
    new, effects = (state[0] + 1,), _Watched()
    _last_step[:] = [(new, effects)]
    return new, effects


def test_replay_consistency_catches_a_step_that_fails_in_scan() -> None:
    """scan ignores effects, so a step needing them handled fails there: replay consistency."""
    unforgiving: Projection[tuple[int], int] = Projection("unforgiving", (0,), _unforgiving_step)
    with pytest.raises(LawViolation) as caught:
        check_projection_laws(unforgiving, st.integers(), settings=FAST)
    assert caught.value.law == "replay consistency"
    assert caught.value.detail.startswith("scan([")
    assert "raised RuntimeError: the effects of the previous event were not handled" in (
        caught.value.detail
    )


def _late_unforgiving_step(state: tuple[int], event: int) -> tuple[tuple[int], Sequence[Effect]]:
    """Like the unforgiving step, but it only starts refusing from its 13th event on."""
    if state[0] < 12:
        _last_step.clear()
    return _unforgiving_step(state, event)


def test_replay_consistency_scans_from_a_reachable_state() -> None:
    """A scan failing only after 13 events is caught: `start` then `xs` reach it, `xs` alone not."""
    late: Projection[tuple[int], int] = Projection("late", (0,), _late_unforgiving_step)
    with pytest.raises(LawViolation) as caught:  # reproducible: a random search missed it 1 in 100
        check_projection_laws(late, st.integers(), settings=settings(FAST, derandomize=True))
    assert caught.value.law == "replay consistency"
    case = caught.value.counterexample
    assert isinstance(case, FoldCase)
    assert len(case.start) + len(case.xs) >= 13


# ---------------------------------------------------------------- planted: careless equality
class _Careless:
    """A count whose equality ignores the count (and even says it equals None)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __eq__(self, other: object) -> bool:
        return other is None or isinstance(other, _Careless)

    __hash__ = None  # type: ignore[assignment]


def _closing_logging_step(
    state: _Careless | None, event: int
) -> tuple[_Careless | None, Sequence[Effect]]:
    """The 13th event closes the count (None); every event after that is logged."""
    if state is None:
        return None, (Log("warning", "event after closing", {"event": event}),)
    return (None if state.count >= 12 else _Careless(state.count + 1)), ()


def test_associativity_compares_effects_when_states_look_equal() -> None:
    """Resuming from a closed state loses the warnings: the effects differ, the states do not."""
    careless: Projection[_Careless | None, int] = Projection(
        "careless", _Careless(0), _closing_logging_step
    )
    with pytest.raises(LawViolation) as caught:  # reproducible: a random search missed it rarely
        check_projection_laws(careless, st.integers(), settings=settings(FAST, derandomize=True))
    assert caught.value.law == "fold associativity"
    detail = caught.value.detail  # the drawn lists are not shrunk under the mutation profile
    assert detail.startswith("effects of `xs` then `ys` are [")
    assert "], effects of `xs + ys` are [" in detail
    assert "event after closing" in detail


# ---------------------------------------------------------------- planted: memory per state
_next_seen: dict[tuple[int, ...], set[int]] = {}


def _noting_step(history: tuple[int, ...], event: int) -> tuple[tuple[int, ...], Sequence[Effect]]:
    """Logs how many different events were ever folded from this (non-initial) state."""
    if not history:
        return (event,), ()
    seen = _next_seen.setdefault(history, set())
    seen.add(event)
    return (*history, event), (Log("debug", "next events", {"seen": len(seen)}),)


def test_determinism_folds_other_events_from_the_reachable_state() -> None:
    """Folding `other` from the state `xs` starts at changes what `xs` logs: determinism says so."""
    noting: Projection[tuple[int, ...], int] = Projection("noting", (), _noting_step)
    with pytest.raises(LawViolation) as caught:
        check_projection_laws(noting, st.integers(), settings=FAST)
    assert caught.value.law == "projection determinism"
    assert "but after folding `other` it gave" in caught.value.detail


# ---------------------------------------------------------------- the drawn cases' sizes
def test_drawn_cases_have_the_documented_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every law draws FoldCases of at most 8 `start`, 12 `xs`, 12 `ys` and 6 `other` events."""
    drawn: list[SearchStrategy[FoldCase[int]]] = []
    monkeypatch.setattr(
        projection_laws, "check_law", lambda law, cases, holds, chosen: drawn.append(cases)
    )
    counter: Projection[int, int] = Projection("count", 0, lambda n, e: (n + e, ()))
    check_projection_laws(counter, st.integers())
    assert len(drawn) == 4
    longest = longest_drawn(drawn[0], "start", "xs", "ys", "other")
    assert longest == {"start": 8, "xs": 12, "ys": 12, "other": 6}
