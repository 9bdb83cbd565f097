"""``cim demo --regions N``: the order flow across the regions of a NATS super-cluster.

An embedded super-cluster (:class:`~interpreters.server.NatsSuperCluster`, one server per
region, joined by gateways) holds the event stream at home in the first region (``east``);
every other region keeps a copy (a mirror placed there) and runs its own ``order_summaries``
projection runner into its own KV buckets. Orders are written through a command handler in the
home region; the read model is queried in the other regions; the report shows, per region, how
long each event took to reach its copy (replication lag) and its read model, and an order placed
from another region with read-your-own-writes (the append goes to the home stream over the
gateways, then waits until the local copy has it).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import anyio
from attrs import define, field, frozen
from returns.result import Failure, Success

from cim import StreamId
from cim.examples.order_flow import (
    ORDER_CATEGORY,
    ORDER_STATS,
    ORDERS,
    PlaceOrder,
    order,
    order_flow_types,
    order_summaries,
)
from cim.examples.orders import Cancel, Confirm, Deliver, Ship, Submit
from interpreters.demo.errors import DemoFailed
from interpreters.runtime.checkpoints import KvCheckpoints
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.read_model import KvReadModel
from interpreters.runtime.runner import ProjectionRunner
from interpreters.server import NatsSuperCluster
from interpreters.stores.jetstream import JetStreamEventStore, StoreSettings

__all__ = ("REGION_NAMES", "RegionsReport", "run_regions")

REGION_NAMES = ("east", "west", "north")
"""The regions the demo starts, in order; the first is the home region."""

_STORY: tuple[tuple[str, tuple[Any, ...]], ...] = (
    ("o-1", (PlaceOrder("o-1", "ada", 4_200), Submit(), Confirm(), Ship(), Deliver())),
    ("o-2", (PlaceOrder("o-2", "bob", 1_500), Submit(), Cancel("changed my mind"))),
    ("o-3", (PlaceOrder("o-3", "cy", 990), Submit(), Confirm())),
)
_WAIT_S = 30.0


@frozen
class RegionFigures:
    """What one non-home region saw."""

    region: str
    copy_stream: str
    first_ms: float
    """The first event's lag: a new copy (mirror) takes about a second to start."""
    lag_p50_ms: float
    lag_max_ms: float
    read_model_ms: float
    orders: dict[str, str]
    """Each order's status, as this region's read model answers it."""


@define
class RegionsReport:
    """What the multi-region demo saw."""

    home: str = ""
    stream: str = ""
    events: int = 0
    regions: list[RegionFigures] = field(factory=list)
    remote_order: str = ""
    remote_append_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "home_region": self.home,
            "stream": self.stream,
            "events_written_at_home": self.events,
            "regions": {
                r.region: {
                    "copy": r.copy_stream,
                    "first_event_lag_ms": r.first_ms,
                    "replication_lag_p50_ms": r.lag_p50_ms,
                    "replication_lag_max_ms": r.lag_max_ms,
                    "read_model_caught_up_ms": r.read_model_ms,
                    "orders": r.orders,
                }
                for r in self.regions
            },
            "order_placed_from_another_region": self.remote_order,
            "its_append_with_read_your_writes_ms": self.remote_append_ms,
        }

    def lines(self) -> list[str]:
        """The report as text."""
        lines = [
            f"{self.events} events written in {self.home} (stream {self.stream}, "
            "placed there; appends from anywhere are routed there over the gateways)"
        ]
        for r in self.regions:
            orders = ", ".join(f"{key} {status}" for key, status in sorted(r.orders.items()))
            lines += [
                f"{r.region}: copy {r.copy_stream} (a mirror placed in {r.region}); replication "
                f"lag p50 {r.lag_p50_ms} ms, max {r.lag_max_ms} ms (the first event "
                f"{r.first_ms} ms: the new copy starting)",
                f"{r.region}: read model caught up {r.read_model_ms} ms after the last event; "
                f"queried there: {orders}",
            ]
        lines.append(
            f"{self.remote_order} placed from {self.regions[0].region} with read-your-writes: "
            f"stored in {self.home} and readable in {self.regions[0].region} after "
            f"{self.remote_append_ms} ms"
        )
        return lines


def _settings(home: str, region: str, *, read_your_writes: bool = False) -> StoreSettings:
    return StoreSettings(home_region=home, region=region, read_your_writes=read_your_writes)


