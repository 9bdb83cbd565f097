"""Catch-up and rebuild in batches (issue #18): coalesced KV writes, one checkpoint per batch,
the same read model as event by event, and failures that land on the exact event."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any
from uuid import uuid4

import nats
import pytest
from nats.js.api import StreamConfig
from pyrsistent import PMap, pmap
from returns.result import Failure, Success

from cim import NewEvent, StreamId
from cim.effects import (
    DatabaseDelete,
    DatabaseEffect,
    DatabaseUpdate,
    DatabaseWrite,
    Effect,
    Publish,
)
from cim.examples.bank import Deposited, bank_types
from cim.projection import Projection, fold
from interpreters.runtime.checkpoints import KvCheckpoints
from interpreters.runtime.executors import InMemoryReadModel
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.read_model import KvReadModel, thaw
from interpreters.runtime.runner import (
    BatchExecutor,
    EffectsFailed,
    PoisonEvent,
    ProjectionRunner,
)
from interpreters.stores.jetstream import JetStreamEventStore

pytestmark = pytest.mark.anyio

ACCOUNTS = 7
EVENTS = 1234


def unique(prefix: str) -> str:
    """A bucket/subject-safe name no other test uses."""
    return f"{prefix}_{uuid4().hex[:10]}"


@pytest.fixture
async def store(nats_url: str) -> AsyncIterator[JetStreamEventStore]:
    """A store on its own stream holding EVENTS deposits of 0, 1, ... (the deposit of n at
    position n + 1), in runs of 100 per account, round-robin over ACCOUNTS accounts."""
    name = unique("BATCH")
    async with await JetStreamEventStore.connect(
        nats_url, types=bank_types, stream=name, subject_prefix=name.lower()
    ) as opened:
        for start in range(0, EVENTS, 100):
            account = str(account_of(start))
            amounts = range(start, min(start + 100, EVENTS))
            events = [NewEvent(Deposited(account, n)) for n in amounts]
            (await opened.append(StreamId("acct", account), events)).unwrap()
        yield opened
        await opened.nc.jetstream().delete_stream(name)


def account_of(amount: int) -> int:
    """The account the deposit of *amount* went to."""
    return (amount // 100) % ACCOUNTS


def balances(table: str, announce: str | None = None, *, poison: int | None = None) -> Any:
    """A projection keeping each account's total and count in *table* (announcing each deposit
    on ``<announce>.<account>``); a deposit of *poison* makes ``step`` raise."""

    def step(state: PMap[str, int], event: Deposited) -> tuple[PMap[str, int], Sequence[Effect]]:
        if event.amount == poison:
            raise ValueError("poison")
        total = state.get(event.account_id, 0) + event.amount
        effects: list[Effect] = [
            DatabaseUpdate(table, f"a{event.account_id}", {"total": total}),
            DatabaseUpdate(table, f"a{event.account_id}", {"last": event.amount}),
        ]
        if event.amount % 100 == 0:
            effects.append(DatabaseWrite(table, f"h{event.amount}", {"at": event.amount}))
        if event.amount % 200 == 0:
            effects.append(DatabaseDelete(table, f"h{event.amount - 100}"))
        if announce is not None:
            effects.append(Publish(f"{announce}.{event.account_id}", str(total).encode()))
        return state.set(event.account_id, total), effects

    return Projection(f"balances-{table}", pmap(), step)


async def folded(store: JetStreamEventStore, projection: Any) -> dict[str, Any]:
    """The read model a from-scratch fold of every stored event produces."""
    payloads = [item.unwrap().payload async for item in store.read_all()]
    model = InMemoryReadModel()
    writes = [e for e in fold(projection, payloads).effects if not isinstance(e, Publish)]
    (await model.execute(writes)).unwrap()
    table = next(e.collection for e in writes if isinstance(e, DatabaseUpdate))
    return {key: dict(thaw(row)) for key, row in model.rows(table).items()}


async def test_apply_all_leaves_the_row_applying_each_change_in_turn_leaves(
    nats_url: str,
) -> None:
    """apply_all equals apply per change, also on a row already ahead, and a replay is a no-op."""
    nc = await nats.connect(nats_url)
    try:
        model = KvReadModel(nc.jetstream())
        one, other = unique("one"), unique("other")

        def changes(table: str) -> list[tuple[tuple[int, int], DatabaseEffect]]:
            return [
                ((3, 0), DatabaseWrite(table, "k", {"n": 3, "m": 3})),
                ((4, 0), DatabaseUpdate(table, "k", {"n": 4})),
                ((5, 0), DatabaseUpdate(table, "k", {"m": 9})),
                ((6, 1), DatabaseUpdate(table, "k", {"n": 6})),
            ]

        for table in (one, other):  # the row is ahead: the change at (5, 0) is in already
            await model.apply(DatabaseWrite(table, "k", {"n": 0, "m": 5}), applied=(5, 0))
        for applied, effect in changes(one):
            await model.apply(effect, applied=applied)
        assert await model.apply_all(other, "k", changes(other)) == Success(True)
        mine, theirs = (await model.get(one, "k")).unwrap(), (await model.get(other, "k")).unwrap()
        assert mine is not None
        assert theirs is not None
        assert (theirs.data, theirs.applied) == (mine.data, mine.applied)
        row = (await model.get(other, "k")).unwrap()
        assert row is not None
        assert (row.data, row.applied) == ({"n": 6, "m": 5}, (6, 1))
        assert await model.apply_all(other, "k", changes(other)) == Success(False)
        bad = await model.apply_all("no spaces please", "k", changes(other))
        assert isinstance(bad, Failure)
    finally:
        await nc.close()


async def test_remembered_rows_notice_other_writers(nats_url: str) -> None:
    """A row apply_all remembers is read again when someone else wrote or purged it since."""
    nc = await nats.connect(nats_url)
    try:
        mine, theirs = KvReadModel(nc.jetstream()), KvReadModel(nc.jetstream())
        table = unique("rows")
        first = [((1, 0), DatabaseWrite(table, "k", {"n": 1}))]
        assert await mine.apply_all(table, "k", first) == Success(True)
        await theirs.apply(DatabaseUpdate(table, "k", {"m": 2}), applied=(2, 0))
        later = [((3, 0), DatabaseUpdate(table, "k", {"n": 3}))]
        assert await mine.apply_all(table, "k", later) == Success(True)
        row = (await theirs.get(table, "k")).unwrap()
        assert row is not None
        assert (row.data, row.applied) == ({"n": 3, "m": 2}, (3, 0))
        assert await theirs.clear(table) == Success(None)
        older = [((2, 5), DatabaseWrite(table, "k", {"n": 2}))]
        assert await mine.apply_all(table, "k", older) == Success(True)  # the row is gone
        assert await mine.rows(table) == Success({"k": {"n": 2}})
    finally:
        await nc.close()


@pytest.mark.parametrize("batch", [1, 100, 5000])
async def test_rebuild_in_batches_equals_the_fold_and_publishes_once(
    store: JetStreamEventStore, batch: int
) -> None:
    """A rebuild with any batch size leaves the fold's rows and one publish per deposit."""
    nc, js = store.nc, store.nc.jetstream()
    table, announce = unique("bal"), unique("ANN")
    await js.add_stream(StreamConfig(name=announce, subjects=[f"{announce}.>"]))
    projection = balances(table, announce)
    executor = NatsExecutor(nc, js, store=store)
    assert isinstance(executor, BatchExecutor)
    checkpoints = await KvCheckpoints.open(js, unique("cp"))
    runner = ProjectionRunner(
        projection, store, executor, checkpoints, collections=[table], catch_up_batch=batch
    )
    assert await runner.rebuild() == Success(EVENTS)
    assert await checkpoints.load(projection.name) == Success(EVENTS)
    assert (await executor.read_model.rows(table)).unwrap() == await folded(store, projection)
    assert (await js.stream_info(announce)).state.messages == EVENTS
    bucket = f"KV_{executor.read_model.prefix}{table}"
    rows_written = (await js.stream_info(bucket)).state.last_seq
    if batch > 1:  # each row is written once per batch, not once per change
        assert rows_written < EVENTS // 10
    else:
        assert rows_written > EVENTS
    again = ProjectionRunner(projection, store, executor, checkpoints, catch_up_batch=batch)
    (await checkpoints.save(projection.name, 0)).unwrap()  # as if every checkpoint was lost
    assert await again.catch_up() == Success(EVENTS)
    assert (await js.stream_info(bucket)).state.last_seq == rows_written  # no write
    assert (await js.stream_info(announce)).state.messages == EVENTS
    await js.delete_stream(announce)


