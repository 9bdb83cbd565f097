"""Blue/green projection rollouts on a real server: queries keep answering and never see a
half-built read model; a crash mid-rollout resumes; the old version's buckets can be dropped."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import uuid4

import anyio
import nats
import nats.js.errors
import orjson
import pytest
from pyrsistent import PMap

from cim import NewEvent, StreamId
from cim.effects import DatabaseWrite, Effect
from cim.examples.order_flow import (
    ORDER_STATS,
    ORDERS,
    OrderEvent,
    OrderPlaced,
    OrderSubmitted,
    order_flow_types,
    order_summaries,
    summary_step,
)
from cim.projection import Projection
from interpreters.runtime import (
    KvCheckpoints,
    NatsExecutor,
    ProjectionRunner,
    ProjectionVersions,
    QueryService,
    roll_out,
)
from interpreters.runtime.namespace import Namespace
from interpreters.stores.jetstream import JetStreamEventStore

pytestmark = pytest.mark.anyio

COLLECTIONS = (ORDERS, ORDER_STATS)


def summary_step_v2(
    statuses: PMap[str, str], event: OrderEvent
) -> tuple[PMap[str, str], Sequence[Effect]]:
    """Version 2 of the summaries: every order row also carries its total in euros."""
    after, effects = summary_step(statuses, event)
    first = effects[0]
    if isinstance(event, OrderPlaced) and isinstance(first, DatabaseWrite):
        row = {**first.data, "total_eur": event.total_cents / 100, "schema": 2}
        effects = (DatabaseWrite(ORDERS, event.order_id, row), *effects[1:])
    return after, effects


summaries_v2 = Projection("order_summaries_v2", order_summaries.initial, summary_step_v2)


@pytest.fixture
async def system(nats_url: str) -> AsyncIterator[dict[str, Any]]:
    """A store, checkpoints and the versions of the order summaries, all fresh on the server."""
    tag = uuid4().hex[:8]
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    store = await JetStreamEventStore.from_client(
        nc, types=order_flow_types, stream=f"RO_{tag}", subject_prefix=f"ro{tag}"
    )
    checkpoints = await KvCheckpoints.open(js, f"ro_{tag}_checkpoints")
    versions = ProjectionVersions(js, "summaries", prefix=f"ro{tag}_")
    try:
        yield {"nc": nc, "js": js, "store": store, "checkpoints": checkpoints, "versions": versions}
    finally:
        await store.close()
        for bucket in [f"ro_{tag}_checkpoints", f"ro{tag}_summaries_rollout"] + [
            f"ro{tag}_summaries_{v}_{c}" for v in ("v1", "v2") for c in COLLECTIONS
        ]:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_key_value(bucket)
        await js.delete_stream(f"RO_{tag}")
        await nc.close()


def runner_for(system: dict[str, Any], projection: Projection[Any, Any], version: str) -> Any:
    """A runner of *projection* writing into *version*'s own buckets."""
    versions: ProjectionVersions = system["versions"]
    executor = NatsExecutor(
        system["nc"], system["js"], store=system["store"], read_model=versions.read_model(version)
    )
    return ProjectionRunner(
        projection, system["store"], executor, system["checkpoints"], collections=COLLECTIONS
    )


async def place(store: JetStreamEventStore, order_id: str) -> None:
    """Place and submit one order."""
    events = [NewEvent(OrderPlaced(order_id, "ada", 1250)), NewEvent(OrderSubmitted(order_id))]
    (await store.append(StreamId("order", order_id), events)).unwrap()


async def test_a_rollout_keeps_queries_answering_and_never_shows_a_half_built_model(
    system: dict[str, Any],
) -> None:
    """While orders keep arriving, v2 is built beside v1 and queries over NATS switch in one
    step, each answer the complete old model or the complete new one."""
    store, versions, nc = system["store"], system["versions"], system["nc"]
    queries = versions.queries()
    endpoint = QueryService(nc, queries, [ORDERS], name=f"q-{uuid4().hex[:8]}")
    for n in range(40):
        await place(store, f"o-{n}")
    seen: list[tuple[str, int]] = []
    async with anyio.create_task_group() as tg:
        await tg.start(endpoint.start)
        v1 = runner_for(system, order_summaries, "v1")
        (await roll_out(versions, "v1", v1, task_group=tg)).unwrap()
        assert (await versions.serving()).unwrap() == "v1"
        assert len((await queries.rows(ORDERS)).unwrap()) == 40
        stop, answered = anyio.Event(), anyio.Event()

        async def keep_ordering() -> None:
            n = 100
            while not stop.is_set():
                await place(store, f"o-{n}")
                n += 1
                await anyio.sleep(0.005)

        async def keep_querying() -> None:  # over NATS, through the query endpoint
            ask = orjson.dumps({"collection": ORDERS})
            while not stop.is_set():
                reply = orjson.loads((await nc.request(endpoint.subject, ask, timeout=5)).data)
                assert reply["ok"], reply
                table = reply["rows"]
                kinds = {row.get("schema", 1) for row in table.values()}
                assert len(kinds) <= 1, f"a query saw rows of both versions: {kinds}"
                seen.append((f"v{kinds.pop() if kinds else '?'}", len(table)))
                answered.set()

        tg.start_soon(keep_ordering)
        tg.start_soon(keep_querying)
        with anyio.fail_after(10):  # the first answer comes from v1 before v2 is built
            await answered.wait()
        v2 = runner_for(system, summaries_v2, "v2")
        at = (
            await roll_out(
                versions, "v2", v2, task_group=tg, old=v1, retire="v1", collections=COLLECTIONS
            )
        ).unwrap()
        assert at >= 80
        await anyio.sleep(0.2)
        stop.set()
        await anyio.sleep(0.05)
        await v2.stop()
        await endpoint.stop()
    assert (await versions.status()).unwrap().building is None
    assert seen[0][0] == "v1"
    assert seen[-1][0] == "v2"
    switched = next(i for i, (kind, _) in enumerate(seen) if kind == "v2")
    assert all(kind == "v2" for kind, _ in seen[switched:]), "a query went back to v1"
    assert all(count >= 40 for _, count in seen), "a query saw a half-built model"
    with pytest.raises(nats.js.errors.BucketNotFoundError):
        await system["js"].key_value(versions.read_model("v1").prefix + ORDERS)


