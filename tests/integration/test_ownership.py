"""OwnedCommandService on a real server: partitions leased in KV, requests routed to the owner,
leases moving when an instance dies (issue 14)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from uuid import uuid4

import anyio
import nats
import pytest
from returns.result import Failure, Success

from cim import StreamId, WrongExpectedVersion
from cim.decider import state_of
from interpreters.runtime.command_client import request_command
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.ownership import OwnedCommandService, partition_of
from interpreters.stores.jetstream import JetStreamEventStore
from tests.integration._stock import STOCK_COMMANDS, STOCK_TYPES, stock

pytestmark = pytest.mark.anyio
PARTITIONS = 8
LEASE = 1.5


class ConflictCounting:
    """A store that counts the appends refused because another writer came first."""

    def __init__(self, store: JetStreamEventStore) -> None:
        self.store = store
        self.conflicts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def append(self, stream: StreamId, events: Any, *, expected: Any) -> Any:
        """Append through, counting conflicts."""
        result = await self.store.append(stream, events, expected=expected)
        if isinstance(result, Failure) and isinstance(result.failure(), WrongExpectedVersion):
            self.conflicts += 1
        return result


class Instance:
    """One service instance with its own connection, store and cancel scope."""

    def __init__(self, nc: Any, store: JetStreamEventStore, service: OwnedCommandService):
        self.nc, self.store, self.service = nc, store, service
        self.counting = ConflictCounting(store)
        self.scope = anyio.CancelScope()

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled or stopped."""
        with self.scope:
            await self.service.start(task_status=task_status)


async def instance(url: str, tag: str, subject: str) -> Instance:
    """An OwnedCommandService on a fresh connection (not started); its store counts conflicts."""
    nc = await nats.connect(url)
    store = await JetStreamEventStore.from_client(
        nc, types=STOCK_TYPES, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )
    counting = ConflictCounting(store)
    handler = CommandHandler(stock, counting)  # type: ignore[arg-type]
    service = OwnedCommandService(
        nc,
        handler,
        STOCK_COMMANDS,
        category="stock",
        name=tag,
        subject=subject,
        partitions=PARTITIONS,
        lease_seconds=LEASE,
    )
    made = Instance(nc, store, service)
    made.counting = counting
    return made


async def settled(instances: Sequence[Instance], limit: float) -> float:
    """Seconds until the running *instances* own every partition exactly once between them."""
    began = time.monotonic()
    with anyio.fail_after(limit):
        while True:
            owned = [i.service.owned for i in instances]
            every = sorted(p for o in owned for p in o)
            if every == list(range(PARTITIONS)) and all(owned):
                return time.monotonic() - began
            await anyio.sleep(0.05)


async def _vanish() -> None:
    """A crashed instance releases nothing."""


async def test_streams_are_served_by_their_partitions_owner_without_conflicts(
    nats_url: str,
) -> None:
    """Three instances share the partitions; 8 clients x 20 commands on 3 hot streams through
    any instance: every command succeeds, no instance ever loses an append to another, and
    when one instance dies its partitions are owned by the others within a few seconds."""
    tag = f"own{uuid4().hex[:10]}"
    subject = f"svc-{tag}.command"
    instances = [await instance(nats_url, tag, subject) for _ in range(3)]
    client = await nats.connect(nats_url)
    try:
        async with anyio.create_task_group() as tg:
            for one in instances:
                await tg.start(one.run)
            await settled(instances, limit=10)
            streams = [f"stock.s-{n}" for n in range(3)]
            assert len({partition_of(s, PARTITIONS) for s in streams}) == 3
            replies: list[Any] = []

            async def send(n: int) -> None:
                for i in range(20):
                    replies.append(
                        await request_command(
                            client,
                            subject,
                            streams[(n + i) % 3],
                            {"type": "Restock", "quantity": 1},
                            budget=10,
                        )
                    )

            async with anyio.create_task_group() as clients:
                for n in range(8):
                    clients.start_soon(send, n)
            assert all(isinstance(r, Success) for r in replies)
            assert sum(one.counting.conflicts for one in instances) == 0
            for s in streams:
                stored = (await instances[0].store.read(StreamId.parse(s))).unwrap()
                assert len(stored) == state_of(stock, (e.payload for e in stored))

            victim = instances[0]
            lost = victim.service.owned
            victim.service._release_all = _vanish  # type: ignore[method-assign]
            victim.scope.cancel()  # it dies without giving its leases back
            took = await settled(instances[1:], limit=4 * LEASE + 2)
            print(f"failover: partitions {sorted(lost)} moved in {took:.2f} s (lease {LEASE} s)")
            assert took < 2 * LEASE + 2  # a few seconds: TTL expiry, then the next lease round
            after = await request_command(
                client, subject, streams[0], {"type": "Restock", "quantity": 1}, budget=10
            )
            assert isinstance(after, Success)
            for survivor in instances[1:]:
                await survivor.service.stop()
    finally:
        await client.close()
        for one in instances:
            if not one.nc.is_closed:
                await one.nc.close()
