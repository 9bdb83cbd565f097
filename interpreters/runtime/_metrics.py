"""OpenTelemetry metrics of the runtime (instruments of the meter ``cim``).

Instruments are made once per configured meter provider. Without an SDK (the API's default
provider) :func:`instruments` is ``None`` and every caller skips its measurement after that one
check. The names, units, attributes and meanings are listed in ``docs/observability.md``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import NamedTuple, Protocol
from weakref import WeakSet

from opentelemetry import metrics
from opentelemetry.environment_variables import OTEL_PYTHON_METER_PROVIDER
from opentelemetry.metrics import (
    CallbackOptions,
    Counter,
    Histogram,
    NoOpMeterProvider,
    Observation,
)
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.metrics._internal import _ProxyMeterProvider

__all__ = ("Instruments", "ProjectionReading", "dead_lettered", "instruments", "watch")

CATEGORY = "cim.category"
OUTCOME = "cim.outcome"
PROJECTION = "cim.projection"


class ProjectionReading(NamedTuple):
    """What a runner reports to the gauges (``None``: not known yet)."""

    position: int
    lag: int | None
    time_lag: float | None
    checkpoint_age: float | None


class Watched(Protocol):
    """A projection runner as the gauges see it."""

    @property
    def name(self) -> str:
        """The projection's name."""
        ...

    def _metrics_reading(self) -> ProjectionReading:
        """Its current position, lag and checkpoint age."""
        ...


_RUNNERS: WeakSet[Watched] = WeakSet()


def watch(runner: Watched) -> None:
    """Report *runner*'s position, lag and checkpoint age through the gauges while it lives."""
    _RUNNERS.add(runner)
    instruments()  # the gauges exist as soon as a runner does


def dead_lettered(projection: str) -> None:
    """Count a dead letter of *projection*."""
    meters = instruments()
    if meters is not None:
        meters.dead_letters.add(1, {PROJECTION: projection})


def _readings() -> list[tuple[str, ProjectionReading]]:
    return [(runner.name, runner._metrics_reading()) for runner in list(_RUNNERS)]


def _positions(_: CallbackOptions) -> Iterable[Observation]:
    return [Observation(r.position, {PROJECTION: name}) for name, r in _readings()]


def _lags(_: CallbackOptions) -> Iterable[Observation]:
    return [Observation(r.lag, {PROJECTION: n}) for n, r in _readings() if r.lag is not None]


def _time_lags(_: CallbackOptions) -> Iterable[Observation]:
    return [
        Observation(r.time_lag, {PROJECTION: n}) for n, r in _readings() if r.time_lag is not None
    ]


def _checkpoint_ages(_: CallbackOptions) -> Iterable[Observation]:
    return [
        Observation(r.checkpoint_age, {PROJECTION: n})
        for n, r in _readings()
        if r.checkpoint_age is not None
    ]


class Instruments(NamedTuple):
    """The synchronous instruments (the gauges read the watched runners themselves)."""

    commands: Counter
    command_duration: Histogram
    append_duration: Histogram
    projected: Counter
    dead_letters: Counter


def _made(provider: metrics.MeterProvider) -> Instruments:
    meter = provider.get_meter("cim")
    meter.create_observable_gauge(
        "cim.projection.position",
        [_positions],
        unit="{event}",
        description="The global position of the last event the projection processed.",
    )
    meter.create_observable_gauge(
        "cim.projection.lag",
        [_lags],
        unit="{event}",
        description="How many stored events the projection has not processed yet.",
    )
    meter.create_observable_gauge(
        "cim.projection.time_lag",
        [_time_lags],
        unit="s",
        description="Recorded time of the last stored event minus that of the last processed one.",
    )
    meter.create_observable_gauge(
        "cim.projection.checkpoint.age",
        [_checkpoint_ages],
        unit="s",
        description="Seconds since the runner last saved its checkpoint.",
    )
    return Instruments(
        commands=meter.create_counter(
            "cim.commands", unit="{command}", description="Commands handled, by outcome."
        ),
        command_duration=meter.create_histogram(
            "cim.command.duration",
            unit="s",
            description="Time from a command's arrival at the handler to its outcome.",
        ),
        append_duration=meter.create_histogram(
            "cim.append.duration",
            unit="s",
            description="Time the event store took to append a command group's events.",
        ),
        projected=meter.create_counter(
            "cim.projection.events",
            unit="{event}",
            description="Events a projection processed (step and effects done).",
        ),
        dead_letters=meter.create_counter(
            "cim.dead_letters",
            unit="{event}",
            description="Events a projection set aside as dead letters.",
        ),
    )


_cached: tuple[object, Instruments] | None = None


_NO_SDK = (_ProxyMeterProvider, NoOpMeterProvider)
# a provider named in the environment is loaded by the API's getter on first use
_FROM_ENVIRONMENT = OTEL_PYTHON_METER_PROVIDER in os.environ


def instruments() -> Instruments | None:
    """cim's instruments, or ``None`` while no SDK meter provider is configured.

    It reads the API's global (set by ``metrics.set_meter_provider``) instead of calling
    ``metrics.get_meter_provider()``, which looks the environment up on every call.
    """
    global _cached
    provider = metrics_internal._METER_PROVIDER
    if provider is None:
        if not _FROM_ENVIRONMENT:
            return None
        provider = metrics.get_meter_provider()
    if isinstance(provider, _NO_SDK):
        return None
    cached = _cached
    if cached is None or cached[0] is not provider:
        cached = _cached = (provider, _made(provider))
    return cached[1]
