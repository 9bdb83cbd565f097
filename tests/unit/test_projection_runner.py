"""ProjectionRunner on the in-memory store: catch-up, live, crashes, rebuild, poison, concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from pyrsistent import PMap
from returns.result import Failure, Result, Success

from cim import NewEvent, StreamId
from cim.effects import DatabaseWrite, Effect, Log
from cim.examples.bank import (
    ACCOUNTS,
    AccountOpened,
    BankEvent,
    Deposited,
    Withdrawn,
    balance_step,
    balances,
    bank_types,
)
from cim.projection import Projection, fold
from interpreters.runtime.checkpoints import InMemoryCheckpoints
from interpreters.runtime.dead_letters import DeadLetter, InMemoryDeadLetters
from interpreters.runtime.executors import EffectError, EffectFailed, InMemoryReadModel
from interpreters.runtime.runner import (
    EffectsFailed,
    PoisonEvent,
    ProjectionRunner,
    SkipToDeadLetters,
)
from interpreters.runtime.service import Supervisor
from interpreters.stores.memory import InMemoryEventStore


class ReadModel(InMemoryReadModel):
    """The in-memory read model with the reset a rebuild needs; it drops ``Log`` effects."""

    async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
        """Apply the read-model effects, ignore logs."""
        return await super().execute(e for e in effects if not isinstance(e, Log))

    async def reset(self, collections: Collection[str]) -> Result[None, EffectError]:
        """Drop every table."""
        self.clear()
        return Success(None)


class Crash(Exception):
    """The process 'dies' right after the effects of one event ran."""


class CrashingAfter(ReadModel):
    """Runs effects, and after the *n*-th batch 'crashes' before the checkpoint is saved."""

    def __init__(self, tables: ReadModel, n: int) -> None:
        super().__init__()
        self.tables = tables
        self.remaining = n

    async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
        """Apply to the shared tables; raise once the budget is spent."""
        result = await self.tables.execute(effects)
        self.remaining -= 1
        if self.remaining == 0:
            raise Crash
        return result


def history() -> list[tuple[StreamId, BankEvent]]:
    """Three accounts with interleaved deposits and withdrawals."""
    events: list[tuple[StreamId, BankEvent]] = []
    for n in range(3):
        events.append((StreamId("account", f"a{n}"), AccountOpened(f"a{n}", f"owner {n}")))
    for i in range(12):
        account = f"a{i % 3}"
        event: BankEvent = Deposited(account, 10 + i) if i % 4 else Withdrawn(account, 3)
        events.append((StreamId("account", account), event))
    return events


async def filled(events: Sequence[tuple[StreamId, BankEvent]]) -> InMemoryEventStore:
    """An in-memory store holding *events*."""
    store = InMemoryEventStore(types=bank_types)
    for stream, event in events:
        (await store.append(stream, [NewEvent(event)])).unwrap()
    return store


async def expected_tables(events: Sequence[tuple[StreamId, BankEvent]]) -> PMap[str, Any]:
    """The accounts table a from-scratch fold of *events* produces."""
    model = ReadModel()
    (await model.execute(fold(balances, [e for _, e in events]).effects)).unwrap()
    return model.rows(ACCOUNTS)


async def wait_for(runner: ProjectionRunner[Any, Any], position: int) -> None:
    """Wait (bounded) until *runner* has processed *position*."""
    with anyio.fail_after(5):
        while runner.position < position:  # noqa: ASYNC110 - polling a plain attribute
            await anyio.sleep(0.005)


@pytest.mark.anyio
async def test_catch_up_equals_a_fold_and_records_the_checkpoint() -> None:
    """Catching up writes exactly the fold's read model and checkpoints the last position."""
    events = history()
    store = await filled(events)
    model, checkpoints = ReadModel(), InMemoryCheckpoints()
    runner = ProjectionRunner(balances, store, model, checkpoints)
    assert await runner.catch_up() == Success(len(events))
    assert model.rows(ACCOUNTS) == await expected_tables(events)
    assert await checkpoints.load("balances") == Success(len(events))
    assert runner.state == fold(balances, [e for _, e in events]).state


@pytest.mark.anyio
@pytest.mark.parametrize("cut", [1, 2, 4, 7, 11, 15])
async def test_a_crash_between_effects_and_checkpoint_resumes_to_the_same_read_model(
    cut: int,
) -> None:
    """Crash after the effects of event *cut* (checkpoint not saved); a restart ends as a fold."""
    events = history()
    store = await filled(events)
    tables, checkpoints = ReadModel(), InMemoryCheckpoints()
    crashing = ProjectionRunner(balances, store, CrashingAfter(tables, cut), checkpoints)
    with pytest.raises(Crash):
        await crashing.catch_up()
    assert await checkpoints.load("balances") == Success(cut - 1)
    restarted = ProjectionRunner(balances, store, tables, checkpoints)
    assert await restarted.catch_up() == Success(len(events))
    assert tables.rows(ACCOUNTS) == await expected_tables(events)


