"""Multi-region: a store in another region than its event stream's, on a 2-region super-cluster."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from uuid import uuid4

import anyio
import nats
import pytest
from attrs import evolve
from nats.js.api import Placement, StreamConfig, StreamSource
from returns.result import Failure, Success

from cim import EventTypes, Exactly, NewEvent, StoreUnavailable, StreamId, WrongExpectedVersion
from cim.examples.order_flow import (
    ORDER_CATEGORY,
    ORDER_STATS,
    ORDERS,
    OrderPlaced,
    PlaceOrder,
    order,
    order_flow_types,
    order_summaries,
)
from cim.examples.orders import Confirm, Submit
from interpreters.runtime.checkpoints import KvCheckpoints
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.read_model import KvReadModel
from interpreters.runtime.runner import ProjectionRunner
from interpreters.server import NatsSuperCluster
from interpreters.stores.jetstream import JetStreamEventStore, ReplicaBehind, StoreSettings
from laws.conformance import EventStoreContract

HOME, AWAY = "east", "west"


@pytest.fixture(scope="session")
def super_cluster() -> Iterator[NatsSuperCluster]:
    """Two one-server regions, ``east`` (home of the event streams) and ``west``."""
    with NatsSuperCluster(regions={HOME: 1, AWAY: 1}) as regions:
        yield regions


def regional_settings(*, read_your_writes: bool = True) -> StoreSettings:
    """Settings of a store in ``west`` whose event stream (of its own) lives in ``east``."""
    token = uuid4().hex[:12]
    return StoreSettings(
        stream=f"R_{token}",
        subject_prefix=f"rg{token}",
        home_region=HOME,
        region=AWAY,
        read_your_writes=read_your_writes,
    )


@pytest.mark.faults
class TestRegionalEventStore(EventStoreContract):
    """The contract against a store in ``west``: reads from its mirror, appends to ``east``.

    In ``make faults`` (about 40 s: every test's fresh mirror takes a second to start)."""

    @pytest.fixture
    async def store(
        self, types: EventTypes, super_cluster: NatsSuperCluster
    ) -> AsyncIterator[JetStreamEventStore]:
        """A west store (read-your-writes on) on an east stream of its own."""
        async with JetStreamEventStore.connect(
            super_cluster.url(AWAY), types=types, settings=regional_settings()
        ) as store:
            yield store


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 30.0) -> None:
    with anyio.fail_after(seconds):
        while not await check():  # noqa: ASYNC110 - polling another process's state
            await anyio.sleep(0.01)


@pytest.mark.anyio
async def test_an_order_written_in_the_home_region_appears_in_the_other_regions_read_model(
    super_cluster: NatsSuperCluster,
) -> None:
    """Commands in east, a projection runner in west over west's copy: west's KV answers."""
    home = regional_settings(read_your_writes=False)
    east = evolve(home, region=HOME)
    west_nc = await nats.connect(super_cluster.url(AWAY))
    async with (
        JetStreamEventStore.connect(
            super_cluster.url(HOME), types=order_flow_types, settings=east
        ) as east_store,
        JetStreamEventStore.connect(
            super_cluster.url(AWAY), types=order_flow_types, settings=home
        ) as west_store,
        anyio.create_task_group() as tg,
    ):
        js = west_nc.jetstream()
        namespace = Namespace.of(west_store)
        assert (namespace.name, namespace.region) == (west_store.read_stream, AWAY)
        runner = ProjectionRunner(
            order_summaries,
            west_store,
            NatsExecutor(west_nc, js, store=west_store),
            await KvCheckpoints.open(js, namespace),
            collections=[ORDERS, ORDER_STATS],
        )
        await tg.start(runner.start)
        handler = CommandHandler(order, east_store)
        stream = StreamId(ORDER_CATEGORY, "o-1")
        for command in (PlaceOrder("o-1", "ada", 1200), Submit(), Confirm()):
            handled = await handler.handle(stream, command)
            assert isinstance(handled, Success), handled
        last = (await east_store.version(stream)).unwrap()
        assert last == 3
        rows = KvReadModel.in_namespace(js, namespace)

        async def confirmed() -> bool:
            found = await rows.get(ORDERS, "o-1")  # a failure (a slow server): ask again
            row = found.value_or(None)
            return row is not None and row.data is not None and row.data["status"] == "confirmed"

        await _until(confirmed)
        tg.cancel_scope.cancel()
    placed = {
        name: (await js.stream_info(name)).cluster
        for name in (
            west_store.read_stream,
            f"KV_{namespace.checkpoints_bucket}",
            f"KV_{namespace.read_model_prefix}{ORDERS}",
        )
    }
    assert {name: info.name if info else None for name, info in placed.items()} == dict.fromkeys(
        placed, AWAY
    )
    home_info = await js.stream_info(east.stream)
    assert home_info.cluster is not None
    assert home_info.cluster.name == HOME
    await west_nc.close()


