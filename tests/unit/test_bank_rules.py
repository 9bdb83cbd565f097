"""The bank example's rules at their boundaries, and what each refusal says."""

from __future__ import annotations

from returns.result import Failure, Success

from cim.examples import bank

OPEN = bank.Account(bank.Status.OPEN, "acc-1", "Ada", balance=10, limit=5)


def _refusal(command: bank.BankCommand, state: bank.Account = OPEN) -> str:
    decided = bank.decide(command, state)
    assert isinstance(decided, Failure)
    return str(decided.failure())


def test_the_smallest_amount_is_one_cent() -> None:
    """1 cent can be paid in and out; 0 is refused, naming the amount."""
    assert bank.decide(bank.Deposit(1), OPEN) == Success((bank.Deposited("acc-1", 1),))
    assert bank.decide(bank.Withdraw(1), OPEN) == Success((bank.Withdrawn("acc-1", 1),))
    assert _refusal(bank.Deposit(0)) == "invalid_amount: amount must be positive, got 0"


def test_an_overdraft_refusal_shows_the_balance_it_would_leave() -> None:
    """Withdrawing past the limit names the amount, the balance left and the limit."""
    assert _refusal(bank.Withdraw(16)) == (
        "insufficient_funds: withdrawing 16 from acc-1 would leave -6, "
        "beyond the overdraft limit of 5"
    )
    assert bank.decide(bank.Withdraw(15), OPEN) == Success((bank.Withdrawn("acc-1", 15),))


def test_the_limit_can_be_set_to_zero_but_not_below() -> None:
    """A limit of 0 is a limit; a negative one is refused, naming it."""
    assert bank.decide(bank.SetLimit(0), OPEN) == Success((bank.LimitSet("acc-1", 0),))
    assert bank.decide(
        bank.SetLimit(0), bank.Account(bank.Status.OPEN, "acc-1", "Ada", limit=0)
    ) == Success(())
    assert _refusal(bank.SetLimit(-1)) == "invalid_limit: the overdraft limit must be >= 0, got -1"


def test_a_limit_must_cover_the_overdraft_already_taken() -> None:
    """At a balance of -3 a limit of 3 is fine; 2 is refused with the balance and the limit."""
    overdrawn = bank.Account(bank.Status.OPEN, "acc-1", "Ada", balance=-3, limit=5)
    assert bank.decide(bank.SetLimit(3), overdrawn) == Success((bank.LimitSet("acc-1", 3),))
    decided = bank.decide(bank.SetLimit(2), overdrawn)
    assert isinstance(decided, Failure)
    refusal = decided.failure()
    assert str(refusal) == "limit_below_overdraft: the balance -3 is already below -2"
    assert dict(refusal.details) == {"balance": "-3", "limit": "2"}
