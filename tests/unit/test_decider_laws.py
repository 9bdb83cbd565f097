"""The decider law checker passes lawful deciders and catches planted broken ones."""

import itertools

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from returns.result import Failure, Result, Success

from cim.decider import Decider, Rejection
from cim.examples import bank
from laws import HistoryCase, LawViolation, check_decider_laws
from tests.unit._bank_strategies import bank_commands

FAST = settings(max_examples=60, database=None, deadline=None)
NEEDLE = settings(FAST, max_examples=100, derandomize=True)  # reproducible hunt for rare histories
Account = Decider[bank.BankCommand, bank.BankEvent, bank.Account]
Decision = Result[tuple[bank.BankEvent, ...], Rejection]


def test_bank_account_keeps_the_laws() -> None:
    """The shipped bank decider satisfies every decider law."""
    check_decider_laws(bank.account, bank_commands(), settings=FAST)


# ---------------------------------------------------------------- planted: decide reads a global
_decisions = itertools.count()


def _load_shedding_decide(command: bank.BankCommand, state: bank.Account) -> Decision:
    """Refuses every other command, by a global count of decisions made."""
    if next(_decisions) % 2:
        return Failure(Rejection("too busy, try again", "busy"))
    return bank.decide(command, state)


def test_determinism_catches_decide_reading_a_global() -> None:
    """decide reading a global counter fails determinism on the smallest history there is."""
    shedding: Account = Decider(bank.Account(), _load_shedding_decide, bank.evolve, bank.is_closed)
    with pytest.raises(LawViolation) as caught:
        check_decider_laws(shedding, bank_commands(), settings=FAST)
    violation = caught.value
    assert violation.law == "decide determinism"
    case = violation.counterexample
    assert isinstance(case, HistoryCase)
    assert (case.history, case.other) == ([], [])  # shrunk: one probe in the initial state
    assert "busy" in violation.detail


# ---------------------------------------------------------------- planted: a cache outside the state
_last_evolved = [bank.Account()]


def _caching_evolve(state: bank.Account, event: bank.BankEvent) -> bank.Account:
    _last_evolved[0] = bank.evolve(state, event)
    return _last_evolved[0]


def _cached_decide(command: bank.BankCommand, state: bank.Account) -> Decision:
    """Decides against the last state evolve produced, not the state it is given."""
    return bank.decide(command, _last_evolved[0])


def test_determinism_catches_a_failure_that_does_not_repeat() -> None:
    """A decide reading a cache evolve fills fails, then passes on re-run: still a violation."""
    _last_evolved[0] = bank.Account()
    commands: st.SearchStrategy[bank.BankCommand] = st.sampled_from(
        [bank.OpenAccount("acc-1", "Ada"), bank.Deposit(3), bank.Withdraw(2)]
    )
    cached: Account = Decider(bank.Account(), _cached_decide, _caching_evolve, bank.is_closed)
    with pytest.raises(LawViolation) as caught:
        check_decider_laws(cached, commands, settings=NEEDLE)
    assert caught.value.law == "decide determinism"
    assert isinstance(caught.value.counterexample, HistoryCase)


# ---------------------------------------------------------------- planted: evolve with hidden state
_evolutions = itertools.count()


def _stamping_evolve(state: bank.Account, event: bank.BankEvent) -> bank.Account:
    """Writes a global sequence number into the owner field."""
    evolved = bank.evolve(state, event)
    return bank.Account(evolved.status, evolved.account_id, f"#{next(_evolutions)}")


def test_state_of_law_catches_an_evolve_with_hidden_state() -> None:
    """state_of must give the state the history reached; a stamping evolve does not."""
    stamping: Account = Decider(bank.Account(), bank.decide, _stamping_evolve, bank.is_closed)
    with pytest.raises(LawViolation) as caught:
        check_decider_laws(stamping, bank_commands(), settings=FAST)
    assert caught.value.law == "state_of is the fold of evolve"
    case = caught.value.counterexample
    assert isinstance(case, HistoryCase)
    assert case.history == [bank.OpenAccount("acc-1", "Ada")]


# ---------------------------------------------------------------- planted: a terminal state that decides
def _decide_even_when_closed(command: bank.BankCommand, state: bank.Account) -> Decision:
    if state.status is bank.Status.CLOSED and isinstance(command, bank.Deposit):
        return Success((bank.Deposited(state.account_id, command.amount),))
    return bank.decide(command, state)


def test_terminal_law_catches_a_closed_account_taking_deposits() -> None:
    """A terminal state that accepts a command breaks the terminal law."""
    zombie: Account = Decider(bank.Account(), _decide_even_when_closed, bank.evolve, bank.is_closed)
    with pytest.raises(LawViolation) as caught:
        check_decider_laws(zombie, bank_commands(), settings=NEEDLE)
    assert caught.value.law == "terminal states accept no command"
    assert "accepted Deposit(" in caught.value.detail
    case = caught.value.counterexample
    assert isinstance(case, HistoryCase)
    assert {bank.OpenAccount("acc-1", "Ada"), bank.CloseAccount()} <= set(case.history)
    assert len(case.history) <= 3  # shrunk: open, close (and perhaps the deposit itself)


# ---------------------------------------------------------------- planted: evolve fails on a reachable state
def _strict_evolve(state: bank.Account, event: bank.BankEvent) -> bank.Account:
    evolved = bank.evolve(state, event)
    if evolved.balance < 0:
        raise ValueError(f"negative balance {evolved.balance}")
    return evolved


def test_history_law_catches_evolve_failing_on_a_reachable_state() -> None:
    """An overdraft the decider allows must not make evolve raise; the history shows how."""
    strict: Account = Decider(bank.Account(), bank.decide, _strict_evolve, bank.is_closed)
    with pytest.raises(LawViolation) as caught:
        check_decider_laws(strict, bank_commands(), settings=NEEDLE)
    violation = caught.value  # found by whichever law first replays such a history
    assert "evolve(" in violation.detail
    assert "raised ValueError: negative balance -1" in violation.detail
    case = violation.counterexample
    assert isinstance(case, HistoryCase)
    shortest = [bank.OpenAccount("acc-1", "Ada"), bank.SetLimit(1), bank.Withdraw(1)]
    assert shortest in (case.history, case.other)
