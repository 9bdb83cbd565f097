"""A typed user of cim.frp: mypy --strict checks this file (tests/ is in mypy's file list).

Every annotation below is what a user would write; if the library's types were wrong (too loose
or too strict), mypy would reject this file. The runtime assertions check the same values.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from attrs import frozen
from mypy import api as mypy_api
from returns.result import Result

from cim.frp import (
    Accumulator,
    Behavior,
    DiscreteEvent,
    OutOfOrder,
    Signal,
    apply,
    lift2,
)


@frozen
class Sale:
    """A user's payload."""

    sku: str
    amount: Decimal


def doubled(signal: Signal[int]) -> Signal[int]:
    """Code written once against the Signal functor."""
    return signal.map(lambda n: n * 2)


def test_signal_protocol_accepts_both_kinds() -> None:
    """Behaviours and discrete events are both Signal[int] to the type checker."""
    behavior: Signal[int] = doubled(Behavior.constant(21))
    event: Signal[int] = doubled(DiscreteEvent.from_pairs([(1, 4)]))
    assert isinstance(behavior, Behavior)
    assert behavior.at(0) == 42
    assert isinstance(event, DiscreteEvent)
    assert event.occurrences == ((1, 8),)


def test_value_types_flow_through_combinators() -> None:
    """Types flow through map, filter, scan, hold, lift2, apply and snapshot."""
    sales: DiscreteEvent[Sale] = DiscreteEvent.from_pairs(
        [(1, Sale("a", Decimal("2.50"))), (3, Sale("b", Decimal("4")))]
    )
    amounts: DiscreteEvent[Decimal] = sales.map(lambda s: s.amount)
    big: DiscreteEvent[Decimal] = amounts.filter(lambda a: a > 3)
    running: DiscreteEvent[Decimal] = amounts.scan(Decimal(0), lambda t, a: t + a)
    revenue: Behavior[Decimal] = amounts.accum(Decimal(0), lambda t, a: t + a)
    last_sku: Behavior[str] = sales.map(lambda s: s.sku).hold("")
    label: Behavior[str] = lift2(lambda sku, r: f"{sku}:{r}", last_sku, revenue)
    scaled: Behavior[Decimal] = apply(Behavior.constant(lambda r: r * 2), revenue)
    tagged: DiscreteEvent[tuple[str, Decimal]] = sales.snapshot(revenue, lambda s, r: (s.sku, r))
    total: Decimal = amounts.fold(Decimal(0), lambda t, a: t + a)
    assert big.occurrences == ((3, Decimal(4)),)
    assert running.occurrences[-1] == (3, Decimal("6.50"))
    assert (label.at(4), scaled.at(2), total) == ("b:6.50", Decimal("5.00"), Decimal("6.50"))
    assert tagged.occurrences == ((1, ("a", Decimal(0))), (3, ("b", Decimal("2.50"))))


def test_covariant_behaviours_and_switch() -> None:
    """A Behavior[bool] is a Behavior[int]; switch flattens a behaviour of behaviours."""
    flag: Behavior[bool] = Behavior.constant(True)
    widened: Behavior[int] = flag
    nested: Behavior[Behavior[int]] = Behavior.constant(widened)
    flat: Behavior[int] = nested.switch()
    assert flat.at(0) == 1


def test_accumulator_types() -> None:
    """push returns a Result the user handles; value and at are typed by the step."""
    acc: Accumulator[Decimal, Sale] = Accumulator.start(Decimal(0), lambda t, s: t + s.amount)
    pushed: Result[Accumulator[Decimal, Sale], OutOfOrder] = acc.push(1, Sale("a", Decimal(1)))
    current: Decimal = pushed.unwrap().at(2)
    assert current == Decimal(1)


MISTYPED = """\
from cim.frp import Behavior, DiscreteEvent
e: DiscreteEvent[str] = DiscreteEvent.from_pairs([(1, "a")])
n: DiscreteEvent[int] = e.map(lambda s: s.upper())
b: Behavior[int] = Behavior.constant("x")
e.merge(DiscreteEvent.from_pairs([(1, 2)]))
"""


def test_mypy_rejects_mistyped_signal_code(tmp_path: Path) -> None:
    """mypy --strict flags wrong value types in map, constant and merge (the types are real)."""
    source = tmp_path / "mistyped.py"
    source.write_text(MISTYPED)
    report, _, status = mypy_api.run(["--strict", "--cache-dir", "/dev/null", str(source)])
    flagged = {int(line.split(":")[1]) for line in report.splitlines() if ": error:" in line}
    assert status == 1
    assert flagged == {3, 4, 5}
