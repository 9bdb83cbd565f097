"""Multi-region under faults: a 3-region super-cluster, the event stream at home in ``east``.

``west`` and ``north`` each keep a copy (a mirror placed there) and run their own projection
runner into their own KV buckets. Writers in ``east`` append under load. Measured: (a) the
replication lag to each region, p50/p99 (from an event's ``recorded_at`` to its arrival on a
subscription to the regional copy); (b) every region's read model equals the fold of the home
stream once writes stop; (c) ``west`` killed while writes go on, restarted: its copy catches up
with nothing lost or duplicated, and the lag is back under a second; (d) ``east`` down: ``west``
still answers reads and queries from its copy, its appends fail fast with
:class:`~cim.StoreUnavailable`, and succeed again once ``east`` is back.

Three one-server regions rather than two: JetStream's meta group spans the super-cluster, and
with three servers it keeps a quorum when any one region is down.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import anyio
import anyio.to_thread
import pytest
from returns.result import Failure, Success

from cim import NewEvent, StoreUnavailable, StreamId
from interpreters.natsio import ConnectOptions
from interpreters.runtime.checkpoints import KvCheckpoints
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.read_model import KvReadModel
from interpreters.runtime.runner import ProjectionRunner
from interpreters.server import NatsSuperCluster
from interpreters.stores.jetstream import JetStreamEventStore, StoreSettings
from tests.faults._figures import Record
from tests.faults._harness import TICKS, TYPES, Tick, WriteLoad, audit, folded_rows, tick_counts

pytestmark = [pytest.mark.faults, pytest.mark.anyio]

HOME, WEST, NORTH = "east", "west", "north"
RECONNECT: dict[str, Any] = {
    "max_reconnect_attempts": -1,
    "reconnect_time_wait": 0.05,
    "connect_timeout": 2,
}
REQUEST_TIMEOUT = 2.0
FAIL_FAST_BOUND_S = REQUEST_TIMEOUT + 0.5


@pytest.fixture(scope="module")
def regions() -> Iterator[NatsSuperCluster]:
    """Three one-server regions joined by gateways."""
    with NatsSuperCluster(regions={HOME: 1, WEST: 1, NORTH: 1}) as cluster:
        yield cluster


def settings_for(stream: str, region: str) -> StoreSettings:
    """A store of *stream* (at home in ``east``) running in *region*."""
    return StoreSettings(
        stream=stream,
        subject_prefix=stream.lower(),
        home_region=HOME,
        region=region,
        request_timeout=REQUEST_TIMEOUT,
    )


@contextlib.asynccontextmanager
async def store_in(
    cluster: NatsSuperCluster, stream: str, region: str
) -> AsyncIterator[JetStreamEventStore]:
    """A store of *stream* connected to *region*'s servers (reconnecting for ever)."""
    where = ConnectOptions(cluster.url(region), nats_options=RECONNECT)
    async with JetStreamEventStore.connect(
        where, types=TYPES, settings=settings_for(stream, region)
    ) as store:
        yield store


class RegionalRunner:
    """A projection runner of ``tick_counts`` in one region, restarted when it stops."""

    def __init__(self, store: JetStreamEventStore) -> None:
        self.store = store
        self.runners: list[ProjectionRunner[Any, Any]] = []
        self.failures: list[str] = []

    @property
    def position(self) -> int:
        """The last position the current runner processed."""
        return self.runners[-1].position if self.runners else 0

    async def follow(self) -> None:
        """Run the projection, starting again from its checkpoint after a failure."""
        nc = self.store.nc
        js = nc.jetstream(timeout=REQUEST_TIMEOUT)
        namespace = Namespace.of(self.store)
        while True:
            try:
                checkpoints = await KvCheckpoints.open(js, namespace)
            except Exception as error:
                self.failures.append(type(error).__name__)
                await anyio.sleep(0.2)
                continue
            runner = ProjectionRunner(
                tick_counts, self.store, NatsExecutor(nc, js, store=self.store), checkpoints
            )
            self.runners.append(runner)
            result = await runner.run()
            if isinstance(result, Failure):
                self.failures.append(str(result.failure()).split(":")[0])
            await anyio.sleep(0.2)

    async def rows(self) -> dict[str, dict[str, Any]]:
        """The region's ``ticks`` read model (from its own KV bucket)."""
        js = self.store.nc.jetstream(timeout=REQUEST_TIMEOUT)
        model = KvReadModel.in_namespace(js, Namespace.of(self.store))
        return (await model.rows(TICKS)).unwrap()

    async def until_at(self, position: int, seconds: float = 60.0) -> None:
        """Return once the runner has processed *position*."""
        with anyio.fail_after(seconds):
            while self.position < position:  # noqa: ASYNC110 - polling a counter
                await anyio.sleep(0.05)


