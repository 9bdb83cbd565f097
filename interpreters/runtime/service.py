"""Long-running services with health checks, and a supervisor that starts and stops them in order.

A :class:`Service` follows the anyio ``task_group.start`` convention: ``start`` *runs* the service,
calls ``task_status.started()`` once it is ready, and returns after ``stop`` asks it to (or raises
when it fails). The :class:`Supervisor` starts services one after the other in one task group,
then stops them in reverse order on SIGINT/SIGTERM, on :meth:`Supervisor.stop`, or as soon as one
fails; a service that does not stop within the shutdown timeout is cancelled. Nothing it started
is left running when :meth:`Supervisor.run` returns.

>>> import anyio
>>> class Ticker:
...     name = "ticker"
...     def __init__(self) -> None:
...         self._stopped = anyio.Event()
...     async def start(self, *, task_status=anyio.TASK_STATUS_IGNORED) -> None:
...         task_status.started()
...         await self._stopped.wait()
...     async def stop(self) -> None:
...         self._stopped.set()
...     async def health_check(self) -> HealthStatus:
...         return HealthStatus.healthy()
>>> async def main() -> str:
...     supervisor = Supervisor([Ticker()], signals=())
...     async with anyio.create_task_group() as tg:
...         await tg.start(supervisor.run)
...         print((await supervisor.health()).overall)
...         supervisor.stop()
...     return "stopped"
>>> anyio.run(main)
healthy
'stopped'
"""

from __future__ import annotations

import enum
import signal
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import anyio
from anyio.abc import TaskStatus
from attrs import define, field, frozen
from pyrsistent import PMap, pmap
from returns.result import Failure, Result, Success

from interpreters.natsio.describe import describe

__all__ = (
    "HealthState",
    "HealthStatus",
    "Service",
    "ServiceFailed",
    "Shutdown",
    "Supervisor",
    "SupervisorHealth",
)


class HealthState(enum.Enum):
    """How well a service works, best first."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


_RANK = {HealthState.HEALTHY: 0, HealthState.DEGRADED: 1, HealthState.UNHEALTHY: 2}


@frozen
class HealthStatus:
    """A health report: the ``state`` and, unless healthy, the ``reason``."""

    state: HealthState
    reason: str = ""

    @classmethod
    def healthy(cls, reason: str = "") -> HealthStatus:
        """The service works as intended."""
        return cls(HealthState.HEALTHY, reason)

    @classmethod
    def degraded(cls, reason: str) -> HealthStatus:
        """The service works, but not fully (lagging, retrying, ...)."""
        return cls(HealthState.DEGRADED, reason)

    @classmethod
    def unhealthy(cls, reason: str) -> HealthStatus:
        """The service does not work."""
        return cls(HealthState.UNHEALTHY, reason)

    def __str__(self) -> str:
        return self.state.value + (f": {self.reason}" if self.reason else "")


@runtime_checkable
class Service(Protocol):
    """Something the supervisor runs: start (until stopped), stop, and health check."""

    @property
    def name(self) -> str:
        """A name for logs and health reports."""
        ...

    async def start(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run: call ``task_status.started()`` once ready; return after :meth:`stop`; raise on failure."""
        ...

    async def stop(self) -> None:
        """Ask a running :meth:`start` to finish (idempotent; a no-op when not running)."""
        ...

    async def health_check(self) -> HealthStatus:
        """How the service is doing right now."""
        ...


@frozen
class Shutdown:
    """Why the supervisor stopped, and which services had to be cancelled after the timeout."""

    reason: str
    forced: tuple[str, ...] = ()

    def __str__(self) -> str:
        forced = f" (cancelled after timeout: {', '.join(self.forced)})" if self.forced else ""
        return f"shut down: {self.reason}{forced}"


@frozen
class ServiceFailed:
    """A service raised while running (or stopping); the others were stopped because of it."""

    service: str
    error: str
    shutdown: Shutdown

    def __str__(self) -> str:
        return f"service {self.service!r} failed: {self.error}; {self.shutdown}"


@frozen
class SupervisorHealth:
    """The worst health of all services (``overall``) and each service's own report."""

    overall: HealthStatus
    services: PMap[str, HealthStatus]


class _Readiness:
    """Forwards ``started()`` once and remembers whether it happened."""

    def __init__(self, inner: TaskStatus[None]) -> None:
        self._inner = inner
        self.started_already = False

    def started(self, value: None = None) -> None:
        if not self.started_already:
            self.started_already = True
            self._inner.started()


@define
class _Slot:
    service: Service
    done: anyio.Event = field(factory=anyio.Event)
    scope: anyio.CancelScope = field(factory=anyio.CancelScope)
    failure: str | None = None


