"""Several apps on one server, projections that see only their categories, and visible dead
letters (log, health, status service, ``cim dead-letters``), on a real nats-server."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import uuid4

import anyio
import nats
import orjson
import pytest
from attrs import frozen
from typer.testing import CliRunner

from cim import EventTypes, NewEvent, StreamId
from cim.effects import DatabaseWrite, Effect
from cim.examples.order_flow import (
    ORDER_STATS,
    ORDERS,
    OrderPlaced,
    PlaceOrder,
    order,
    order_flow_types,
    order_summaries,
)
from cim.projection import Projection, fold_stored
from interpreters.cli import app
from interpreters.runtime.checkpoints import KvCheckpoints
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.dead_letters import DeadLetter, KvDeadLetters
from interpreters.runtime.executors import InMemoryReadModel
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.read_model import KvReadModel
from interpreters.runtime.runner import ProjectionRunner, SkipToDeadLetters
from interpreters.runtime.runner_service import RunnerService, runner_subject
from interpreters.runtime.service import HealthState
from interpreters.stores.jetstream import JetStreamEventStore

NONE_YET: tuple[Any, ...] = ()
"""An empty tuple typed for projections that collect what they see."""


@frozen
class CopyAdded:
    """Another app's event, in its own category on the same stream."""

    copy_id: str


TYPES = order_flow_types | EventTypes().register(CopyAdded)


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Any]:
    """A connection to the test server, closed afterwards."""
    client = await nats.connect(nats_url)
    try:
        yield client
    finally:
        await client.close()


async def open_store(nc: Any, name: str | None = None) -> JetStreamEventStore:
    """A store on a stream and subject prefix of its own."""
    tag = name or f"ns{uuid4().hex[:8]}"
    return await JetStreamEventStore.from_client(
        nc, types=TYPES, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )


async def place(store: JetStreamEventStore, order_id: str, customer: str) -> None:
    """Place one order through the command handler."""
    handler = CommandHandler(order, store)
    placed = await handler.handle(StreamId("order", order_id), PlaceOrder(order_id, customer, 100))
    placed.unwrap()


@pytest.mark.anyio
async def test_two_apps_on_one_server_keep_separate_state(nc: Any) -> None:
    """Same projection name, default namespaces: checkpoints, rows and dead letters stay apart."""
    js = nc.jetstream()
    first, second = await open_store(nc), await open_store(nc)
    try:
        await place(first, "o-1", "ada")
        await place(first, "o-2", "ada")
        await place(second, "o-1", "bob")
        positions = []
        for store in (first, second):
            namespace = Namespace.of(store)
            assert namespace.name == store.stream_name
            runner = ProjectionRunner(
                order_summaries,
                store,
                NatsExecutor(nc, js, store=store),
                await KvCheckpoints.open(js, namespace),
                poison=SkipToDeadLetters(await KvDeadLetters.open(js, namespace)),
            )
            positions.append((await runner.catch_up()).unwrap())
        assert positions == [2, 1]  # the second app did not resume from the first's checkpoint
        for store, customer in ((first, "ada"), (second, "bob")):
            namespace = Namespace.of(store)
            row = (await KvReadModel.in_namespace(js, namespace).get(ORDERS, "o-1")).unwrap()
            assert row is not None
            assert row.data is not None
            assert row.data["customer"] == customer
            assert row.applied == (1, 0)  # app B's write at position 1 was not skipped
            checkpoints = await KvCheckpoints.open(js, namespace)
            assert checkpoints.bucket == f"{store.stream_name}_checkpoints"
        first_letters = await KvDeadLetters.open(js, Namespace.of(first))
        (await first_letters.record(DeadLetter("order_summaries", 2, "only in app A"))).unwrap()
        second_letters = await KvDeadLetters.open(js, Namespace.of(second))
        assert (await second_letters.letters("order_summaries")).unwrap() == ()
        assert len((await first_letters.letters("order_summaries")).unwrap()) == 1
    finally:
        await first.close()
        await second.close()


def _categories_seen(
    seen: tuple[str, ...], envelope: Any
) -> tuple[tuple[str, ...], Sequence[Effect]]:
    return (*seen, envelope.stream.category), ()