async def test_a_crash_mid_rollout_leaves_v1_serving_and_the_next_attempt_resumes(
    system: dict[str, Any],
) -> None:
    """Killed after building part of v2: v1 still serves, status says v2 is building; rerun finishes."""
    store, versions = system["store"], system["versions"]
    for n in range(10):
        await place(store, f"o-{n}")
    async with anyio.create_task_group() as tg:
        v1 = runner_for(system, order_summaries, "v1")
        (await roll_out(versions, "v1", v1, task_group=tg)).unwrap()
        (await versions.begin("v2")).unwrap()  # what roll_out does first, then the process dies
        half = runner_for(system, summaries_v2, "v2")
        (await half.catch_up()).unwrap()
        for n in range(10, 15):
            await place(store, f"o-{n}")
        status = (await versions.status()).unwrap()
        assert (status.serving, status.building) == ("v1", "v2")
        rows = (await versions.queries().rows(ORDERS)).unwrap()
        assert all("schema" not in row for row in rows.values())
        restarted = ProjectionVersions(system["js"], "summaries", prefix=versions.prefix)
        again = runner_for({**system, "versions": restarted}, summaries_v2, "v2")
        (
            await roll_out(
                restarted, "v2", again, task_group=tg, old=v1, retire="v1", collections=COLLECTIONS
            )
        ).unwrap()
        assert again.position >= 30
        await again.stop()
    final = (await restarted.queries().rows(ORDERS)).unwrap()
    assert len(final) == 15
    assert all(row["schema"] == 2 for row in final.values())
    assert (await restarted.status()).unwrap() == type(status)("v2", None)


async def test_a_crash_after_the_switch_finishes_on_the_next_attempt(
    system: dict[str, Any],
) -> None:
    """Killed between the switch and the drop: v2 serves complete rows; rerunning drops v1."""
    store, versions = system["store"], system["versions"]
    for n in range(6):
        await place(store, f"o-{n}")
    async with anyio.create_task_group() as tg:
        v1 = runner_for(system, order_summaries, "v1")
        (await roll_out(versions, "v1", v1, task_group=tg)).unwrap()
        await v1.stop()
    (await versions.begin("v2")).unwrap()
    (await runner_for(system, summaries_v2, "v2").catch_up()).unwrap()
    (await versions.switch("v2")).unwrap()  # ...and the process dies here
    rows = (await versions.queries().rows(ORDERS)).unwrap()
    assert len(rows) == 6
    assert all(row["schema"] == 2 for row in rows.values())
    with pytest.raises(ValueError, match="is serving"):
        await versions.drop("v2", COLLECTIONS)
    async with anyio.create_task_group() as tg:
        idle_v1 = runner_for(system, order_summaries, "v1")  # the restarted process's old runner
        again = runner_for(system, summaries_v2, "v2")
        (
            await roll_out(
                versions,
                "v2",
                again,
                task_group=tg,
                old=idle_v1,
                retire="v1",
                collections=COLLECTIONS,
            )
        ).unwrap()
        await again.stop()
    status = (await versions.status()).unwrap()
    assert (status.serving, status.building) == ("v2", None)
    with pytest.raises(nats.js.errors.BucketNotFoundError):
        await system["js"].key_value(versions.read_model("v1").prefix + ORDERS)


def test_versions_in_an_apps_namespace_keep_to_its_buckets() -> None:
    """ProjectionVersions.in_namespace puts every version under the app's read-model prefix."""
    versions = ProjectionVersions.in_namespace(None, Namespace("shop"), "summaries")
    assert versions.read_model("v2").prefix == "shop_rm_summaries_v2_"
    with pytest.raises(ValueError, match="letters, digits"):
        versions.read_model("v 2")