@pytest.mark.anyio
async def test_waiting_for_a_position_the_copy_lacks_ends_in_replica_behind(
    super_cluster: NatsSuperCluster,
) -> None:
    """``wait_for_position`` answers the position once mirrored, else ReplicaBehind in time."""
    settings = evolve(regional_settings(read_your_writes=False), replica_timeout=0.3)
    async with JetStreamEventStore.connect(
        super_cluster.url(AWAY), types=order_flow_types, settings=settings
    ) as west:
        appended = await west.append(
            StreamId(ORDER_CATEGORY, "o-2"), [NewEvent(OrderPlaced("o-2", "bo", 5))]
        )
        position = appended.unwrap().position
        with anyio.fail_after(10):
            while not isinstance(await west.wait_for_position(position), Success):
                pass
        started = time.monotonic()
        behind = await west.wait_for_position(position + 1000)
        waited = time.monotonic() - started
    assert isinstance(behind, Failure)
    error = behind.failure()
    assert isinstance(error, ReplicaBehind)
    assert isinstance(error, StoreUnavailable)
    assert (error.position, error.mirrored) == (position + 1000, position)
    assert 0.3 <= waited < 2.0


@pytest.mark.anyio
async def test_an_append_from_another_region_is_judged_on_the_home_streams_tip(
    super_cluster: NatsSuperCluster,
) -> None:
    """Right after a burst in east, west's Exactly(n) append succeeds and n-1 conflicts with n."""
    away = regional_settings(read_your_writes=False)
    async with (
        JetStreamEventStore.connect(
            super_cluster.url(HOME), types=order_flow_types, settings=evolve(away, region=HOME)
        ) as east,
        JetStreamEventStore.connect(
            super_cluster.url(AWAY), types=order_flow_types, settings=away
        ) as west,
    ):
        warm = StreamId(ORDER_CATEGORY, "warm-up")
        placed = await east.append(warm, [NewEvent(OrderPlaced("warm-up", "al", 1))])
        with anyio.fail_after(10):  # the new copy starts mirroring (about a second)
            while not isinstance(await west.wait_for_position(placed.unwrap().position), Success):
                pass
        for round_ in range(5):
            stream = StreamId(ORDER_CATEGORY, f"o-{round_}")
            burst = [NewEvent(OrderPlaced(f"o-{round_}", "al", n + 1)) for n in range(300)]
            for start in range(0, len(burst), 100):  # 300 events, 3 atomic batches
                assert isinstance(await east.append(stream, burst[start : start + 100]), Success)
            stale = await west.append(
                stream, [NewEvent(OrderPlaced("x", "x", 1))], expected=Exactly(299)
            )
            assert isinstance(stale, Failure)
            assert stale.failure() == WrongExpectedVersion(stream, Exactly(299), 300)
            fresh = await west.append(
                stream, [NewEvent(OrderPlaced("y", "y", 1))], expected=Exactly(300)
            )
            assert fresh.unwrap().version == 301


@pytest.mark.anyio
async def test_a_conflict_is_never_judged_on_a_copy_that_is_behind(
    super_cluster: NatsSuperCluster,
) -> None:
    """A copy lacking the home stream's last event: an append waits for it, then answers
    ReplicaBehind (never a conflict judged on the copy); so does read-your-writes."""
    away = evolve(regional_settings(read_your_writes=False), replica_timeout=0.3)
    nc = await nats.connect(super_cluster.url(AWAY))
    js = nc.jetstream()
    async with JetStreamEventStore.connect(
        super_cluster.url(HOME), types=order_flow_types, settings=evolve(away, region=HOME)
    ) as east:
        # a copy that never receives the order category: always behind for those streams
        await js.add_stream(
            StreamConfig(
                name=away.read_stream,
                mirror=StreamSource(name=away.stream, filter_subject=f"{away.subject_prefix}.x.>"),
                allow_direct=True,
                placement=Placement(cluster=AWAY),
            )
        )
        async with JetStreamEventStore.connect(
            super_cluster.url(AWAY), types=order_flow_types, settings=away
        ) as west:
            stream = StreamId(ORDER_CATEGORY, "o-9")
            events = [NewEvent(OrderPlaced("o-9", "al", n + 1)) for n in range(3)]
            stored = (await east.append(stream, events)).unwrap()
            behind = await west.append(
                stream, [NewEvent(OrderPlaced("o-9", "al", 9))], expected=Exactly(3)
            )
        reading = evolve(away, read_your_writes=True)
        async with JetStreamEventStore.connect(
            super_cluster.url(AWAY), types=order_flow_types, settings=reading
        ) as west:
            unseen = await west.append(
                StreamId(ORDER_CATEGORY, "o-10"), [NewEvent(OrderPlaced("o-10", "al", 1))]
            )
        home_last = (await js.stream_info(away.stream)).state.last_seq
    await nc.close()
    assert isinstance(behind, Failure)
    error = behind.failure()
    assert isinstance(error, ReplicaBehind)
    assert (error.position, error.mirrored) == (stored.position, 0)
    assert isinstance(unseen, Failure)  # stored at home, never in this copy: read-your-writes
    assert unseen.failure() == ReplicaBehind(
        unseen.failure().detail, home_last, 0, unseen.failure().waited
    )