async def _region_runner(
    store: JetStreamEventStore,
) -> tuple[ProjectionRunner[Any, Any], KvReadModel]:
    js = store.nc.jetstream()
    namespace = Namespace.of(store)  # the copy's name, buckets placed in the region
    runner = ProjectionRunner(
        order_summaries,
        store,
        NatsExecutor(store.nc, js, store=store),
        await KvCheckpoints.open(js, namespace),
        collections=[ORDERS, ORDER_STATS],
    )
    return runner, KvReadModel.in_namespace(js, namespace)


async def _until(runner: ProjectionRunner[Any, Any], position: int) -> float:
    started = time.perf_counter()
    with anyio.fail_after(_WAIT_S):
        while runner.position < position:  # noqa: ASYNC110 - the runner offers no event to wait on
            await anyio.sleep(0.002)
    return time.perf_counter() - started


async def run_regions(count: int) -> RegionsReport:
    """Start a super-cluster of *count* regions (2 or 3) and run the story across them."""
    if count not in (2, 3):
        raise ValueError(f"the demo runs 2 or 3 regions, got {count}")
    names = REGION_NAMES[:count]
    home, others = names[0], names[1:]
    async with NatsSuperCluster(regions=dict.fromkeys(names, 1)) as cluster:
        east = await JetStreamEventStore.connect(
            cluster.url(home), types=order_flow_types, settings=_settings(home, home)
        )
        copies = [
            await JetStreamEventStore.connect(
                cluster.url(region), types=order_flow_types, settings=_settings(home, region)
            )
            for region in others
        ]
        try:
            return await _story(cluster, east, copies)
        finally:
            for store in (east, *copies):
                await store.close()


async def _story(
    cluster: NatsSuperCluster, east: JetStreamEventStore, copies: list[JetStreamEventStore]
) -> RegionsReport:
    home = str(east.bucket_region)
    report = RegionsReport(home=home, stream=east.stream_name)
    handler = CommandHandler(order, east)
    lags: dict[str, list[float]] = {str(c.bucket_region): [] for c in copies}
    async with anyio.create_task_group() as tg:
        runners = [await _region_runner(store) for store in copies]
        for runner, _ in runners:
            await tg.start(runner.start)
        for order_id, commands in _STORY:
            for command in commands:
                handled = await handler.handle(StreamId(ORDER_CATEGORY, order_id), command)
                stored = time.perf_counter()
                if isinstance(handled, Failure) or handled.unwrap().position is None:
                    raise DemoFailed(f"{order_id}: {command} was not stored")
                position = int(handled.unwrap().position or 0)
                async with anyio.create_task_group() as waits:  # until each copy has it
                    for store in copies:
                        waits.start_soon(_replicated, store, position, stored, lags)
                report.events = position
        for store, (runner, rows) in zip(copies, runners, strict=True):
            waited = await _until(runner, report.events)
            answer = await rows.rows(ORDERS)
            if not isinstance(answer, Success):
                raise DemoFailed(str(answer.failure()))
            first, *rest = lags[str(store.bucket_region)]
            report.regions.append(
                RegionFigures(
                    str(store.bucket_region),
                    store.read_stream,
                    round(first * 1000, 2),
                    round(statistics.median(rest) * 1000, 2),
                    round(max(rest) * 1000, 2),
                    round(waited * 1000, 2),
                    {key: str(row["status"]) for key, row in answer.unwrap().items()},
                )
            )
        await _remote_order(cluster, home, str(copies[0].bucket_region), report)
        tg.cancel_scope.cancel()
    return report


async def _replicated(
    store: JetStreamEventStore, position: int, stored: float, lags: dict[str, list[float]]
) -> None:
    reached = await store.wait_for_position(position)
    if isinstance(reached, Failure):
        raise DemoFailed(str(reached.failure()))
    lags[str(store.bucket_region)].append(time.perf_counter() - stored)


async def _remote_order(
    cluster: NatsSuperCluster, home: str, region: str, report: RegionsReport
) -> None:
    """Place an order from another region with read-your-own-writes."""
    settings = _settings(home, region, read_your_writes=True)
    async with JetStreamEventStore.connect(
        cluster.url(region), types=order_flow_types, settings=settings
    ) as store:
        started = time.perf_counter()
        placed = await CommandHandler(order, store).handle(
            StreamId(ORDER_CATEGORY, "o-4"), PlaceOrder("o-4", "dee", 2_500)
        )
        report.remote_append_ms = round((time.perf_counter() - started) * 1000, 2)
        if isinstance(placed, Failure):
            raise DemoFailed(f"o-4: {placed.failure()}")
        seen = await store.read(StreamId(ORDER_CATEGORY, "o-4"))
        if not isinstance(seen, Success) or not seen.unwrap():
            raise DemoFailed(f"o-4 is not readable in {region} after its append")
        report.remote_order = "o-4"
