"""The service side of the cross-process trace test, run in a process of its own.

``python -m tests.observability._service_process <nats_url> <tag>`` serves bank commands on
``bank-<tag>.command`` and runs the accounts projection (a read-model row and a message on
``<tag>.opened`` per opened account) with an OpenTelemetry SDK exporting to memory. It prints
``ready``, waits for a line on stdin, stops, and prints each finished span as a JSON line.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
import nats
import orjson
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cim.examples.bank import Deposit, OpenAccount, account, bank_types
from interpreters.runtime.checkpoints import InMemoryCheckpoints
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.endpoints import CommandService, CommandTypes
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.read_model import KvReadModel
from interpreters.runtime.runner import ProjectionRunner
from interpreters.stores.jetstream import JetStreamEventStore
from tests.observability.test_tracing import accounts_projection


async def serve(url: str, tag: str, exporter: InMemorySpanExporter) -> None:
    """Serve until a line arrives on stdin, then print the spans."""
    nc = await nats.connect(url)
    store = await JetStreamEventStore.from_client(
        nc, types=bank_types, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )
    service = CommandService(
        nc,
        CommandHandler(account, store),
        CommandTypes([OpenAccount, Deposit]),
        category="account",
        name=f"bank-{tag}",
    )
    js = nc.jetstream()
    read_model = KvReadModel(js, prefix=f"{tag}_")
    executor = NatsExecutor(nc, js, store=store, read_model=read_model)
    runner = ProjectionRunner(accounts_projection(tag), store, executor, InMemoryCheckpoints())
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(service.start)
            await tg.start(runner.start)
            print("ready", flush=True)
            await anyio.to_thread.run_sync(sys.stdin.readline)
            await service.stop()
            await runner.stop()
    finally:
        await store.close()
        await nc.close()
    for span in exporter.get_finished_spans():
        parent = span.parent
        record: dict[str, Any] = {
            "name": span.name,
            "trace_id": f"{span.context.trace_id:032x}",
            "span_id": f"{span.context.span_id:016x}",
            "parent_id": None if parent is None else f"{parent.span_id:016x}",
            "attributes": dict(span.attributes or {}),
        }
        print(orjson.dumps(record).decode(), flush=True)


def main() -> None:
    """Install the SDK, then serve."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    anyio.run(serve, sys.argv[1], sys.argv[2], exporter)


if __name__ == "__main__":
    main()
