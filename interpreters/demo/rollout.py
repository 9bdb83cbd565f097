"""``cim demo --rollout``: a change to the order summaries rolled out blue/green while orders
keep arriving and queries keep being answered.

Version 1 of the read model (``order_summaries``) serves; version 2 adds each order's total in
euros. :func:`~interpreters.runtime.rollout.roll_out` builds version 2 in its own buckets while
commands keep flowing and a reader keeps querying; queries switch in one step; version 1 stops
and its buckets are dropped. The report counts the queries made and what each saw: every answer
is the complete old model or the complete new one, never a mix or a half-built model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import anyio
import nats.js.errors
from attrs import define, field
from nats.aio.client import Client
from pyrsistent import PMap
from returns.result import Failure

from cim import StreamId
from cim.effects import DatabaseWrite, Effect
from cim.examples.order_flow import (
    ORDER_STATS,
    ORDERS,
    OrderEvent,
    OrderPlaced,
    PlaceOrder,
    order,
    order_flow_types,
    order_summaries,
    summary_step,
)
from cim.projection import Projection
from interpreters.demo.errors import DemoFailed, Unreachable
from interpreters.natsio.connection import ConnectOptions, connect
from interpreters.runtime.checkpoints import KvCheckpoints
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.rollout import ProjectionVersions, roll_out
from interpreters.runtime.runner import ProjectionRunner
from interpreters.stores.jetstream import JetStreamEventStore

__all__ = ("RolloutReport", "order_summaries_v2", "run_rollout")

_COLLECTIONS = (ORDERS, ORDER_STATS)


def summary_step_v2(
    statuses: PMap[str, str], event: OrderEvent
) -> tuple[PMap[str, str], Sequence[Effect]]:
    """Version 2 of the order summaries: order rows also carry ``total_eur``."""
    after, effects = summary_step(statuses, event)
    first = effects[0]
    if isinstance(event, OrderPlaced) and isinstance(first, DatabaseWrite):
        row = {**first.data, "total_eur": event.total_cents / 100}
        return after, (DatabaseWrite(ORDERS, event.order_id, row), *effects[1:])
    return after, effects


order_summaries_v2: Projection[PMap[str, str], OrderEvent] = Projection(
    "order_summaries_v2", order_summaries.initial, summary_step_v2
)
"""The changed projection: its own name, so its own checkpoint."""


@define
class RolloutReport:
    """What the rollout demo saw."""

    orders_before: int = 0
    orders_during: int = 0
    queries: int = 0
    answers: dict[str, int] = field(factory=dict)
    smallest_answer: int = 0
    switched_at: int = 0
    rows_after: int = 0
    old_dropped: bool = False

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "orders_before": self.orders_before,
            "orders_during": self.orders_during,
            "queries": self.queries,
            "answers_by_version": self.answers,
            "smallest_answer": self.smallest_answer,
            "switched_at_position": self.switched_at,
            "rows_after": self.rows_after,
            "old_version_dropped": self.old_dropped,
        }

    def lines(self) -> list[str]:
        """The report as text."""
        by_version = ", ".join(f"{n} from {v}" for v, n in sorted(self.answers.items()))
        return [
            f"{self.orders_before} orders placed, then {self.orders_during} more during the rollout",
            f"{self.queries} queries answered during the rollout ({by_version}); "
            f"the smallest answer had {self.smallest_answer} orders: never a half-built model",
            f"queries switched to v2 in one step at position {self.switched_at}; "
            f"v2 now serves {self.rows_after} orders with total_eur",
            "v1 stopped and its buckets dropped" if self.old_dropped else "v1 kept",
        ]


async def run_rollout(options: ConnectOptions, tag: str, before: int = 50) -> RolloutReport:
    """Run the rollout on the server of *options*, in names ending with *tag*; clean up after."""
    connected = await connect(options)
    if isinstance(connected, Failure):
        raise Unreachable(str(connected.failure()))
    nc = connected.unwrap()
    stream, bucket_prefix = (
        f"CIM_ROLLOUT{tag.replace('-', '_')}",
        f"rollout{tag.replace('-', '_')}_",
    )
    try:
        async with await JetStreamEventStore.from_client(
            nc, types=order_flow_types, stream=stream, subject_prefix=f"rollout{tag}"
        ) as store:
            try:
                return await _roll_out(nc, store, bucket_prefix, before)
            finally:
                await _clean_up(nc, stream, bucket_prefix)
    finally:
        with anyio.CancelScope(shield=True):
            await nc.close()


async def _roll_out(
    nc: Client, store: JetStreamEventStore, prefix: str, before: int
) -> RolloutReport:
    js = nc.jetstream()
    versions = ProjectionVersions(js, "summaries", prefix=prefix)
    checkpoints = await KvCheckpoints.open(js, f"{prefix}checkpoints")
    handler = CommandHandler(order, store)
    queries = versions.queries()
    report = RolloutReport(orders_before=before, smallest_answer=before)

    def runner_of(projection: Projection[Any, Any], version: str) -> ProjectionRunner[Any, Any]:
        executor = NatsExecutor(nc, js, store=store, read_model=versions.read_model(version))
        return ProjectionRunner(projection, store, executor, checkpoints)

    async def place(n: int) -> None:
        placed = await handler.handle(StreamId("order", f"r-{n}"), PlaceOrder(f"r-{n}", "ada", n))
        if isinstance(placed, Failure):
            raise DemoFailed(f"placing order r-{n} failed: {placed.failure()}")

    for n in range(1, before + 1):
        await place(n)
    stop = anyio.Event()

    async def keep_ordering() -> None:
        n = before
        while not stop.is_set():
            n += 1
            await place(n)
            report.orders_during += 1
            await anyio.sleep(0.005)

    async def keep_querying() -> None:
        while not stop.is_set():
            table = (await queries.rows(ORDERS)).value_or({})
            kinds = {"v2" if "total_eur" in row else "v1" for row in table.values()}
            if len(kinds) != 1:
                raise DemoFailed(f"a query saw {len(table)} rows of versions {sorted(kinds)}")
            kind = kinds.pop()
            report.queries += 1
            report.answers[kind] = report.answers.get(kind, 0) + 1
            report.smallest_answer = min(report.smallest_answer, len(table))

    async with anyio.create_task_group() as tg:
        v1 = runner_of(order_summaries, "v1")
        first = await roll_out(versions, "v1", v1, task_group=tg)
        if isinstance(first, Failure):
            raise DemoFailed(str(first.failure()))
        tg.start_soon(keep_ordering)
        tg.start_soon(keep_querying)
        v2 = runner_of(order_summaries_v2, "v2")
        switched = await roll_out(
            versions, "v2", v2, task_group=tg, old=v1, retire="v1", collections=_COLLECTIONS
        )
        if isinstance(switched, Failure):
            raise DemoFailed(str(switched.failure()))
        report.switched_at = switched.unwrap()
        await anyio.sleep(0.2)  # a few more orders and queries on v2
        stop.set()
        expected = before + report.orders_during
        with anyio.fail_after(10):
            while len((await queries.rows(ORDERS)).value_or({})) < expected:  # noqa: ASYNC110
                await anyio.sleep(0.02)
        await v2.stop()
    report.rows_after = len((await queries.rows(ORDERS)).value_or({}))
    try:
        await js.key_value(versions.read_model("v1").prefix + ORDERS)
    except nats.js.errors.BucketNotFoundError:
        report.old_dropped = True
    return report


async def _clean_up(nc: Client, stream: str, prefix: str) -> None:
    js = nc.jetstream()
    with anyio.CancelScope(shield=True):
        buckets = [f"{prefix}checkpoints", f"{prefix}summaries_rollout"] + [
            f"{prefix}summaries_{v}_{c}" for v in ("v1", "v2") for c in _COLLECTIONS
        ]
        for bucket in buckets:
            try:
                await js.delete_key_value(bucket)
            except nats.js.errors.NotFoundError:
                continue
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(stream)
