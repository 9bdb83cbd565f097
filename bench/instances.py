"""Three command service instances, one hot stream: a plain queue group vs owned partitions.

16 clients (one connection) send 25 ``Restock`` commands each, through
``request_command``, for ONE stock aggregate, to three service instances (each with its own
connection, store and ``CommandHandler``) on one nats-server (JetStream file storage):

* ``CommandService`` x 3 (a plain queue group): every instance writes the stream; they refuse
  each other's appends and retry with backoff (correct, slow);
* ``OwnedCommandService`` x 3: the stream's partition has one owner, the others forward.

Prints accepted commands/s, p50/p99 latency and the appends refused because another instance
wrote first. Run with ``make bench`` (or ``.venv/bin/python bench/instances.py``).
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import nats
from attrs import frozen
from returns.result import Failure, Result, Success

from cim import EventTypes, WrongExpectedVersion
from cim.decider import Decider, Rejection
from interpreters.runtime.command_client import request_command
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.endpoints import CommandService, CommandTypes
from interpreters.runtime.ownership import OwnedCommandService
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore

CLIENTS = 16
PER_CLIENT = 25


@frozen
class Restock:
    """Add *quantity* items."""

    quantity: int


@frozen
class Restocked:
    """*quantity* items were added."""

    quantity: int


def decide(command: Restock, _: int) -> Result[tuple[Restocked, ...], Rejection]:
    return Success((Restocked(command.quantity),))


stock: Decider[Restock, Restocked, int] = Decider(0, decide, lambda n, e: n + e.quantity)
TYPES = EventTypes().register(Restocked)


class Counting:
    """A store counting the appends another writer made it lose."""

    def __init__(self, store: JetStreamEventStore, refused: list[int]) -> None:
        self.store, self.refused = store, refused

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def append(self, stream: Any, events: Any, *, expected: Any) -> Any:
        result = await self.store.append(stream, events, expected=expected)
        if isinstance(result, Failure) and isinstance(result.failure(), WrongExpectedVersion):
            self.refused.append(1)
        return result


async def run(url: str, *, owned: bool, tag: str) -> str:
    subject = f"svc-{tag}.command"
    refused: list[int] = []
    connections, services = [], []
    for _ in range(3):
        nc = await nats.connect(url)
        store = await JetStreamEventStore.from_client(
            nc, types=TYPES, stream=tag.upper(), subject_prefix=tag
        )
        handler = CommandHandler(stock, Counting(store, refused))  # type: ignore[arg-type]
        commands = CommandTypes([Restock])
        service = (
            OwnedCommandService(
                nc, handler, commands, category="stock", subject=subject, name=tag, partitions=8
            )
            if owned
            else CommandService(nc, handler, commands, category="stock", subject=subject)
        )
        connections.append(nc)
        services.append(service)
    client = await nats.connect(url)
    latencies: list[float] = []
    async with anyio.create_task_group() as tg:
        for service in services:
            await tg.start(service.start)
        if owned:  # the leases settle: each instance takes its share
            await anyio.sleep(3)

        async def send() -> None:
            for _ in range(PER_CLIENT):
                began = time.perf_counter()
                reply = await request_command(
                    client, subject, "stock.s-1", {"type": "Restock", "quantity": 1}, budget=60
                )
                latencies.append(time.perf_counter() - began)
                assert isinstance(reply, Success), reply

        began = time.perf_counter()
        async with anyio.create_task_group() as clients:
            for _ in range(CLIENTS):
                clients.start_soon(send)
        rate = CLIENTS * PER_CLIENT / (time.perf_counter() - began)
        for service in services:
            await service.stop()
    for nc in [*connections, client]:
        await nc.close()
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    name = "OwnedCommandService x 3" if owned else "CommandService x 3 (queue group)"
    return (
        f"| {name} | {rate:,.0f}/s | {p50 * 1000:.1f} ms | {p99 * 1000:.1f} ms | {len(refused)} |"
    )


async def main() -> None:
    started = time.perf_counter()
    async with NatsServer(name="bench-instances") as server:
        rows = [
            await run(server.url, owned=False, tag="benchplain"),
            await run(server.url, owned=True, tag="benchowned"),
        ]
    print(
        "| 3 instances, 16 clients x 25 on one stream | commands/s | p50 | p99 | refused appends |"
    )
    print("|---|---|---|---|---|")
    for row in rows:
        print(row)
    print(f"(total {time.perf_counter() - started:.0f} s, file storage)")


if __name__ == "__main__":
    anyio.run(main)