@pytest.mark.anyio
async def test_live_events_are_followed_and_rebuild_equals_live() -> None:
    """Events appended while running reach the read model; a rebuild reproduces it exactly."""
    events = history()
    store = await filled(events[:5])
    model, checkpoints = ReadModel(), InMemoryCheckpoints()
    runner = ProjectionRunner(balances, store, model, checkpoints, collections=[ACCOUNTS])
    async with anyio.create_task_group() as tg:
        await tg.start(runner.start)
        for stream, event in events[5:]:
            await store.append(stream, [NewEvent(event)])
        await wait_for(runner, len(events))
        await runner.stop()
    live = model.rows(ACCOUNTS)
    assert live == await expected_tables(events)
    model.apply(DatabaseWrite(ACCOUNTS, "junk", {"left": "over"}))
    assert await runner.rebuild() == Success(len(events))
    assert model.rows(ACCOUNTS) == live


@pytest.mark.anyio
async def test_a_failing_step_stops_the_runner_before_the_poison_event() -> None:
    """With the default policy a raising step stops the runner; the checkpoint stays before it."""
    events = history()
    store = await filled(events)

    def fragile(state: PMap[str, int], event: BankEvent) -> tuple[PMap[str, int], Any]:
        if isinstance(event, Withdrawn) and event.account_id == "a1":
            raise ValueError("cannot handle this withdrawal")
        return balance_step(state, event)

    checkpoints = InMemoryCheckpoints()
    runner = ProjectionRunner(
        Projection("fragile", balances.initial, fragile), store, ReadModel(), checkpoints
    )
    poison = 1 + next(
        i for i, (_, e) in enumerate(events) if isinstance(e, Withdrawn) and e.account_id == "a1"
    )
    result = await runner.catch_up()
    assert result == Failure(
        PoisonEvent("fragile", poison, "step raised ValueError: cannot handle this withdrawal")
    )
    assert await checkpoints.load("fragile") == Success(poison - 1)


@pytest.mark.anyio
async def test_a_failing_step_is_dead_lettered_and_the_runner_goes_on() -> None:
    """With SkipToDeadLetters the poison event is recorded with its reason and skipped."""
    events = history()
    store = await filled(events)

    def fragile(state: PMap[str, int], event: BankEvent) -> tuple[PMap[str, int], Any]:
        if isinstance(event, Withdrawn) and event.account_id == "a1":
            raise ValueError("cannot handle this withdrawal")
        return balance_step(state, event)

    letters = InMemoryDeadLetters()
    runner = ProjectionRunner(
        Projection("fragile", balances.initial, fragile),
        store,
        ReadModel(),
        InMemoryCheckpoints(),
        poison=SkipToDeadLetters(letters),
    )
    assert await runner.catch_up() == Success(len(events))
    recorded = (await letters.letters("fragile")).unwrap()
    assert len(recorded) == 1
    (letter,) = recorded
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "step raised ValueError: cannot handle this withdrawal"
    assert letter.event_type == "Withdrawn"


@pytest.mark.anyio
async def test_failing_effects_stop_the_runner_without_moving_the_checkpoint() -> None:
    """An executor failure is an EffectsFailed value and the event is not checkpointed."""

    class Refusing(ReadModel):
        async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
            """Refuse every batch."""
            batch = tuple(effects)
            return Failure(EffectFailed(batch[0], "disk full"))

    store = await filled(history())
    checkpoints = InMemoryCheckpoints()
    result = await ProjectionRunner(balances, store, Refusing(), checkpoints).catch_up()
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), EffectsFailed)
    assert result.failure().position == 1
    assert await checkpoints.load("balances") == Success(0)


@pytest.mark.anyio
async def test_projections_run_concurrently_under_one_supervisor_and_leave_no_tasks() -> None:
    """Two runners follow the same store side by side and stop cleanly."""
    before = set(asyncio.all_tasks())
    events = history()
    store = await filled(events[:3])
    counting: Projection[int, BankEvent] = Projection("count", 0, lambda n, e: (n + 1, ()))
    a = ProjectionRunner(balances, store, ReadModel(), InMemoryCheckpoints())
    b = ProjectionRunner(counting, store, ReadModel(), InMemoryCheckpoints())
    supervisor = Supervisor([a, b], signals=())
    async with anyio.create_task_group() as tg:
        await tg.start(supervisor.run)
        for stream, event in events[3:]:
            await store.append(stream, [NewEvent(event)])
        await wait_for(a, len(events))
        await wait_for(b, len(events))
        assert (await supervisor.health()).overall.state.value == "healthy"
        supervisor.stop()
    assert b.state == len(events)
    await anyio.lowlevel.checkpoint()
    assert set(asyncio.all_tasks()) == before


def test_collections_without_a_resettable_executor_are_refused() -> None:
    """Naming collections to rebuild needs an executor that can reset them."""
    store = InMemoryEventStore(types=bank_types)
    with pytest.raises(TypeError, match="reset"):
        ProjectionRunner(
            balances, store, InMemoryReadModel(), InMemoryCheckpoints(), collections=["x"]
        )
