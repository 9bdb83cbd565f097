"""The demo's application, put together: store, projection runner, endpoints, supervisor.

:func:`run_jetstream` wires the order application on a JetStream server (events in a
:class:`~interpreters.stores.jetstream.JetStreamEventStore`, read model and checkpoints in KV,
commands and queries as NATS micro-services); :func:`run_memory` wires the same on an
:class:`~interpreters.stores.memory.InMemoryEventStore` with no server. Both run the
:class:`~interpreters.demo.script.Script` under a
:class:`~interpreters.runtime.service.Supervisor` and return its report.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import anyio
from anyio.abc import TaskStatus
from returns.result import Failure, Result, Success
from rich.console import Console

from cim import EventEnvelope
from cim.examples.order_flow import ORDER_STATS, ORDERS, order, order_flow_types, order_summaries
from interpreters.demo.errors import DemoFailed, Unreachable
from interpreters.demo.race import HoldOnce
from interpreters.demo.revenue import revenue_over_time
from interpreters.demo.script import Report, Script
from interpreters.demo.transports import (
    COMMAND_SERVICE,
    COMMANDS,
    QUERY_SERVICE,
    LocalTransport,
    NatsTransport,
)
from interpreters.natsio.connection import ConnectOptions, connect
from interpreters.runtime.checkpoints import InMemoryCheckpoints, KvCheckpoints
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.dead_letters import InMemoryDeadLetters, KvDeadLetters
from interpreters.runtime.endpoints import CommandService, QueryService
from interpreters.runtime.executors import InMemoryReadModel
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.runner import ProjectionRunner, SkipToDeadLetters
from interpreters.runtime.runner_service import RunnerService
from interpreters.runtime.service import Service, ServiceFailed, Shutdown, Supervisor
from interpreters.stores.jetstream import JetStreamEventStore
from interpreters.stores.memory import InMemoryEventStore
from interpreters.stores.protocol import EventStore

__all__ = ("run_jetstream", "run_memory")


async def _until_projected(runner: ProjectionRunner[Any, Any], position: int) -> None:
    with anyio.fail_after(60):
        while runner.position < position:  # noqa: ASYNC110 - the runner offers no event to wait on
            await anyio.sleep(0.01)


async def _collect(store: EventStore, streams: set[str]) -> list[EventEnvelope[Any]]:
    found: list[EventEnvelope[Any]] = []
    async with contextlib.aclosing(store.read_all()) as events:
        async for result in events:
            if isinstance(result, Success) and str(result.unwrap().stream) in streams:
                found.append(result.unwrap())
    return found


async def _finish(
    script: Script,
    store: EventStore,
    runner: ProjectionRunner[Any, Any],
    supervisor: Supervisor,
) -> None:
    report = script.report
    started = time.perf_counter()
    await _until_projected(runner, report.last_position)
    if report.scale:
        report.scale["projection_lag_seconds"] = round(time.perf_counter() - started, 3)
    ours = {f"order.{s.order_id}" for s in report.steps} | report.scaled_streams
    envelopes = await _collect(store, ours)
    for envelope in envelopes:
        report.events_by_type[envelope.event_type] = (
            report.events_by_type.get(envelope.event_type, 0) + 1
        )
        if str(envelope.stream) not in report.scaled_streams:
            report.versions[str(envelope.stream)] = envelope.version
    story = {s.order_id for s in report.steps if s.order_id.startswith("o-")}
    rows = await script.transport.rows(ORDERS)
    report.orders = {key: rows[key] for key in sorted(story) if key in rows}
    report.stats = (await script.transport.rows(ORDER_STATS)).get("by_status", {})
    report.revenue, report.signal_agrees = revenue_over_time(envelopes)
    health = await supervisor.health()
    started_order = [service.name for service in supervisor.services]  # a stable order to print
    report.health = {"overall": str(health.overall)} | {
        name: str(health.services[name]) for name in started_order if name in health.services
    }


async def _supervised(
    supervisor: Supervisor,
    outcome: list[Result[Shutdown, ServiceFailed]],
    *,
    task_status: TaskStatus[None],
) -> None:
    outcome.append(await supervisor.run(task_status=task_status))


async def _with_services(
    script: Script,
    store: EventStore,
    runner: ProjectionRunner[Any, Any],
    services: list[Service],
    orders: int,
) -> None:
    supervisor = Supervisor(services, signals=())
    outcome: list[Result[Shutdown, ServiceFailed]] = []
    console = script.console
    async with anyio.create_task_group() as tg:
        await tg.start(_supervised, supervisor, outcome)
        try:
            if console is not None:
                names = ", ".join(s.name for s in services)
                console.print(f"[green]✓[/green] services started under the Supervisor: {names}")
                console.print(f"[green]✓[/green] commands travel by {script.transport.description}")
            await script.story()
            if orders:
                script.say(f"scaling up: {orders} more orders through the whole lifecycle")
                await script.scale(orders)
            await _finish(script, store, runner, supervisor)
        finally:
            supervisor.stop("demo finished")
    result = outcome[0]
    if isinstance(result, Failure):
        raise DemoFailed(str(result.failure()))
    script.report.shutdown = str(result.unwrap())


async def run_jetstream(
    url: str, options: ConnectOptions, orders: int, console: Console | None, tag: str
) -> Report:
    connected = await connect(options)
    if isinstance(connected, Failure):
        raise Unreachable(str(connected.failure()))
    nc = connected.unwrap()
    try:
        js = nc.jetstream()
        store = await JetStreamEventStore.from_client(nc, types=order_flow_types)
        report = Report(
            f"JetStream at {url} (stream {store.stream_name}, subjects "
            f"{store.subject_prefix}.order.*)",
            NatsTransport(nc).description,
            NatsTransport(nc).query_via,
        )
        if console is not None:
            names = ", ".join(t.name for t in order_flow_types)
            console.print(f"[green]✓[/green] event types registered: {names}")
        race = HoldOnce(store)
        namespace = Namespace.of(store)  # runtime state kept in CIM_EVENTS_* buckets
        executor = NatsExecutor(nc, js, store=store)  # read models in the store's namespace
        runner = ProjectionRunner(
            order_summaries,
            store,
            executor,
            await KvCheckpoints.open(js, namespace),
            collections=[ORDERS, ORDER_STATS],
            poison=SkipToDeadLetters(await KvDeadLetters.open(js, namespace)),
        )
        commands = CommandService(
            nc,
            CommandHandler(order, race),
            COMMANDS,
            category="order",
            entity_of=lambda command: getattr(command, "order_id", None),
            name=COMMAND_SERVICE,
            event_types=order_flow_types,
        )
        queries = QueryService(nc, executor.read_model, [ORDERS, ORDER_STATS], name=QUERY_SERVICE)
        shop = LocalTransport(CommandHandler(order, store), InMemoryReadModel())  # commands only
        script = Script(NatsTransport(nc), race, report, console, tag, shop)
        discoverable = RunnerService(nc, runner, namespace=namespace)  # status, lag, redrive
        await _with_services(script, store, runner, [discoverable, commands, queries], orders)
        await store.close()
        return report
    finally:
        with anyio.CancelScope(shield=True):
            await nc.close()


async def run_memory(orders: int, console: Console | None) -> Report:
    store = InMemoryEventStore(types=order_flow_types)
    race = HoldOnce(store)
    read_model = InMemoryReadModel()
    runner = ProjectionRunner(
        order_summaries,
        store,
        read_model,
        InMemoryCheckpoints(),
        poison=SkipToDeadLetters(InMemoryDeadLetters()),
    )
    transport = LocalTransport(CommandHandler(order, race), read_model)
    report = Report(
        "in memory (InMemoryEventStore, no server)", transport.description, transport.query_via
    )
    if console is not None:
        names = ", ".join(t.name for t in order_flow_types)
        console.print(f"[green]✓[/green] event types registered: {names}")
    shop = LocalTransport(CommandHandler(order, store), read_model)
    script = Script(transport, race, report, console, shop=shop)
    await _with_services(script, store, runner, [runner], orders)
    return report
