"""Traces on a real nats-server: one trace from a command request to the read-model write and
the published effect, across separate NATS connections."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import nats
import orjson
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from cim import StreamId
from cim.effects import DatabaseWrite, Effect, Publish
from cim.examples.bank import AccountOpened, Deposit, OpenAccount, account, bank_types
from cim.projection import Projection
from interpreters.runtime.checkpoints import InMemoryCheckpoints
from interpreters.runtime.command_client import request_command
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.endpoints import CommandService, CommandTypes
from interpreters.runtime.executors import InMemoryReadModel
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.read_model import KvReadModel
from interpreters.runtime.runner import ProjectionRunner
from interpreters.stores.jetstream import JetStreamEventStore
from interpreters.stores.memory import InMemoryEventStore
from tests.observability.conftest import Telemetry

ROOT = Path(__file__).resolve().parents[2]


def unique(prefix: str) -> str:
    """A stream/bucket/subject-safe name no other test uses."""
    return f"{prefix}{uuid4().hex[:10]}"


def accounts_projection(tag: str) -> Projection[int, Any]:
    """Each opened account: a read-model row and a message on ``<tag>.opened``."""

    def step(count: int, event: Any) -> tuple[int, Sequence[Effect]]:
        if not isinstance(event, AccountOpened):
            return count, ()
        row = DatabaseWrite("accounts", event.account_id, {"owner": event.owner})
        return count + 1, (row, Publish(f"{tag}.opened", event.account_id.encode()))

    return Projection(f"accounts-{tag}", 0, step).consuming(categories=["account"])


@pytest.fixture
async def connections(nats_url: str) -> AsyncIterator[list[Any]]:
    """Four connections: the client's, the command service's, the runner's, a watcher's."""
    opened = [await nats.connect(nats_url) for _ in range(4)]
    try:
        yield opened
    finally:
        for nc in opened:
            await nc.close()


async def open_store(nc: Any, tag: str) -> JetStreamEventStore:
    """The store of stream *tag* on *nc* (each connection opens its own)."""
    return await JetStreamEventStore.from_client(
        nc, types=bank_types, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )


def parent_of(span: ReadableSpan) -> int | None:
    """The id of *span*'s parent (``None`` for a root span)."""
    return None if span.parent is None else span.parent.span_id


def span_id_in(carrier: Any) -> int:
    """The parent span id a ``traceparent`` entry names."""
    context = TraceContextTextMapPropagator().extract(dict(carrier))
    return trace.get_current_span(context).get_span_context().span_id


async def wait_for(telemetry: Telemetry, name: str, count: int) -> None:
    """Wait until *count* spans named *name* have finished (at most 5 s)."""
    with anyio.fail_after(5):
        while len(telemetry.spans(name)) < count:  # noqa: ASYNC110 - spans end in other tasks
            await anyio.sleep(0.02)


