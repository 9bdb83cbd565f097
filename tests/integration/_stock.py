"""A stock aggregate for the contention tests, and a CommandService instance process.

``python -m tests.integration._stock URL STREAM PREFIX SUBJECT [owned]`` serves the stock
commands on *SUBJECT* (queue group of the micro-service) with its own connection, prints
``ready`` and serves until killed; with ``owned``, as an ``OwnedCommandService`` (streams routed
to the instance owning their partition, 1.5 s leases).
"""

from __future__ import annotations

import sys

import anyio
import nats
from attrs import frozen
from returns.result import Failure, Result, Success

from cim import EventTypes
from cim.decider import Decider, Rejection
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.endpoints import CommandService, CommandTypes
from interpreters.runtime.ownership import OwnedCommandService
from interpreters.stores.jetstream import JetStreamEventStore


@frozen
class Restock:
    """Add *quantity* items."""

    quantity: int


@frozen
class Reserve:
    """Take *quantity* items if that many are left."""

    quantity: int


@frozen
class Restocked:
    """*quantity* items were added."""

    quantity: int


@frozen
class Reserved:
    """*quantity* items were taken."""

    quantity: int


def decide(command: Restock | Reserve, available: int) -> Result[tuple[object, ...], Rejection]:
    """Restock always; reserve only what is left."""
    if isinstance(command, Restock):
        return Success((Restocked(command.quantity),))
    if command.quantity > available:
        return Failure(Rejection(f"only {available} left", "insufficient_stock"))
    return Success((Reserved(command.quantity),))


def evolve(available: int, event: object) -> int:
    """Items left after *event*."""
    if isinstance(event, Restocked):
        return available + event.quantity
    assert isinstance(event, Reserved)
    return available - event.quantity


stock: Decider[Restock | Reserve, object, int] = Decider(0, decide, evolve)
STOCK_TYPES = EventTypes().register(Restocked).register(Reserved)
STOCK_COMMANDS = CommandTypes([Restock, Reserve])


async def serve(url: str, stream: str, prefix: str, subject: str, owned: bool) -> None:
    """Serve stock commands until killed."""
    nc = await nats.connect(url)
    store = await JetStreamEventStore.from_client(
        nc, types=STOCK_TYPES, stream=stream, subject_prefix=prefix, storage="memory"
    )
    handler = CommandHandler(stock, store)
    service = (
        OwnedCommandService(
            nc,
            handler,
            STOCK_COMMANDS,
            category="stock",
            subject=subject,
            name=prefix,
            lease_seconds=1.5,
        )
        if owned
        else CommandService(nc, handler, STOCK_COMMANDS, category="stock", subject=subject)
    )
    async with anyio.create_task_group() as tg:
        await tg.start(service.start)
        print("ready", flush=True)


if __name__ == "__main__":
    url, stream, prefix, subject = sys.argv[1:5]
    anyio.run(serve, url, stream, prefix, subject, sys.argv[5:] == ["owned"])
