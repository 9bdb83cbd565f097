"""The supervisor: start order, reverse stop order, failures, signals, timeouts, no orphan tasks."""

from __future__ import annotations

import asyncio
import os
import signal

import anyio
import anyio.lowlevel
import pytest
from anyio.abc import TaskStatus
from returns.result import Failure, Success

from interpreters.runtime.service import (
    HealthState,
    HealthStatus,
    Service,
    ServiceFailed,
    Shutdown,
    Supervisor,
)


class Worker:
    """A service with a background task that runs until stopped, logging its lifecycle."""

    def __init__(
        self,
        name: str,
        journal: list[str],
        *,
        fail_after: float | None = None,
        fail_on_start: bool = False,
        ignore_stop: bool = False,
        health: HealthStatus | None = None,
    ) -> None:
        self._name = name
        self.journal = journal
        self.fail_after = fail_after
        self.fail_on_start = fail_on_start
        self.ignore_stop = ignore_stop
        self.health = health or HealthStatus.healthy()
        self._stop = anyio.Event()

    @property
    def name(self) -> str:
        """The service name."""
        return self._name

    async def start(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Run a background task until stopped."""
        if self.fail_on_start:
            raise RuntimeError(f"{self._name} cannot start")
        self.journal.append(f"start {self._name}")
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._tick)
            task_status.started()
            if self.fail_after is not None:
                await anyio.sleep(self.fail_after)
                raise RuntimeError(f"{self._name} broke")
            await self._stop.wait()
            if self.ignore_stop:
                await anyio.sleep_forever()
            tg.cancel_scope.cancel()
        self.journal.append(f"stopped {self._name}")

    async def _tick(self) -> None:
        await anyio.sleep_forever()

    async def stop(self) -> None:
        """Ask the loop to end."""
        self.journal.append(f"stop {self._name}")
        self._stop.set()

    async def health_check(self) -> HealthStatus:
        """The configured health."""
        return self.health


def test_worker_is_a_service() -> None:
    """The test service satisfies the Service protocol structurally."""
    assert isinstance(Worker("a", []), Service)


@pytest.mark.anyio
async def test_starts_in_order_and_stops_in_reverse_without_orphans() -> None:
    """Services start in order, stop in reverse order, and leave no task behind."""
    before = set(asyncio.all_tasks())
    journal: list[str] = []
    supervisor = Supervisor([Worker(n, journal) for n in "abc"], signals=())
    async with anyio.create_task_group() as tg:
        await tg.start(supervisor.run)
        assert journal == ["start a", "start b", "start c"]
        supervisor.stop()
    assert journal[3:] == ["stop c", "stopped c", "stop b", "stopped b", "stop a", "stopped a"]
    await anyio.lowlevel.checkpoint()
    assert set(asyncio.all_tasks()) == before


@pytest.mark.anyio
async def test_run_returns_the_shutdown_reason() -> None:
    """A requested stop returns Success(Shutdown) with the reason."""
    supervisor = Supervisor([Worker("a", [])], signals=())
    result: list[object] = []

    async def run() -> None:
        result.append(await supervisor.run())

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await anyio.sleep(0.01)
        supervisor.stop("maintenance")
    assert result == [Success(Shutdown("maintenance"))]


@pytest.mark.anyio
async def test_a_failing_service_stops_the_others_in_reverse_order() -> None:
    """When one service raises, the others are stopped and the failure is the result."""
    journal: list[str] = []
    services = [Worker("a", journal), Worker("b", journal, fail_after=0.02), Worker("c", journal)]
    result = await Supervisor(services, signals=()).run()
    assert isinstance(result, Failure)
    failure = result.failure()
    assert isinstance(failure, ServiceFailed)
    assert failure.service == "b"
    assert "RuntimeError: b broke" in failure.error
    assert failure.shutdown.reason == "service 'b' failed"
    assert journal[-4:] == ["stop c", "stopped c", "stop a", "stopped a"]


@pytest.mark.anyio
async def test_a_service_failing_on_start_prevents_later_starts() -> None:
    """A start failure stops the services started before it; later ones never start."""
    journal: list[str] = []
    services = [
        Worker("a", journal),
        Worker("b", journal, fail_on_start=True),
        Worker("c", journal),
    ]
    result = await Supervisor(services, signals=()).run()
    assert isinstance(result, Failure)
    assert result.failure().service == "b"
    assert journal == ["start a", "stop a", "stopped a"]


@pytest.mark.anyio
async def test_a_service_that_ignores_stop_is_cancelled_after_the_timeout() -> None:
    """A service that does not stop in time is cancelled and named in ``forced``."""
    before = set(asyncio.all_tasks())
    journal: list[str] = []
    services = [Worker("a", journal), Worker("stubborn", journal, ignore_stop=True)]
    supervisor = Supervisor(services, signals=(), shutdown_timeout=0.1)
    outcome: list[object] = []

    async def run() -> None:
        outcome.append(await supervisor.run())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await anyio.sleep(0.01)
            supervisor.stop()
    assert outcome == [Success(Shutdown("stop requested", ("stubborn",)))]
    assert journal[-3:] == ["stop stubborn", "stop a", "stopped a"]
    await anyio.lowlevel.checkpoint()
    assert set(asyncio.all_tasks()) == before


@pytest.mark.anyio
async def test_sigterm_stops_everything_gracefully() -> None:
    """SIGTERM to the process makes the supervisor stop every service in reverse order."""
    before = set(asyncio.all_tasks())
    journal: list[str] = []
    supervisor = Supervisor([Worker("a", journal), Worker("b", journal)])
    outcome: list[object] = []

    async def run(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        outcome.append(await supervisor.run(task_status=task_status))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            await tg.start(run)
            os.kill(os.getpid(), signal.SIGTERM)
    assert outcome == [Success(Shutdown("received SIGTERM"))]
    assert journal[-4:] == ["stop b", "stopped b", "stop a", "stopped a"]
    await anyio.lowlevel.checkpoint()
    assert set(asyncio.all_tasks()) == before


@pytest.mark.anyio
async def test_health_is_the_worst_of_all_services() -> None:
    """Aggregate health is the worst service health, with that service named in the reason."""
    journal: list[str] = []
    services = [
        Worker("a", journal),
        Worker("b", journal, health=HealthStatus.degraded("lagging 200 events")),
    ]
    supervisor = Supervisor(services, signals=())
    before_start = await supervisor.health()
    assert before_start.overall.state is HealthState.UNHEALTHY
    async with anyio.create_task_group() as tg:
        await tg.start(supervisor.run)
        health = await supervisor.health()
        supervisor.stop()
    assert health.overall == HealthStatus.degraded("b: lagging 200 events")
    assert health.services["a"] == HealthStatus.healthy()
    after = await supervisor.health()
    assert after.services["a"] == HealthStatus.unhealthy("not running")


@pytest.mark.anyio
async def test_a_hanging_health_check_is_reported_unhealthy() -> None:
    """A health check that does not answer in time makes the service unhealthy, not stuck."""

    class Hanging(Worker):
        async def health_check(self) -> HealthStatus:
            """Never answers."""
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

    supervisor = Supervisor([Hanging("h", [])], signals=(), health_timeout=0.05)
    async with anyio.create_task_group() as tg:
        await tg.start(supervisor.run)
        health = await supervisor.health()
        supervisor.stop()
    assert health.overall.state is HealthState.UNHEALTHY
    assert "timed out" in health.overall.reason


def test_duplicate_service_names_are_refused() -> None:
    """Two services with one name would make health reports ambiguous: refused."""
    with pytest.raises(ValueError, match="unique"):
        Supervisor([Worker("a", []), Worker("a", [])])