class LagWatch:
    """Arrival lags of events on a subscription to one region's copy."""

    def __init__(self, store: JetStreamEventStore) -> None:
        self.store = store
        self.lags: list[float] = []
        self.positions: list[int] = []

    async def watch(self) -> None:
        """Record, for each event, now minus its ``recorded_at`` (seconds)."""
        async with contextlib.aclosing(self.store.subscribe()) as events:
            async for item in events:
                if isinstance(item, Success):
                    envelope = item.unwrap()
                    self.lags.append((datetime.now(UTC) - envelope.recorded_at).total_seconds())
                    self.positions.append(envelope.position)


def percentiles(values: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 1), "p99_ms": round(p99 * 1000, 1)}


async def home_last(store: JetStreamEventStore) -> int:
    """The home stream's last position."""
    js = store.nc.jetstream(timeout=REQUEST_TIMEOUT)
    return (await js.stream_info(store.stream_name)).state.last_seq


async def test_lag_and_every_regions_read_model_under_load(
    regions: NatsSuperCluster, figures: Record
) -> None:
    """(a) replication lag p50/p99 per region; (b) each region's read model equals the fold."""
    stream = f"RG_A_{uuid4().hex[:8]}"
    async with (
        store_in(regions, stream, HOME) as east,
        store_in(regions, stream, WEST) as west,
        store_in(regions, stream, NORTH) as north,
    ):
        runners = {
            name: RegionalRunner(s) for name, s in ((HOME, east), (WEST, west), (NORTH, north))
        }
        watches = {WEST: LagWatch(west), NORTH: LagWatch(north)}
        load = WriteLoad(east, "tick", writers=8, appends=2_000)
        async with anyio.create_task_group() as group:
            for runner in runners.values():
                group.start_soon(runner.follow)
            for watch in watches.values():
                group.start_soon(watch.watch)
            await anyio.sleep(1.5)  # the copies' mirrors start (about a second when new)
            await load.run()
            last = await home_last(east)
            for runner in runners.values():
                await runner.until_at(last)
            with anyio.fail_after(30):
                while any(len(w.positions) < last for w in watches.values()):  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            group.cancel_scope.cancel()
        expected = await folded_rows(east)
        models = {name: await runner.rows() for name, runner in runners.items()}
    assert all(model == expected for model in models.values())
    for watch in watches.values():
        assert watch.positions == list(range(1, last + 1))
    rate = round(load.appends / (load.finished - load.started))
    figures(
        "multi-region lag under load (3 regions, home east)",
        writers=load.writers,
        appends=load.appends,
        appends_per_s=rate,
        **{
            f"lag_{name}_{k}": v
            for name, w in watches.items()
            for k, v in percentiles(w.lags).items()
        },
        read_models_equal_fold={name: model == expected for name, model in models.items()},
    )


