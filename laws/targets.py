"""Law targets: a projection, decider, state machine, signal algebra or codec together with the
strategies that drive its laws, ready to be checked by ``cim check`` or in a test; and the two
evolution checks (an old and a new ``EventTypes``, an old and a new ``Fsm``).

A law checker needs inputs (events, commands, states...) that only you can describe, so ``cim
check MODULE:ATTR`` takes a :class:`LawTarget` (or a list of them, or a whole module's worth)
rather than a bare projection. Define them next to your domain code or in your tests::

    # myapp/laws.py
    from hypothesis import strategies as st
    from laws.targets import projection_target
    from myapp.orders import order_summaries, order_events   # your projection and a strategy

    ORDER_LAWS = projection_target(order_summaries, order_events())

then ``cim check myapp.laws:ORDER_LAWS`` (or ``cim check myapp.laws`` for every target in the
module) prints the verdict, and ``ORDER_LAWS.verify().passed`` is the same check in a test.

>>> from cim.projection import Projection
>>> from hypothesis import strategies as st
>>> counter = Projection("count", 0, lambda n, e: (n + e, ()))
>>> print(projection_target(counter, st.integers()).verify(max_examples=20))
PASS  projection 'count': every law holds
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from attrs import frozen
from hypothesis import settings as Settings
from hypothesis.strategies import SearchStrategy

from cim import EventTypes
from cim.decider import Decider
from cim.fsm import Fsm, Invariant, StateMachine
from cim.projection import Projection
from laws._codec_laws import check_codec_roundtrip
from laws._decider_laws import check_decider_laws
from laws._evolution_laws import check_schema_evolution
from laws._fsm_laws import check_fsm_evolution, check_fsm_laws
from laws._projection_laws import check_projection_laws
from laws._runner import DEFAULT_SETTINGS, LawViolation
from laws._signal_laws import SignalOperations, check_signal_laws

__all__ = (
    "LawTarget",
    "Verdict",
    "codec_target",
    "decider_target",
    "fsm_evolution_target",
    "fsm_target",
    "projection_target",
    "schema_evolution_target",
    "signal_target",
)


@frozen
class Verdict:
    """The outcome of checking one target: ``law`` is the first law that failed (``None``: all
    hold), with its ``detail`` and shrunk ``counterexample``."""

    target: str
    law: str | None = None
    detail: str = ""
    counterexample: str = ""

    @property
    def passed(self) -> bool:
        """Every law holds."""
        return self.law is None

    def __str__(self) -> str:
        if self.law is None:
            return f"PASS  {self.target}: every law holds"
        text = f"FAIL  {self.target}: law {self.law!r} violated: {self.detail}"
        if self.counterexample:
            text += f"\n      counterexample: {self.counterexample}"
        return text


@frozen
class LawTarget:
    """A ``label`` and a ``check`` that runs a law suite with the given Hypothesis settings
    (raising :class:`~laws.LawViolation`); build one with the ``*_target`` functions."""

    label: str
    check: Callable[[Settings], None]
    settings: Settings = DEFAULT_SETTINGS

    def verify(self, max_examples: int | None = None) -> Verdict:
        """Run the laws (with *max_examples* if given) and return the verdict; never raises for a
        failing law or for an exception inside the checked code."""
        chosen = self.settings
        if max_examples is not None:
            chosen = Settings(parent=chosen, max_examples=max_examples)
        try:
            self.check(chosen)
        except LawViolation as violation:
            return Verdict(
                self.label, violation.law, violation.detail, repr(violation.counterexample)
            )
        except Exception as exc:  # the user's code or strategy broke: that is a verdict too
            return Verdict(self.label, "runs without error", f"{type(exc).__name__}: {exc}")
        return Verdict(self.label)


def projection_target(
    projection: Projection[Any, Any],
    events: SearchStrategy[Any],
    *,
    label: str | None = None,
    settings: Settings = DEFAULT_SETTINGS,
) -> LawTarget:
    """The projection laws (:func:`~laws.check_projection_laws`) over lists of drawn *events*."""

    def check(chosen: Settings) -> None:
        check_projection_laws(projection, events, settings=chosen)

    return LawTarget(label or f"projection {projection.name!r}", check, settings)


def decider_target(
    decider: Decider[Any, Any, Any],
    commands: SearchStrategy[Any],
    *,
    label: str = "decider",
    settings: Settings = DEFAULT_SETTINGS,
) -> LawTarget:
    """The decider laws (:func:`~laws.check_decider_laws`) over histories of drawn *commands*."""

    def check(chosen: Settings) -> None:
        check_decider_laws(decider, commands, settings=chosen)

    return LawTarget(label, check, settings)


def fsm_target(
    machine: StateMachine[Any, Any, Any],
    *,
    states: SearchStrategy[Any],
    inputs: SearchStrategy[Any],
    invariants: Iterable[Invariant[Any]] = (),
    label: str = "state machine",
    settings: Settings = DEFAULT_SETTINGS,
) -> LawTarget:
    """The state machine laws (:func:`~laws.check_fsm_laws`) over drawn *states* and *inputs*."""
    kept = tuple(invariants)

    def check(chosen: Settings) -> None:
        check_fsm_laws(machine, states=states, inputs=inputs, invariants=kept, settings=chosen)

    return LawTarget(label, check, settings)


def signal_target(
    operations: SignalOperations | None = None,
    *,
    times: SearchStrategy[Any] | None = None,
    label: str = "signals",
    settings: Settings = DEFAULT_SETTINGS,
) -> LawTarget:
    """The signal laws (:func:`~laws.check_signal_laws`) for *operations* (default ``cim.frp``)."""

    def check(chosen: Settings) -> None:
        check_signal_laws(operations, times=times, settings=chosen)

    return LawTarget(label, check, settings)


def codec_target(
    codec: Any,
    envelopes: SearchStrategy[Any],
    *,
    label: str = "codec",
    settings: Settings = DEFAULT_SETTINGS,
) -> LawTarget:
    """The codec round trip (:func:`~laws.check_codec_roundtrip`) over drawn *envelopes*."""

    def check(chosen: Settings) -> None:
        check_codec_roundtrip(codec, envelopes, settings=chosen)

    return LawTarget(label, check, settings)


def schema_evolution_target(
    old: EventTypes,
    new: EventTypes,
    *,
    payloads: Mapping[type[Any], SearchStrategy[Any]] | None = None,
    label: str = "schema evolution",
    settings: Settings = DEFAULT_SETTINGS,
) -> LawTarget:
    """*new* reads everything *old* writes (:func:`~laws.check_schema_evolution`)."""

    def check(chosen: Settings) -> None:
        check_schema_evolution(old, new, payloads=payloads, settings=chosen)

    return LawTarget(label, check, settings)


def fsm_evolution_target(
    old: Fsm[Any, Any, Any],
    new: Fsm[Any, Any, Any],
    *,
    inputs: SearchStrategy[Any] | None = None,
    label: str = "state machine evolution",
    settings: Settings = DEFAULT_SETTINGS,
) -> LawTarget:
    """*new* follows every history *old* accepts (:func:`~laws.check_fsm_evolution`)."""

    def check(chosen: Settings) -> None:
        check_fsm_evolution(old, new, inputs=inputs, settings=chosen)

    return LawTarget(label, check, settings)
