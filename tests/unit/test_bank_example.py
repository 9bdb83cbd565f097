"""The bank example: its rules, its read model, and its events on the wire."""

import pytest
from hypothesis import settings
from returns.result import Failure, Success

from cim import JsonCodec
from cim.decider import run, state_of
from cim.examples import bank
from cim.projection import fold
from laws import check_codec_roundtrip, check_decider_laws, check_projection_laws
from laws.strategies import envelopes
from tests.unit._bank_strategies import bank_commands, bank_events

FAST = settings(max_examples=60, database=None, deadline=None)
OPEN: list[bank.BankEvent] = [bank.AccountOpened("acc-1", "Ada")]
FUNDED: list[bank.BankEvent] = [*OPEN, bank.Deposited("acc-1", 100)]
OVERDRAWN: list[bank.BankEvent] = [*OPEN, bank.LimitSet("acc-1", 50), bank.Withdrawn("acc-1", 20)]
CLOSED: list[bank.BankEvent] = [*OPEN, bank.AccountClosed("acc-1")]


@pytest.mark.parametrize(
    ("history", "command", "events"),
    [
        ([], bank.OpenAccount("acc-1", "Ada"), (bank.AccountOpened("acc-1", "Ada"),)),
        (OPEN, bank.Deposit(5), (bank.Deposited("acc-1", 5),)),
        (FUNDED, bank.Withdraw(100), (bank.Withdrawn("acc-1", 100),)),
        (OPEN, bank.SetLimit(50), (bank.LimitSet("acc-1", 50),)),
        (OVERDRAWN, bank.SetLimit(50), ()),
        (OVERDRAWN, bank.Withdraw(30), (bank.Withdrawn("acc-1", 30),)),
        (OPEN, bank.CloseAccount(), (bank.AccountClosed("acc-1"),)),
    ],
)
def test_accepted_commands(
    history: list[bank.BankEvent], command: bank.BankCommand, events: tuple[bank.BankEvent, ...]
) -> None:
    """Valid commands produce exactly the expected events (setting the same limit: none)."""
    assert run(bank.account, command, history) == Success(events)


@pytest.mark.parametrize(
    ("history", "command", "code"),
    [
        ([], bank.Deposit(5), "not_open"),
        ([], bank.OpenAccount("acc-1", "  "), "invalid_account"),
        (OPEN, bank.OpenAccount("acc-1", "Ada"), "already_open"),
        (OPEN, bank.Deposit(0), "invalid_amount"),
        (OPEN, bank.Withdraw(-3), "invalid_amount"),
        (FUNDED, bank.Withdraw(101), "insufficient_funds"),
        (OVERDRAWN, bank.Withdraw(31), "insufficient_funds"),
        (OPEN, bank.SetLimit(-1), "invalid_limit"),
        (OVERDRAWN, bank.SetLimit(10), "limit_below_overdraft"),
        (FUNDED, bank.CloseAccount(), "balance_not_zero"),
        (CLOSED, bank.Deposit(5), "account_closed"),
        (CLOSED, bank.OpenAccount("acc-1", "Ada"), "account_closed"),
    ],
)
def test_rejected_commands(
    history: list[bank.BankEvent], command: bank.BankCommand, code: str
) -> None:
    """Each business rule refuses with its own code."""
    result = run(bank.account, command, history)
    assert isinstance(result, Failure)
    assert result.failure().code == code


def test_a_closed_account_is_terminal() -> None:
    """Closing makes the state terminal; an open account is not."""
    assert bank.account.is_terminal(state_of(bank.account, CLOSED))
    assert not bank.account.is_terminal(state_of(bank.account, FUNDED))


def test_bank_decider_and_projection_keep_the_laws() -> None:
    """The example domain satisfies the decider and projection laws."""
    check_decider_laws(bank.account, bank_commands(), settings=FAST)
    check_projection_laws(bank.balances, bank_events(), settings=FAST)


def test_balances_projection_tracks_open_accounts() -> None:
    """The projection's state is the balance of each open account; closing removes it."""
    events: list[bank.BankEvent] = [*OVERDRAWN, bank.AccountOpened("acc-2", "Bo")]
    assert dict(fold(bank.balances, events).state) == {"acc-1": -20, "acc-2": 0}
    assert dict(fold(bank.balances, [*CLOSED]).state) == {}


def test_bank_events_survive_the_json_codec() -> None:
    """Every bank event round-trips through JsonCodec with the bank_types registry."""
    check_codec_roundtrip(
        JsonCodec(bank.bank_types),
        envelopes(bank_events(), types=bank.bank_types),
        settings=FAST,
    )
    assert {entry.name for entry in bank.bank_types} == {
        "AccountOpened",
        "Deposited",
        "Withdrawn",
        "LimitSet",
        "AccountClosed",
    }
