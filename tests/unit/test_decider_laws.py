"""The decider law checker passes lawful deciders and catches planted broken ones."""

import itertools
import re
from collections.abc import Callable

import pytest
from attrs import define
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy
from returns.result import Failure, Result, Success

import laws._decider_laws as decider_laws
from cim.decider import Decider, Rejection
from cim.examples import bank
from laws import HistoryCase, LawViolation, check_decider_laws
from tests.unit._bank_strategies import bank_commands
from tests.unit._drawn import longest_drawn

FAST = settings(max_examples=60, database=None, deadline=None)
NEEDLE = settings(FAST, max_examples=100, derandomize=True)  # reproducible hunt for rare histories
Account = Decider[bank.BankCommand, bank.BankEvent, bank.Account]
Decision = Result[tuple[bank.BankEvent, ...], Rejection]


def test_bank_account_keeps_the_laws() -> None:
    """The shipped bank decider satisfies every decider law."""
    check_decider_laws(bank.account, bank_commands(), settings=FAST)


def test_a_decider_whose_state_may_be_none_keeps_the_laws() -> None:
    """The fold law resumes from a None state as from any other (a lawful optional state)."""
    optional: Decider[str, str, int | None] = Decider(
        initial=5,
        decide=lambda command, state: Success((command,)),
        evolve=lambda state, event: None if event == "reset" else (state or 0) + 1,
    )
    check_decider_laws(optional, st.sampled_from(["reset", "add"]), settings=FAST)


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


# ---------------------------------------------------------------- planted: evolve uses up its events
@define
class Ticket:
    """An event evolve can apply only ``left`` more times."""

    left: int


def _ticket_decider(uses: int, per_command: int) -> Decider[int, Ticket, int]:
    """Accepts one command (giving *per_command* tickets of *uses* uses), then is terminal."""

    def decide(command: int, state: int) -> Result[tuple[Ticket, ...], Rejection]:
        if state:
            return Failure(Rejection("done", "done"))
        return Success(tuple(Ticket(uses) for _ in range(per_command)))

    def evolve(state: int, ticket: Ticket) -> int:
        if not ticket.left:
            raise ValueError("ticket used up")
        ticket.left -= 1
        return state + 1

    return Decider(0, decide, evolve, lambda state: state > 0)


USED_UP = r" raised ValueError: ticket used up"
FOLD = "state_of is the fold of evolve"


@pytest.mark.parametrize(
    ("uses", "per_command", "law", "detail"),
    [
        # replay applies each event once
        (0, 1, "decider history replay", r"evolve\(0, Ticket\(left=0\)\)" + USED_UP),
        # then state_of of all the events applies them again
        (1, 1, FOLD, r"state_of\(Decider\(.*\), \(Ticket\(left=0\),\)\)" + USED_UP),
        # then the first half (one of two events), from the initial state
        (2, 2, FOLD, r"state_of\(Decider\(.*\), \(Ticket\(left=0\),\)\)" + USED_UP),
        # then the second half (the only event: the first half is empty), from the state reached
        (2, 1, FOLD, r"state_of\(Decider\(.*\), \(Ticket\(left=0\),\), 0\)" + USED_UP),
    ],
)
def test_an_evolve_using_up_its_events_is_caught_at_the_call_that_raised(
    uses: int, per_command: int, law: str, detail: str
) -> None:
    """Events applied again (by replay, then state_of whole and in halves) name that very call."""
    with pytest.raises(LawViolation) as caught:
        check_decider_laws(_ticket_decider(uses, per_command), st.integers(1, 3), max_examples=20)
    assert caught.value.law == law
    assert re.fullmatch(detail, caught.value.detail)


# ---------------------------------------------------------------- planted: decide raising when closed
def _decide_raising_when_closed(command: int, state: int) -> Result[tuple[int, ...], Rejection]:
    raise ValueError("closed")


def test_a_decide_raising_in_a_terminal_state_is_caught_as_decide() -> None:
    """Replay never decides in a terminal state, the laws do: the violation names decide."""
    closed: Decider[int, int, int] = Decider(
        0, _decide_raising_when_closed, lambda n, e: n + e, lambda n: True
    )
    with pytest.raises(LawViolation) as caught:
        check_decider_laws(closed, st.integers(1, 3), max_examples=20)
    assert caught.value.law == "decide determinism"
    assert re.fullmatch(r"decide\([123], 0\) raised ValueError: closed", caught.value.detail)


# ---------------------------------------------------------------- the laws, one case at a time
Law = Callable[[HistoryCase[int]], str | None]


def _laws_of(decider: Decider[int, int, int], monkeypatch: pytest.MonkeyPatch) -> dict[str, Law]:
    """The laws check_decider_laws would check for *decider*, by name, without running them."""
    laws: dict[str, Law] = {}

    def collect(law: str, cases: object, holds: Law, chosen: object) -> None:
        laws[law] = holds

    monkeypatch.setattr(decider_laws, "check_law", collect)
    check_decider_laws(decider, st.integers())
    return laws


def _raises_when_ended(state: int) -> bool:
    if state == 1:
        raise ValueError("boom")
    return False


def test_terminal_law_asks_is_terminal_about_the_state_a_history_ends_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Replay never asks is_terminal about the last state; the terminal law does, and names it."""
    adder: Decider[int, int, int] = Decider(
        0, lambda command, n: Success((command,)), lambda n, e: n + e, _raises_when_ended
    )
    laws = _laws_of(adder, monkeypatch)
    assert list(laws) == [
        "decider history replay",
        "decide determinism",
        FOLD,
        "terminal states accept no command",
    ]
    ends_in_one = HistoryCase(history=[1], probe=1, other=[])
    assert laws["decider history replay"](ends_in_one) is None
    assert laws["terminal states accept no command"](ends_in_one) == (
        "is_terminal(1) raised ValueError: boom"
    )


# ---------------------------------------------------------------- the drawn cases' sizes
def test_drawn_cases_have_the_documented_sizes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every law draws HistoryCases of at most 15 `history` and 6 `other` commands."""
    drawn: list[SearchStrategy[HistoryCase[int]]] = []
    monkeypatch.setattr(
        decider_laws, "check_law", lambda law, cases, holds, chosen: drawn.append(cases)
    )
    adder: Decider[int, int, int] = Decider(0, lambda c, n: Success((c,)), lambda n, e: n + e)
    check_decider_laws(adder, st.integers())
    assert len(drawn) == 4
    assert longest_drawn(drawn[0], "history", "other") == {"history": 15, "other": 6}