@define
class Supervisor:
    """Run *services* in one task group; stop them in reverse order.

    Each service gets *shutdown_timeout* seconds to stop; one that takes longer is cancelled
    (and named in :attr:`Shutdown.forced`) and the next one is stopped.

    *signals* (default SIGINT, SIGTERM) trigger a graceful stop; pass ``()`` when not running in
    the main thread. *health_timeout* bounds each ``health_check`` call.
    """

    services: Sequence[Service]
    shutdown_timeout: float = 10.0
    signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM)
    health_timeout: float = 2.0
    _slots: list[_Slot] = field(factory=list, init=False)
    _stop_requested: anyio.Event | None = field(default=None, init=False)
    _reason: str = field(default="", init=False)

    def __attrs_post_init__(self) -> None:
        names = [service.name for service in self.services]
        if len(set(names)) != len(names):
            raise ValueError(f"service names must be unique, got {names}")

    async def run(
        self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> Result[Shutdown, ServiceFailed]:
        """Start every service in order, wait for a stop reason, then stop them in reverse."""
        if self._stop_requested is not None:
            raise RuntimeError("this Supervisor is already running or has run; create a new one")
        self._stop_requested = anyio.Event()
        forced: tuple[str, ...] = ()
        async with anyio.create_task_group() as tg:
            try:
                if self.signals:
                    await tg.start(self._watch_signals)
                for service in self.services:
                    if self._stop_requested.is_set():
                        break
                    slot = _Slot(service)
                    self._slots.append(slot)
                    await tg.start(self._supervise, slot)
                task_status.started()
                await self._stop_requested.wait()
            finally:
                if not self._reason:
                    self._reason = "supervisor cancelled"
                with anyio.CancelScope(shield=True):
                    forced = await self._stop_all()
                tg.cancel_scope.cancel()
        shutdown = Shutdown(self._reason, forced)
        for slot in self._slots:
            if slot.failure is not None:
                return Failure(ServiceFailed(slot.service.name, slot.failure, shutdown))
        return Success(shutdown)

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the running supervisor to stop every service (safe to call more than once)."""
        if self._stop_requested is not None and not self._stop_requested.is_set():
            self._reason = reason
            self._stop_requested.set()

    async def health(self) -> SupervisorHealth:
        """Each running service's health check, and the worst of them as ``overall``."""
        reports: dict[str, HealthStatus] = {}
        running = {slot.service.name: slot for slot in self._slots}
        for service in self.services:
            slot = running.get(service.name)
            if slot is None or slot.done.is_set():
                why = slot.failure if slot is not None and slot.failure else "not running"
                reports[service.name] = HealthStatus.unhealthy(why)
                continue
            reports[service.name] = await self._check(service)
        worst = max(reports.items(), key=lambda item: _RANK[item[1].state], default=None)
        if worst is None:
            overall = HealthStatus.unhealthy("no services")
        elif worst[1].state is HealthState.HEALTHY:
            overall = HealthStatus.healthy()
        else:
            overall = HealthStatus(worst[1].state, f"{worst[0]}: {worst[1].reason}")
        return SupervisorHealth(overall, pmap(reports))

    async def _check(self, service: Service) -> HealthStatus:
        try:
            with anyio.fail_after(self.health_timeout):
                return await service.health_check()
        except TimeoutError:
            return HealthStatus.unhealthy(f"health check timed out after {self.health_timeout}s")
        except Exception as exc:
            return HealthStatus.unhealthy(f"health check raised {type(exc).__name__}: {exc}")

    async def _supervise(self, slot: _Slot, *, task_status: TaskStatus[None]) -> None:
        readiness = _Readiness(task_status)
        try:
            with slot.scope:
                await slot.service.start(task_status=readiness)
        except Exception as exc:
            slot.failure = describe(exc)
            self.stop(f"service {slot.service.name!r} failed")
        else:
            if not slot.scope.cancelled_caught:
                self.stop(f"service {slot.service.name!r} finished")
        finally:
            slot.done.set()
            readiness.started()

    async def _stop_all(self) -> tuple[str, ...]:
        forced = []
        for slot in reversed(self._slots):
            if slot.done.is_set():
                continue
            with anyio.move_on_after(self.shutdown_timeout):
                await self._stop_one(slot)
            if not slot.done.is_set():
                forced.append(slot.service.name)
                slot.scope.cancel()
                await slot.done.wait()
        return tuple(forced)

    async def _stop_one(self, slot: _Slot) -> None:
        try:
            await slot.service.stop()
        except Exception as exc:
            slot.failure = slot.failure or f"stop raised {describe(exc)}"
        await slot.done.wait()

    async def _watch_signals(self, *, task_status: TaskStatus[None]) -> None:
        with anyio.open_signal_receiver(*self.signals) as received:
            task_status.started()
            async for signum in received:
                self.stop(f"received {signum.name}")
                return
