"""The bank example exactly: the state each event leaves, the effects it describes, and what refusals say."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyrsistent import pmap
from returns.result import Failure

from cim.decider import Rejection, state_of
from cim.effects import DatabaseDelete, DatabaseUpdate, DatabaseWrite, Log
from cim.examples import bank
from cim.projection import fold

_CHANGES = st.lists(
    st.one_of(
        st.builds(bank.Deposited, st.just("acc-1"), st.integers(1, 1_000)),
        st.builds(bank.Withdrawn, st.just("acc-1"), st.integers(1, 1_000)),
        st.builds(bank.LimitSet, st.just("acc-1"), st.integers(0, 1_000)),
    )
)


@given(_CHANGES)
def test_an_open_account_holds_its_owner_the_sum_of_its_movements_and_its_last_limit(
    changes: list[bank.Deposited | bank.Withdrawn | bank.LimitSet],
) -> None:
    """After opening, the state is exactly: open, same id and owner, deposits minus withdrawals, last limit."""
    history = [bank.AccountOpened("acc-1", "Ada"), *changes]
    balance = sum(e.amount for e in changes if isinstance(e, bank.Deposited)) - sum(
        e.amount for e in changes if isinstance(e, bank.Withdrawn)
    )
    limits = [e.limit for e in changes if isinstance(e, bank.LimitSet)]
    expected = bank.Account(bank.Status.OPEN, "acc-1", "Ada", balance, limits[-1] if limits else 0)
    assert state_of(bank.account, history) == expected
    closed = state_of(bank.account, [*history, bank.AccountClosed("acc-1")])
    assert closed == bank.Account(bank.Status.CLOSED, "acc-1", "Ada", balance, expected.limit)


def test_the_balances_projection_describes_each_write_exactly() -> None:
    """Open, movements to zero and below, a limit and the close give exactly these effects."""
    history: list[bank.BankEvent] = [
        bank.AccountOpened("acc-1", "Ada"),
        bank.Deposited("acc-1", 30),
        bank.Withdrawn("acc-1", 30),  # down to exactly 0: not overdrawn
        bank.Withdrawn("acc-1", 10),  # from 0 to -10: overdrawn
        bank.Deposited("acc-1", 5),  # still below 0: no new warning
        bank.LimitSet("acc-1", 50),
    ]
    folded = fold(bank.balances, history)
    assert folded.state == pmap({"acc-1": -5})
    assert list(folded.effects) == [
        DatabaseWrite("accounts", "acc-1", {"owner": "Ada", "balance": 0, "limit": 0}),
        DatabaseUpdate("accounts", "acc-1", {"balance": 30}),
        DatabaseUpdate("accounts", "acc-1", {"balance": 0}),
        DatabaseUpdate("accounts", "acc-1", {"balance": -10}),
        Log("warning", "account overdrawn", {"account": "acc-1", "balance": -10}),
        DatabaseUpdate("accounts", "acc-1", {"balance": -5}),
        DatabaseUpdate("accounts", "acc-1", {"limit": 50}),
    ]
    closed = fold(bank.balances, [bank.AccountClosed("acc-1")], folded.state)
    assert closed.state == pmap()
    assert list(closed.effects) == [DatabaseDelete("accounts", "acc-1")]


def test_a_movement_on_an_account_the_projection_has_not_seen_counts_from_zero() -> None:
    """A deposit or withdrawal without an opening before it starts from a balance of 0."""
    assert fold(bank.balances, [bank.Deposited("acc-9", 7)]).state == pmap({"acc-9": 7})
    assert fold(bank.balances, [bank.Withdrawn("acc-9", 7)]).state == pmap({"acc-9": -7})


def test_what_is_not_a_bank_event_or_command_is_a_type_error_naming_it() -> None:
    """evolve, balance_step and decide refuse a foreign value with a TypeError that shows it."""
    with pytest.raises(TypeError, match=r"^not a bank event: 'x'$"):
        bank.evolve(bank.Account(), "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^not a bank event: 'x'$"):
        bank.balance_step(pmap(), "x")  # type: ignore[arg-type]
    open_account = bank.Account(bank.Status.OPEN, "acc-1", "Ada")
    with pytest.raises(TypeError, match=r"^not a bank command: 'x'$"):
        bank.decide("x", open_account)  # type: ignore[arg-type]


def _rejection(command: bank.BankCommand, state: bank.Account) -> Rejection:
    decided = bank.decide(command, state)
    assert isinstance(decided, Failure)
    rejection: Rejection = decided.failure()
    return rejection


def test_each_refusal_says_why_and_carries_its_details() -> None:
    """Closed, already open, nameless and non-zero-balance refusals: code, reason and details."""
    closed = bank.Account(bank.Status.CLOSED, "acc-1", "Ada")
    assert _rejection(bank.Deposit(1), closed) == Rejection(
        "account acc-1 is closed", "account_closed"
    )
    opened = bank.Account(bank.Status.OPEN, "acc-1", "Ada", balance=30)
    assert _rejection(bank.OpenAccount("acc-1", "Ada"), opened) == Rejection(
        "account acc-1 is already open", "already_open"
    )
    assert _rejection(bank.OpenAccount("acc-1", " "), bank.Account()) == Rejection(
        "an account needs an id and an owner", "invalid_account"
    )
    assert _rejection(bank.CloseAccount(), opened) == Rejection(
        "account acc-1 still holds 30", "balance_not_zero", {"balance": "30"}
    )
