"""A bank account: the example domain for deciders and projections.

Amounts are integer cents. An account is opened, takes deposits and withdrawals, may be given an
overdraft limit, and can be closed once its balance is zero; a closed account accepts no command.

>>> from cim.decider import run, state_of
>>> history = [AccountOpened("acc-1", "Ada"), Deposited("acc-1", 500)]
>>> state_of(account, history).balance
500
>>> run(account, Withdraw(200), history)
<Success: (Withdrawn(account_id='acc-1', amount=200),)>
>>> run(account, Withdraw(700), history)
<Failure: insufficient_funds: withdrawing 700 from acc-1 would leave -200, beyond the overdraft limit of 0>

The :data:`balances` projection keeps the ``accounts`` read model up to date:

>>> from cim.projection import fold
>>> effects = fold(balances, history).effects
>>> [(type(effect).__name__, effect.key) for effect in effects]
[('DatabaseWrite', 'acc-1'), ('DatabaseUpdate', 'acc-1')]
>>> effects[1].changes["balance"]
500
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import attrs
from attrs import frozen
from pyrsistent import PMap, pmap
from returns.result import Failure, Result, Success

from cim._registry import EventTypes
from cim.decider import Decider, Rejection
from cim.effects import DatabaseDelete, DatabaseUpdate, DatabaseWrite, Effect, Log
from cim.projection import Projection

# ------------------------------------------------------------------ events


@frozen
class AccountOpened:
    """The account ``account_id`` was opened for ``owner``."""

    account_id: str
    owner: str


@frozen
class Deposited:
    """``amount`` cents were paid in."""

    account_id: str
    amount: int


@frozen
class Withdrawn:
    """``amount`` cents were paid out."""

    account_id: str
    amount: int


@frozen
class LimitSet:
    """The overdraft limit is now ``limit`` cents (the balance may go down to ``-limit``)."""

    account_id: str
    limit: int


@frozen
class AccountClosed:
    """The account was closed; it accepts no further command."""

    account_id: str


BankEvent = AccountOpened | Deposited | Withdrawn | LimitSet | AccountClosed

bank_types = (
    EventTypes()
    .register(AccountOpened)
    .register(Deposited)
    .register(Withdrawn)
    .register(LimitSet)
    .register(AccountClosed)
)
"""The registry of every bank event, for ``JsonCodec`` and the stores."""

# ------------------------------------------------------------------ commands


@frozen
class OpenAccount:
    """Open the account ``account_id`` for ``owner``."""

    account_id: str
    owner: str


@frozen
class Deposit:
    """Pay in ``amount`` cents (must be positive)."""

    amount: int


@frozen
class Withdraw:
    """Pay out ``amount`` cents (must be positive and stay within the overdraft limit)."""

    amount: int


@frozen
class SetLimit:
    """Allow the balance to go down to ``-limit`` (the current balance must stay within it)."""

    limit: int


@frozen
class CloseAccount:
    """Close the account (its balance must be zero)."""


BankCommand = OpenAccount | Deposit | Withdraw | SetLimit | CloseAccount

# ------------------------------------------------------------------ decider


class Status(StrEnum):
    """Where an account is in its life."""

    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


@frozen
class Account:
    """The decision state of one account."""

    status: Status = Status.NEW
    account_id: str = ""
    owner: str = ""
    balance: int = 0
    limit: int = 0


def _reject(code: str, reason: str, **details: object) -> Failure[Rejection]:
    return Failure(Rejection(reason, code, {k: str(v) for k, v in details.items()}))


def decide(command: BankCommand, state: Account) -> Result[tuple[BankEvent, ...], Rejection]:
    """The events *command* causes on the account in *state*, or why it is refused."""
    if state.status is Status.CLOSED:
        return _reject("account_closed", f"account {state.account_id} is closed")
    if isinstance(command, OpenAccount):
        if state.status is Status.OPEN:
            return _reject("already_open", f"account {state.account_id} is already open")
        if not command.account_id or not command.owner.strip():
            return _reject("invalid_account", "an account needs an id and an owner")
        return Success((AccountOpened(command.account_id, command.owner),))
    if state.status is Status.NEW:
        return _reject("not_open", "the account has not been opened")
    return _decide_open(command, state)


def _decide_open(command: BankCommand, state: Account) -> Result[tuple[BankEvent, ...], Rejection]:
    account_id = state.account_id
    match command:
        case Deposit(amount) | Withdraw(amount) if amount <= 0:
            return _reject("invalid_amount", f"amount must be positive, got {amount}")
        case Deposit(amount):
            return Success((Deposited(account_id, amount),))
        case Withdraw(amount) if state.balance - amount < -state.limit:
            return _reject(
                "insufficient_funds",
                f"withdrawing {amount} from {account_id} would leave "
                f"{state.balance - amount}, beyond the overdraft limit of {state.limit}",
                balance=state.balance,
                limit=state.limit,
                amount=amount,
            )
        case Withdraw(amount):
            return Success((Withdrawn(account_id, amount),))
        case SetLimit(limit) if limit < 0:
            return _reject("invalid_limit", f"the overdraft limit must be >= 0, got {limit}")
        case SetLimit(limit) if state.balance < -limit:
            return _reject(
                "limit_below_overdraft",
                f"the balance {state.balance} is already below -{limit}",
                balance=state.balance,
                limit=limit,
            )
        case SetLimit(limit) if limit == state.limit:
            return Success(())
        case SetLimit(limit):
            return Success((LimitSet(account_id, limit),))
        case CloseAccount() if state.balance != 0:
            return _reject(
                "balance_not_zero",
                f"account {account_id} still holds {state.balance}",
                balance=state.balance,
            )
        case CloseAccount():
            return Success((AccountClosed(account_id),))
    raise TypeError(f"not a bank command: {command!r}")


def evolve(state: Account, event: BankEvent) -> Account:
    """The account after *event*."""
    match event:
        case AccountOpened(account_id, owner):
            return Account(Status.OPEN, account_id, owner)
        case Deposited(amount=amount):
            return Account(
                state.status, state.account_id, state.owner, state.balance + amount, state.limit
            )
        case Withdrawn(amount=amount):
            return Account(
                state.status, state.account_id, state.owner, state.balance - amount, state.limit
            )
        case LimitSet(limit=limit):
            return Account(state.status, state.account_id, state.owner, state.balance, limit)
        case AccountClosed():
            return attrs.evolve(state, status=Status.CLOSED)
    raise TypeError(f"not a bank event: {event!r}")


def is_closed(state: Account) -> bool:
    """A closed account is terminal."""
    return state.status is Status.CLOSED


account: Decider[BankCommand, BankEvent, Account] = Decider(Account(), decide, evolve, is_closed)
"""One bank account as a decider (use ``many(account)`` for a keyed family of them)."""

# ------------------------------------------------------------------ read model

ACCOUNTS = "accounts"
"""The read-model collection :data:`balances` writes: one row per open account."""


def balance_step(
    state: PMap[str, int], event: BankEvent
) -> tuple[PMap[str, int], Sequence[Effect]]:
    """Track each open account's balance and describe the read-model writes for *event*."""
    match event:
        case AccountOpened(account_id, owner):
            row = {"owner": owner, "balance": 0, "limit": 0}
            return state.set(account_id, 0), (DatabaseWrite(ACCOUNTS, account_id, row),)
        case Deposited(account_id, amount) | Withdrawn(account_id, amount):
            before = state.get(account_id, 0)
            after = before + amount if isinstance(event, Deposited) else before - amount
            effects: tuple[Effect, ...] = (
                DatabaseUpdate(ACCOUNTS, account_id, {"balance": after}),
            )
            if after < 0 <= before:
                fields = {"account": account_id, "balance": after}
                effects += (Log("warning", "account overdrawn", fields),)
            return state.set(account_id, after), effects
        case LimitSet(account_id, limit):
            return state, (DatabaseUpdate(ACCOUNTS, account_id, {"limit": limit}),)
        case AccountClosed(account_id):
            return state.discard(account_id), (DatabaseDelete(ACCOUNTS, account_id),)
    raise TypeError(f"not a bank event: {event!r}")


balances: Projection[PMap[str, int], BankEvent] = Projection("balances", pmap(), balance_step)
"""Balances of open accounts, kept in the ``accounts`` read model (owner, balance, limit)."""

__all__ = (
    "ACCOUNTS",
    "Account",
    "AccountClosed",
    "AccountOpened",
    "BankCommand",
    "BankEvent",
    "CloseAccount",
    "Deposit",
    "Deposited",
    "LimitSet",
    "OpenAccount",
    "SetLimit",
    "Status",
    "Withdraw",
    "Withdrawn",
    "account",
    "balance_step",
    "balances",
    "bank_types",
    "decide",
    "evolve",
    "is_closed",
)