@pytest.mark.anyio
async def test_projection_over_a_category_never_sees_another(nc: Any) -> None:
    """order_summaries reads only orders: the other app's CopyAdded never reaches step."""
    js = nc.jetstream()
    store = await open_store(nc)
    try:
        await place(store, "o-1", "ada")
        copy = [NewEvent(CopyAdded("c-1"))]
        (await store.append(StreamId("library", "c-1"), copy)).unwrap()
        await place(store, "o-2", "bob")
        namespace = Namespace.of(store)
        letters = await KvDeadLetters.open(js, namespace)
        runner = ProjectionRunner(
            order_summaries,
            store,
            NatsExecutor(nc, js, store=store),
            await KvCheckpoints.open(js, namespace),
            collections=[ORDERS, ORDER_STATS],
            poison=SkipToDeadLetters(letters),
        )
        assert (await runner.catch_up()).unwrap() == 3
        assert (await letters.letters("order_summaries")).unwrap() == ()
        assert sorted(runner.state) == ["o-1", "o-2"]

        spy = Projection("spy", NONE_YET, _categories_seen).consuming(
            categories=["order"], envelopes=True
        )
        spying = ProjectionRunner(
            spy, store, InMemoryReadModel(), await KvCheckpoints.open(js, namespace)
        )
        assert (await spying.catch_up()).unwrap() == 3
        assert spying.state == ("order", "order")

        everything = ProjectionRunner(
            order_summaries.consuming(),  # the old behaviour: every category
            store,
            InMemoryReadModel(),
            await KvCheckpoints.open(js, Namespace(f"{namespace}_all")),
            poison=SkipToDeadLetters(letters),
        )
        assert (await everything.catch_up()).unwrap() == 3
        [letter] = (await letters.letters("order_summaries")).unwrap()
        assert (letter.position, letter.event_type) == (2, "CopyAdded")  # the failure
    finally:
        await store.close()


def _where(seen: tuple[Any, ...], envelope: Any) -> tuple[tuple[Any, ...], Sequence[Effect]]:
    where = (str(envelope.stream), envelope.version, envelope.position, str(envelope.event_id))
    return (*seen, where), (DatabaseWrite("where", str(envelope.position), {"at": where[0]}),)


@pytest.mark.anyio
async def test_envelope_projection_under_the_runner(nc: Any) -> None:
    """With envelopes=True step sees stream, version, position and ids, live and caught up."""
    js = nc.jetstream()
    store = await open_store(nc)
    try:
        await place(store, "o-1", "ada")
        (await store.append(StreamId("library", "c-1"), [NewEvent(CopyAdded("c-1"))])).unwrap()
        projection = Projection("where", NONE_YET, _where).consuming(
            categories=["order"], envelopes=True
        )
        runner = ProjectionRunner(
            projection,
            store,
            NatsExecutor(nc, js, store=store),
            await KvCheckpoints.open(js, Namespace.of(store)),
        )
        async with anyio.create_task_group() as group:
            await group.start(runner.start)
            await place(store, "o-2", "bob")
            with anyio.fail_after(10):
                while runner.position < 3:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
            await runner.stop()
        stored = [item.unwrap() async for item in store.read_all()]
        assert runner.state == fold_stored(projection, stored).state
        assert [(s, v, p) for s, v, p, _ in runner.state] == [
            ("order.o-1", 1, 1),
            ("order.o-2", 1, 3),
        ]
        row = (await KvReadModel.in_namespace(js, Namespace.of(store)).get("where", "3")).unwrap()
        assert row is not None
        assert row.data == {"at": "order.o-2"}
    finally:
        await store.close()


BROKEN: set[str] = set()
"""Order ids the 'deployed' step fails on; emptying it is the fix (a test stand-in for a deploy)."""


def _fragile(count: int, event: OrderPlaced) -> tuple[int, Sequence[Effect]]:
    if event.order_id in BROKEN:
        raise ValueError(f"cannot summarise {event.order_id}")
    return count + 1, (DatabaseWrite("fragile", event.order_id, {"n": count + 1}),)


