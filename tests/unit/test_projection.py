"""Projections fold events into state and effects; combinators build new projections."""

import itertools
from collections.abc import Iterator, Sequence

from hypothesis import settings
from hypothesis import strategies as st
from pyrsistent import PMap, pvector

from cim.effects import Effect, Log
from cim.examples import bank
from cim.projection import Folded, Projection, filter_events, fold, premap, product, scan
from laws import check_projection_laws
from tests.unit._bank_strategies import bank_events

FAST = settings(max_examples=40, database=None, deadline=None)


def _count_step(n: int, event: object) -> tuple[int, Sequence[Effect]]:
    return n + 1, (Log("debug", "counted", {"n": n + 1}),)


counter: Projection[int, object] = Projection("counter", 0, _count_step)


def test_fold_keeps_effects_in_order() -> None:
    """fold returns the final state and every step's effects, in event order."""
    result = fold(counter, ["a", "b", "c"])
    assert result.state == 3
    assert [e.fields["n"] for e in result.effects if isinstance(e, Log)] == [1, 2, 3]


def test_fold_resumes_from_a_given_state() -> None:
    """An explicit state replaces the initial one."""
    assert fold(counter, ["a"], 10).state == 11


def test_fold_streams_a_generator() -> None:
    """A generator is consumed one event at a time, never materialised."""
    consumed = 0

    def events() -> Iterator[int]:
        nonlocal consumed
        for i in range(100_000):
            consumed += 1
            yield i

    quiet: Projection[int, int] = Projection("sum", 0, lambda total, e: (total + e, ()))
    assert fold(quiet, events()) == Folded(sum(range(100_000)), pvector())
    assert consumed == 100_000


def test_scan_is_lazy_and_starts_with_the_start_state() -> None:
    """scan yields the start state, then one state per event, even from an endless stream."""
    assert list(itertools.islice(scan(counter, itertools.count(), 5), 4)) == [5, 6, 7, 8]
    assert list(scan(counter, [])) == [0]


def test_product_pairs_states_and_concatenates_effects_per_event() -> None:
    """product runs both sides on every event; each event's left effects precede its right ones."""
    tagger: Projection[str, object] = Projection(
        "tags", "", lambda s, e: (s + str(e), (Log("info", "tag", {"e": e}),))
    )
    both = product(counter, tagger)
    result = fold(both, ["x", "y"])
    assert both.name == "counter*tags"
    assert result.state == (2, "xy")
    assert [
        type(e).__name__ + str(dict(e.fields)) for e in result.effects if isinstance(e, Log)
    ] == [
        "Log{'n': 1}",
        "Log{'e': 'x'}",
        "Log{'n': 2}",
        "Log{'e': 'y'}",
    ]


def test_premap_transforms_events_before_the_step() -> None:
    """premap feeds transform(event) to the projection."""
    sums: Projection[int, int] = Projection("sum", 0, lambda total, e: (total + e, ()))
    lengths = premap(sums, len)
    assert fold(lengths, ["ab", "cde"]).state == 5
    assert lengths.name == "sum"


def test_filter_events_hides_events_without_effects() -> None:
    """Events filtered out leave the state unchanged and produce no effects."""
    only_even = filter_events(counter, lambda e: isinstance(e, int) and e % 2 == 0)
    result = fold(only_even, range(10))
    assert result.state == 5
    assert len(result.effects) == 5


def test_combinators_compare_by_value() -> None:
    """Combinators are records, so building the same combination twice gives equal projections."""
    assert product(counter, counter) == product(counter, counter)
    assert premap(counter, str) == premap(counter, str)


def test_combined_projections_keep_the_laws() -> None:
    """product, premap and filter_events of the bank projection satisfy the projection laws."""
    deposits_only = filter_events(bank.balances, lambda e: not isinstance(e, bank.Withdrawn))
    check_projection_laws(product(bank.balances, deposits_only), bank_events(), settings=FAST)
    envelopes: Projection[PMap[str, int], tuple[int, bank.BankEvent]] = premap(
        bank.balances, lambda pair: pair[1]
    )
    check_projection_laws(envelopes, st.tuples(st.integers(0, 9), bank_events()), settings=FAST)