@pytest.mark.anyio
async def test_one_trace_links_the_request_the_append_the_projection_and_the_effect(
    telemetry: Telemetry, connections: list[Any]
) -> None:
    """The client's span is the root of the service's, the handler's, the projection's and the
    effects' spans, and the published message carries the publish span's context."""
    client, service_nc, runner_nc, watcher = connections
    tag = unique("tr")
    service_store, runner_store = (
        await open_store(service_nc, tag),
        await open_store(runner_nc, tag),
    )
    service = CommandService(
        service_nc,
        CommandHandler(account, service_store),
        CommandTypes([OpenAccount, Deposit]),
        category="account",
        name=f"bank-{tag}",
    )
    js = runner_nc.jetstream()
    executor = NatsExecutor(
        runner_nc, js, store=runner_store, read_model=KvReadModel(js, prefix=f"{tag}_")
    )
    runner = ProjectionRunner(
        accounts_projection(tag), runner_store, executor, InMemoryCheckpoints()
    )
    published = await watcher.subscribe(f"{tag}.opened")
    await watcher.flush()
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(service.start)
            await tg.start(runner.start)
            command = {"type": "OpenAccount", "account_id": "a-1", "owner": "ada"}
            reply = (
                await request_command(client, service.subject, "account.a-1", command)
            ).unwrap()
            message = await published.next_msg(timeout=5)
            await wait_for(telemetry, "cim.effect", 2)
            await service.stop()
            await runner.stop()
    finally:
        await service_store.close()
        await runner_store.close()

    request = telemetry.span("cim.command.request")
    serve = telemetry.span("cim.command.serve")
    handle = telemetry.span("cim.handle")
    decide, append = telemetry.span("cim.decide"), telemetry.span("cim.append")
    project, execute = telemetry.span("cim.project"), telemetry.span("cim.execute")
    write, publish = telemetry.spans("cim.effect")
    spans = [request, serve, handle, decide, append, project, execute, write, publish]
    assert {s.context.trace_id for s in spans} == {request.context.trace_id}
    assert parent_of(request) is None
    assert parent_of(serve) == request.context.span_id  # across connections, in the headers
    assert serve.parent is not None
    assert serve.parent.is_remote
    assert parent_of(handle) == serve.context.span_id
    assert parent_of(decide) == parent_of(append) == handle.context.span_id
    assert parent_of(project) == handle.context.span_id  # from the stored event's metadata
    assert project.parent is not None
    assert project.parent.is_remote
    assert parent_of(execute) == project.context.span_id
    assert parent_of(write) == parent_of(publish) == execute.context.span_id
    assert (request.kind, serve.kind, append.kind, project.kind) == (
        SpanKind.CLIENT,
        SpanKind.SERVER,
        SpanKind.PRODUCER,
        SpanKind.CONSUMER,
    )
    assert span_id_in(message.headers) == publish.context.span_id

    stored = (await (await open_store(client, tag)).read(StreamId("account", "a-1"))).unwrap()
    (event,) = stored
    assert span_id_in(event.metadata) == handle.context.span_id
    assert append.attributes is not None
    assert project.attributes is not None
    assert (
        append.attributes["cim.position"] == project.attributes["cim.position"] == reply["position"]
    )
    assert project.attributes["cim.stream"] == "account.a-1"
    assert project.attributes["cim.event.type"] == "AccountOpened"
    assert handle.attributes is not None
    assert handle.attributes["cim.outcome"] == "accepted"
    assert write.attributes is not None
    assert write.attributes["cim.effect.type"] == "DatabaseWrite"
    assert write.attributes["cim.collection"] == "accounts"


@pytest.mark.anyio
async def test_grouped_commands_carry_each_its_own_trace_context(
    telemetry: Telemetry, connections: list[Any]
) -> None:
    """Commands appended together (group commit) each put their own trace on their events."""
    tag = unique("tg")
    store = await open_store(connections[1], tag)
    handler = CommandHandler(account, store)
    stream = StreamId("account", "a-1")
    tracer = trace.get_tracer("test")
    roots: dict[int, int] = {}

    async def deposit(amount: int) -> None:
        with tracer.start_as_current_span(f"caller-{amount}") as root:
            roots[amount] = root.get_span_context().trace_id
            (await handler.handle(stream, Deposit(amount))).unwrap()

    try:
        (await handler.handle(stream, OpenAccount("a-1", "ada"))).unwrap()
        async with anyio.create_task_group() as tg:
            for amount in range(1, 21):
                tg.start_soon(deposit, amount)
        events = (await store.read(stream)).unwrap()[1:]
    finally:
        await store.close()
    sizes = [
        int(str(dict(s.attributes or {})["cim.group.size"])) for s in telemetry.spans("cim.append")
    ]
    assert any(size > 1 for size in sizes)  # some commands were appended together
    propagator = TraceContextTextMapPropagator()
    for event in events:
        context = trace.get_current_span(propagator.extract(dict(event.metadata)))
        assert context.get_span_context().trace_id == roots[event.payload.amount]
    assert len(events) == 20


