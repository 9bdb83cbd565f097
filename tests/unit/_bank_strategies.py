"""Hypothesis strategies for the bank example (``cim.examples.bank``): its events and commands.

They fit only that example, so they live with its tests, not in ``laws.strategies``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from cim.examples import bank


def account_ids() -> st.SearchStrategy[str]:
    """A few account ids, so that drawn events often meet on the same account."""
    return st.sampled_from(("acc-1", "acc-2", "acc-3"))


def bank_events(
    accounts: st.SearchStrategy[str] | None = None,
) -> st.SearchStrategy[bank.BankEvent]:
    """Single bank events in any order (a projection must take whatever the store holds)."""
    ids = account_ids() if accounts is None else accounts
    cents = st.integers(1, 10_000)
    return st.one_of(
        st.builds(bank.AccountOpened, ids, st.sampled_from(("Ada", "Grace"))),
        st.builds(bank.Deposited, ids, cents),
        st.builds(bank.Withdrawn, ids, cents),
        st.builds(bank.LimitSet, ids, st.integers(0, 10_000)),
        st.builds(bank.AccountClosed, ids),
    )


def bank_commands() -> st.SearchStrategy[bank.BankCommand]:
    """Commands to one bank account, invalid ones included (zero or negative amounts, no owner)."""
    cents = st.integers(-5, 1_000)
    return st.one_of(
        st.builds(bank.OpenAccount, account_ids(), st.sampled_from(("Ada", "Grace", " "))),
        st.builds(bank.Deposit, cents),
        st.builds(bank.Withdraw, cents),
        st.builds(bank.SetLimit, cents),
        st.just(bank.CloseAccount()),
    )
