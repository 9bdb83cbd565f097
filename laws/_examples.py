"""Example payload records the strategies use when the caller brings none."""

from __future__ import annotations

from decimal import Decimal

from attrs import frozen
from pyrsistent import PMap


@frozen
class Inner:
    """A nested record."""

    label: str
    values: tuple[int, ...]


@frozen
class Note:
    """A payload exercising what JSON makes hard: unicode, big ints, decimals, nesting, maps."""

    text: str
    count: int
    ratio: float
    amount: Decimal
    tags: tuple[str, ...]
    scores: PMap[str, int]
    inner: Inner | None
    flag: bool