@pytest.mark.anyio
async def test_without_an_sdk_nothing_is_added(connections: list[Any]) -> None:
    """With the API's default (no SDK), events and published messages carry no trace context."""
    _, service_nc, runner_nc, watcher = connections
    tag = unique("tn")
    store = await open_store(service_nc, tag)
    js = runner_nc.jetstream()
    executor = NatsExecutor(
        runner_nc, js, store=store, read_model=KvReadModel(js, prefix=f"{tag}_")
    )
    published = await watcher.subscribe(f"{tag}.opened")
    await watcher.flush()
    try:
        (
            await CommandHandler(account, store).handle(
                StreamId("account", "a-1"), OpenAccount("a-1", "ada")
            )
        ).unwrap()
        (event,) = (await store.read(StreamId("account", "a-1"))).unwrap()
        (await executor.for_event(event).execute([Publish(f"{tag}.opened", b"a-1")])).unwrap()
        message = await published.next_msg(timeout=5)
    finally:
        await store.close()
    assert "traceparent" not in event.metadata
    assert "traceparent" not in (message.headers or {})


@pytest.mark.anyio
async def test_the_trace_crosses_the_process_boundary(
    telemetry: Telemetry, connections: list[Any], nats_url: str
) -> None:
    """A client in this process and the service and runner in another: the other process's
    spans continue this process's trace, under the client's span."""
    client, watcher = connections[0], connections[3]
    tag = unique("tp")
    published = await watcher.subscribe(f"{tag}.opened")
    await watcher.flush()
    process = await anyio.open_process(
        [sys.executable, "-m", "tests.observability._service_process", nats_url, tag],
        cwd=ROOT,
        stderr=None,
    )
    try:
        assert process.stdout is not None
        assert process.stdin is not None
        lines = process.stdout
        with anyio.fail_after(60):
            ready = await lines.receive()
        assert ready.startswith(b"ready"), ready
        command = {"type": "OpenAccount", "account_id": "a-1", "owner": "ada"}
        (await request_command(client, f"bank-{tag}.command", "account.a-1", command)).unwrap()
        message = await published.next_msg(timeout=10)
        await process.stdin.send(b"stop\n")
        output = b""
        with anyio.fail_after(30):
            async for chunk in lines:
                output += chunk
        await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    records = [orjson.loads(line) for line in output.splitlines() if line.startswith(b"{")]
    by_name = {r["name"]: r for r in records if r["name"] != "cim.effect"}
    effects = [r for r in records if r["name"] == "cim.effect"]
    request = telemetry.span("cim.command.request")
    assert {r["trace_id"] for r in records} == {f"{request.context.trace_id:032x}"}
    assert by_name["cim.command.serve"]["parent_id"] == f"{request.context.span_id:016x}"
    assert by_name["cim.project"]["parent_id"] == by_name["cim.handle"]["span_id"]
    assert {e["parent_id"] for e in effects} == {by_name["cim.execute"]["span_id"]}
    publish = next(e for e in effects if e["attributes"]["cim.effect.type"] == "Publish")
    assert f"{span_id_in(message.headers):016x}" == publish["span_id"]


@pytest.mark.anyio
async def test_in_memory_the_trace_reaches_the_read_model_write(telemetry: Telemetry) -> None:
    """With the in-memory store and read model, the command's trace reaches the row's write."""
    store = InMemoryEventStore(types=bank_types)
    handler = CommandHandler(account, store)
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("checkout") as root:
        (await handler.handle(StreamId("account", "a-1"), OpenAccount("a-1", "ada"))).unwrap()
    read_model = InMemoryReadModel()
    projection = accounts_projection("mem")
    rows_only: Projection[int, Any] = Projection(
        projection.name, 0, lambda n, e: (n, projection.step(n, e)[1][:1])
    ).consuming(categories=["account"])
    runner = ProjectionRunner(rows_only, store, read_model, InMemoryCheckpoints())
    assert (await runner.catch_up()).unwrap() == 1
    assert read_model.get("accounts", "a-1") is not None
    (write,) = telemetry.spans("cim.effect")
    assert write.context.trace_id == root.get_span_context().trace_id
    assert dict(write.attributes or {})["cim.collection"] == "accounts"
    chain = [write]
    by_id = {s.context.span_id: s for s in telemetry.spans()}
    while chain[-1].parent is not None and chain[-1].parent.span_id in by_id:
        chain.append(by_id[chain[-1].parent.span_id])
    assert [s.name for s in chain] == [
        "cim.effect",
        "cim.execute",
        "cim.project",
        "cim.handle",
        "checkout",
    ]
