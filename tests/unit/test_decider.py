"""Deciders decide commands into events and evolve state; compose and many combine them."""

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from pyrsistent import PMap, pmap
from returns.result import Failure, Success

from cim.decider import Decider, Keyed, Left, Rejection, Right, compose, many, run, state_of
from cim.examples import bank
from laws import check_decider_laws
from tests.unit._bank_strategies import account_ids, bank_commands

FAST = settings(max_examples=40, database=None, deadline=None)
OPENED: list[bank.BankEvent] = [bank.AccountOpened("acc-1", "Ada")]
Sides = Left[bank.BankEvent] | Right[bank.BankEvent]
Family = Decider[Keyed[str, bank.BankCommand], Keyed[str, bank.BankEvent], PMap[str, bank.Account]]


def test_state_of_folds_evolve_from_initial_or_given_state() -> None:
    """state_of applies every event in order, from the initial state or the one given."""
    state = state_of(bank.account, [*OPENED, bank.Deposited("acc-1", 50)])
    assert state.balance == 50
    assert state_of(bank.account, [bank.Withdrawn("acc-1", 20)], state).balance == 30


def test_state_of_starts_from_a_given_none_state() -> None:
    """A state of None given to state_of is where the fold starts, not "use the initial state"."""
    optional: Decider[str, str, int | None] = Decider(
        initial=5,
        decide=lambda command, state: Success((command,)),
        evolve=lambda state, event: None if event == "reset" else (state or 0) + 1,
    )
    assert state_of(optional, ["add"], None) == 1
    assert state_of(optional, ["add"]) == 6
    assert state_of(optional, ["reset", "add"]) == state_of(optional, ["add"], None)


def test_run_decides_against_the_replayed_state() -> None:
    """run replays the events, then decides the command."""
    assert run(bank.account, bank.Deposit(5), OPENED) == Success((bank.Deposited("acc-1", 5),))


def test_rejections_are_values_with_reason_and_code() -> None:
    """A refused command is a Failure holding a Rejection, never an exception."""
    result = run(bank.account, bank.Withdraw(5), OPENED)
    assert isinstance(result, Failure)
    rejection = result.failure()
    assert rejection.code == "insufficient_funds"
    assert rejection.details == pmap({"balance": "0", "limit": "0", "amount": "5"})
    assert str(rejection).startswith("insufficient_funds: withdrawing 5")


def test_rejection_details_are_frozen() -> None:
    """Rejection details given as a dict are stored as a pmap."""
    assert Rejection("no", "nope", {"k": "v"}).details == pmap({"k": "v"})


def test_compose_routes_tagged_commands_and_events() -> None:
    """compose decides Left commands on the left state, Right ones on the right, tagging events."""
    pair = compose(bank.account, bank.account)
    opened: list[Sides] = [
        Left(bank.AccountOpened("l", "Ada")),
        Right(bank.AccountOpened("r", "Bo")),
    ]
    state = state_of(pair, opened)
    assert (state[0].account_id, state[1].account_id) == ("l", "r")
    assert pair.decide(Right(bank.Deposit(3)), state) == Success((Right(bank.Deposited("r", 3)),))
    refused = pair.decide(Left(bank.Withdraw(3)), state)
    assert isinstance(refused, Failure)
    assert refused.failure().code == "insufficient_funds"


def test_compose_is_terminal_only_when_both_sides_are() -> None:
    """A composed decider is terminal when both sides are terminal."""
    pair = compose(bank.account, bank.account)
    closing: list[Sides] = [Left(OPENED[0]), Left(bank.AccountClosed("acc-1"))]
    left_closed = state_of(pair, closing)
    assert not pair.is_terminal(left_closed)
    closing = [Right(OPENED[0]), Right(bank.AccountClosed("acc-1"))]
    both = state_of(pair, closing, left_closed)
    assert pair.is_terminal(both)


def test_untagged_input_is_a_programmer_error() -> None:
    """Passing an unwrapped command or event names the bad value in a TypeError."""
    pair = compose(bank.account, bank.account)
    with pytest.raises(TypeError, match=r"Left\(...\) or Right\(...\) command.*Deposit"):
        pair.decide(bank.Deposit(1), pair.initial)  # type: ignore[arg-type]
    family: Family = many(bank.account)
    with pytest.raises(TypeError, match=r"Keyed\(key, ...\) event"):
        family.evolve(family.initial, OPENED[0])  # type: ignore[arg-type]


def test_many_keeps_one_state_per_key() -> None:
    """many decides each Keyed command against its key's state, starting new keys from initial."""
    family: Family = many(bank.account)
    events: list[Keyed[str, bank.BankEvent]] = [
        Keyed("a", bank.AccountOpened("a", "Ada")),
        Keyed("a", bank.Deposited("a", 7)),
    ]
    states = state_of(family, events)
    assert states["a"].balance == 7
    assert "b" not in states
    assert family.decide(Keyed("b", bank.Deposit(1)), states) == Failure(
        Rejection("the account has not been opened", "not_open")
    )
    assert family.decide(Keyed("a", bank.Withdraw(7)), states) == Success(
        (Keyed("a", bank.Withdrawn("a", 7)),)
    )
    assert not family.is_terminal(states)


def test_compose_and_many_keep_the_laws() -> None:
    """Composed and keyed bank deciders satisfy the decider laws."""
    sides = st.one_of(bank_commands().map(Left), bank_commands().map(Right))
    check_decider_laws(compose(bank.account, bank.account), sides, settings=FAST)
    check_decider_laws(
        many(bank.account), st.builds(Keyed, account_ids(), bank_commands()), settings=FAST
    )