async def test_region_cut_off_under_load_catches_up(
    regions: NatsSuperCluster, figures: Record
) -> None:
    """(c) west killed while east writes, restarted: nothing lost or duplicated, lag < 1 s."""
    stream = f"RG_C_{uuid4().hex[:8]}"
    async with store_in(regions, stream, HOME) as east, store_in(regions, stream, WEST) as west:
        runner = RegionalRunner(west)
        load = WriteLoad(east, "tick", writers=8, appends=3_200)
        outage: dict[str, float] = {}

        async def cut_off() -> None:
            await load.wait_for_acks(800)
            outage["killed"] = time.monotonic()
            await anyio.to_thread.run_sync(regions.kill_region, WEST)
            await load.wait_for_acks(2_000)
            outage["restarting"] = time.monotonic()
            await anyio.to_thread.run_sync(regions.restart_region, WEST)
            outage["restarted"] = time.monotonic()

        async with anyio.create_task_group() as group:
            group.start_soon(runner.follow)
            await anyio.sleep(1.5)
            group.start_soon(cut_off)
            await load.run()
            last = await home_last(east)
            with anyio.fail_after(60):
                while not isinstance(await west.wait_for_position(last), Success):  # noqa: ASYNC110
                    await anyio.sleep(0.01)  # west may still be down: its reads fail at once
            caught_up = time.monotonic()
            await runner.until_at(last)
            group.cancel_scope.cancel()
        result = await audit(west, load.acked, "tick")  # read from west's copy
        expected = await folded_rows(east)
        projected = await runner.rows()
        lags = []
        for n in range(50):
            appended = await east.append(StreamId("tick", "probe"), [NewEvent(Tick(-1, n))])
            started = time.monotonic()
            assert isinstance(await west.wait_for_position(appended.unwrap().position), Success)
            lags.append(time.monotonic() - started)
    assert result.lost == 0
    assert result.duplicated == 0
    assert result.gapless
    assert result.matches_view
    assert result.stored == result.acknowledged == load.appends
    assert projected == expected
    after = percentiles(lags)
    assert after["p99_ms"] < 1000
    figures(
        "multi-region: west cut off under load, restarted",
        **result.as_figures(),
        acks_while_west_was_down=sum(
            outage["killed"] < t < outage["restarted"] for t in load.ack_times
        ),
        west_down_s=round(outage["restarted"] - outage["killed"], 2),
        caught_up_after_relaunch_s=round(caught_up - outage["restarting"], 2),
        west_read_model_equals_fold=projected == expected,
        west_runner_restarts=len(runner.failures),
        lag_after_catch_up_p50_ms=after["p50_ms"],
        lag_after_catch_up_p99_ms=after["p99_ms"],
    )


async def test_home_region_down_reads_answer_and_appends_fail_fast(
    regions: NatsSuperCluster, figures: Record
) -> None:
    """(d) east down: west reads and queries its copy; appends fail fast, then resume."""
    stream = f"RG_D_{uuid4().hex[:8]}"
    account = StreamId("tick", "w0-s0")
    async with store_in(regions, stream, HOME) as east, store_in(regions, stream, WEST) as west:
        runner = RegionalRunner(west)
        load = WriteLoad(east, "tick", writers=4, appends=400)
        async with anyio.create_task_group() as group:
            group.start_soon(runner.follow)
            await load.run()
            last = await home_last(east)
            await runner.until_at(last)
            before = await runner.rows()
            await anyio.to_thread.run_sync(regions.kill_region, HOME)
            down = time.monotonic()
            started = time.monotonic()
            read = await west.read(account)
            read_s = time.monotonic() - started
            started = time.monotonic()
            rows = await runner.rows()
            query_s = time.monotonic() - started
            everything = [item async for item in west.read_all()]
            version = await west.version(account)
            started = time.monotonic()
            with anyio.fail_after(10):
                refused = await west.append(account, [NewEvent(Tick(0, 1_000))])
            append_s = time.monotonic() - started
            await anyio.to_thread.run_sync(regions.restart_region, HOME)
            back = time.monotonic()
            with anyio.fail_after(60):
                while True:
                    resumed = await west.append(account, [NewEvent(Tick(0, 1_001))])
                    if isinstance(resumed, Success):
                        break
                    await anyio.sleep(0.1)
            resumed_s = time.monotonic() - back
            position = resumed.unwrap().position
            await runner.until_at(position)
            group.cancel_scope.cancel()
    assert isinstance(read, Success)
    assert [e.event_id for e in read.unwrap()] == load.acked[account]
    assert rows == before
    assert len(everything) == last
    assert version == Success(len(load.acked[account]))
    assert all(isinstance(item, Success) for item in everything)
    assert isinstance(refused, Failure)
    assert isinstance(refused.failure(), StoreUnavailable)
    assert append_s < FAIL_FAST_BOUND_S
    figures(
        "multi-region: home region down",
        events_before=last,
        west_read_while_home_down_ms=round(read_s * 1000, 1),
        west_query_while_home_down_ms=round(query_s * 1000, 1),
        west_read_all_while_home_down=len(everything),
        west_append_failed_after_ms=round(append_s * 1000, 1),
        west_append_failure=str(refused.failure())[:120],
        home_down_s=round(back - down, 2),
        west_appends_resumed_after_home_restart_s=round(resumed_s, 2),
    )