def cim(*args: str) -> Any:
    """Run ``cim ARGS`` in process and return the click result."""
    return CliRunner().invoke(app, list(args))


@pytest.mark.anyio
async def test_dead_letters_are_logged_degrade_health_and_are_listed_shown_and_redriven(
    nc: Any, nats_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A dead letter: WARNING log, degraded health and status, cim dead-letters list/show, a
    failing re-drive keeps it, a re-drive after the fix removes it and writes the row."""
    js = nc.jetstream()
    store = await open_store(nc)
    BROKEN.add("o-2")
    try:
        namespace = Namespace.of(store)
        letters = await KvDeadLetters.open(js, namespace)
        fragile = Projection("fragile", 0, _fragile).consuming(categories=["order"])
        runner = ProjectionRunner(
            fragile,
            store,
            NatsExecutor(nc, js, store=store),
            await KvCheckpoints.open(js, namespace),
            poison=SkipToDeadLetters(letters),
        )
        service = RunnerService(nc, runner)
        subject = runner_subject(namespace, "fragile")
        common = ("--nats-url", nats_url, "--stream", store.stream_name)
        async with anyio.create_task_group() as group:
            with caplog.at_level(logging.WARNING, logger="cim.runner"):
                await group.start(service.start)
                for order_id in ("o-1", "o-2", "o-3"):
                    await place(store, order_id, "ada")
                with anyio.fail_after(10):
                    while runner.position < 3:  # noqa: ASYNC110
                        await anyio.sleep(0.01)
            [record] = [r for r in caplog.records if r.name == "cim.runner"]
            assert (record.projection, record.position) == ("fragile", 2)  # type: ignore[attr-defined]
            assert "cannot summarise o-2" in record.getMessage()
            health = await service.health_check()
            assert health.state is HealthState.DEGRADED
            assert "1 dead letter(s)" in health.reason

            status = orjson.loads((await nc.request(f"{subject}.status", b"", timeout=5)).data)
            assert status["health"]["state"] == "degraded"
            assert (status["position"], status["lag"], status["dead_letters"]) == (3, 0, 1)
            info = orjson.loads((await nc.request("$SRV.INFO.fragile-runner", b"", timeout=5)).data)
            assert info["metadata"]["namespace"] == namespace.name
            assert {e["subject"] for e in info["endpoints"]} == {
                f"{subject}.status",
                f"{subject}.redrive",
            }
            refused = await nc.request(f"{subject}.redrive", b"{not json", timeout=5)
            assert refused.headers["Nats-Service-Error-Code"] == "400"
            stats = orjson.loads(
                (await nc.request("$SRV.STATS.fragile-runner", b"", timeout=5)).data
            )
            counts = {e["name"]: (e["num_requests"], e["num_errors"]) for e in stats["endpoints"]}
            assert counts == {"status": (1, 0), "redrive": (1, 1)}, stats

            found = await anyio.to_thread.run_sync(cim, "runners", "--nats-url", nats_url, "--json")
            assert found.exit_code == 0, found.stderr
            [mine] = [r for r in orjson.loads(found.stdout) if r["namespace"] == namespace.name]
            assert (mine["projection"], mine["health"]["state"]) == ("fragile", "degraded")
            table = await anyio.to_thread.run_sync(cim, "runners", "--nats-url", nats_url)
            assert "fragile" in table.stdout

            listed = await anyio.to_thread.run_sync(cim, "dead-letters", "list", *common, "--json")
            assert listed.exit_code == 0, listed.stderr
            [letter] = orjson.loads(listed.stdout)["dead_letters"]
            assert (letter["projection"], letter["position"]) == ("fragile", 2)
            assert "cannot summarise o-2" in letter["reason"]
            shown = await anyio.to_thread.run_sync(
                cim,
                "dead-letters",
                "show",
                "fragile",
                "2",
                *common,
                "--prefix",
                store.subject_prefix,
                "--json",
            )
            assert shown.exit_code == 0, shown.stderr
            assert orjson.loads(shown.stdout)["event"]["stream"] == "order.o-2"

            again = await anyio.to_thread.run_sync(
                cim, "dead-letters", "redrive", "fragile", "2", *common
            )
            assert again.exit_code == 1
            assert "cannot summarise o-2" in again.stderr
            assert len((await letters.letters("fragile")).unwrap()) == 1

            BROKEN.clear()  # the fix is deployed
            redriven = await anyio.to_thread.run_sync(
                cim, "dead-letters", "redrive", "fragile", "2", *common
            )
            assert redriven.exit_code == 0, redriven.stderr
            assert (await letters.letters("fragile")).unwrap() == ()
            assert (await service.health_check()).state is HealthState.HEALTHY
            model = KvReadModel.in_namespace(js, namespace)
            assert (await model.get("fragile", "o-2")).unwrap() is not None
            missing = await anyio.to_thread.run_sync(
                cim, "dead-letters", "redrive", "fragile", "2", *common
            )
            assert missing.exit_code == 1
            assert "no dead letter" in missing.stderr
            await service.stop()
        nobody = await anyio.to_thread.run_sync(
            cim, "dead-letters", "redrive", "fragile", "2", *common
        )
        assert nobody.exit_code == 2
        assert "no runner of fragile answers" in nobody.stderr
        empty = await anyio.to_thread.run_sync(cim, "dead-letters", "list", *common)
        assert empty.exit_code == 0
        assert "no dead letters" in empty.stdout
    finally:
        BROKEN.clear()
        await store.close()


@pytest.mark.anyio
async def test_status_counts_the_lag_of_the_consumed_categories(nc: Any) -> None:
    """status lag: events of the projection's categories after its position, counted by the server."""
    js = nc.jetstream()
    store = await open_store(nc)
    try:
        await place(store, "o-1", "ada")
        (await store.append(StreamId("library", "c-1"), [NewEvent(CopyAdded("c-1"))])).unwrap()
        await place(store, "o-2", "bob")
        runner = ProjectionRunner(
            order_summaries,
            store,
            NatsExecutor(nc, js, store=store),
            await KvCheckpoints.open(js, Namespace.of(store)),
        )
        service = RunnerService(nc, runner)
        before = await service.status()
        assert (before["position"], before["lag"]) == (0, 2)  # the library event is not counted
        assert before["consumes"] == {
            "categories": ["order"],
            "event_types": None,
            "envelopes": False,
        }
        both = ProjectionRunner(
            order_summaries.consuming(categories=["order", "library"]),
            store,
            InMemoryReadModel(),
            await KvCheckpoints.open(js, Namespace.of(store)),
        )
        assert (await RunnerService(nc, both).status())["lag"] == 3
        mixed = order_summaries.consuming(categories=["order"], event_types=[OrderPlaced, "X"])
        typed = ProjectionRunner(
            mixed, store, InMemoryReadModel(), await KvCheckpoints.open(js, Namespace.of(store))
        )
        assert (await RunnerService(nc, typed).status())["consumes"]["event_types"] == [
            "OrderPlaced",
            "X",
        ]
        assert (await runner.catch_up()).unwrap() == 3
        assert (await service.status())["lag"] == 0
    finally:
        await store.close()


@pytest.mark.anyio
async def test_cim_dead_letters_reads_a_bucket_by_name(nc: Any, nats_url: str) -> None:
    """--bucket reads letters kept under another name (as before namespaces); show finds one."""
    bucket = f"old_letters_{uuid4().hex[:8]}"
    letters = await KvDeadLetters.open(nc.jetstream(), bucket)
    (await letters.record(DeadLetter("legacy", 5, "from before", "e-5", "Placed"))).unwrap()
    listed = await anyio.to_thread.run_sync(
        cim, "dead-letters", "list", "--nats-url", nats_url, "--bucket", bucket
    )
    assert listed.exit_code == 0, listed.stderr
    assert "legacy" in listed.stdout
    assert "from before" in listed.stdout
    missing = await anyio.to_thread.run_sync(
        cim, "dead-letters", "show", "legacy", "6", "--nats-url", nats_url, "--bucket", bucket
    )
    assert missing.exit_code == 1
    assert "no dead letter of legacy at position 6" in missing.stderr