async def test_a_failing_batch_is_run_again_event_by_event_and_fails_on_its_event(
    store: JetStreamEventStore,
) -> None:
    """Effects that fail in a batch: the failure and the checkpoint land on the exact event,
    and once fixed, the runner ends with the fold."""
    js = store.nc.jetstream()
    table = unique("bal")
    inner = balances(table)

    def step(state: PMap[str, int], event: Deposited) -> tuple[PMap[str, int], Sequence[Effect]]:
        state, effects = inner.step(state, event)
        if event.amount == 250:  # an invalid key: the read model refuses it
            effects = [*effects, DatabaseWrite(table, "not a key", {})]
        return state, effects

    projection = Projection(inner.name, inner.initial, step)
    executor = NatsExecutor(store.nc, js)
    checkpoints = await KvCheckpoints.open(js, unique("cp"))
    runner = ProjectionRunner(projection, store, executor, checkpoints, catch_up_batch=100)
    failed = await runner.catch_up()
    assert isinstance(failed, Failure)
    error = failed.failure()
    assert isinstance(error, EffectsFailed)
    assert error.position == 251  # the deposit of 250 is the 251st event
    assert await checkpoints.load(projection.name) == Success(250)
    assert runner.position == 250
    fixed = ProjectionRunner(inner, store, executor, checkpoints, catch_up_batch=100)
    assert await fixed.catch_up() == Success(EVENTS)  # effects of the batch that ran: no harm
    assert (await executor.read_model.rows(table)).unwrap() == await folded(store, inner)


async def test_a_poison_event_ends_the_batch_before_it(store: JetStreamEventStore) -> None:
    """A step that raises mid-batch: the events before it are applied and saved, then it stops."""
    js = store.nc.jetstream()
    table = unique("bal")
    projection = balances(table, poison=700)
    executor = NatsExecutor(store.nc, js)
    checkpoints = await KvCheckpoints.open(js, unique("cp"))
    runner = ProjectionRunner(projection, store, executor, checkpoints, catch_up_batch=500)
    failed = await runner.catch_up()
    assert isinstance(failed, Failure)
    assert isinstance(failed.failure(), PoisonEvent)
    assert failed.failure().position == 701
    assert await checkpoints.load(projection.name) == Success(700)
    rows = (await executor.read_model.rows(table)).unwrap()
    assert rows[f"a{account_of(699)}"]["last"] == 699
