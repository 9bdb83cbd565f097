"""CommandHandler's per-stream writer on the in-memory store: order, groups, cancellation, full
queues, command ids (issue 14)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from attrs import frozen
from returns.result import Failure, Result, Success

from cim import (
    AnyVersion,
    AppendError,
    AppendResult,
    EventTooLarge,
    EventTypes,
    Exactly,
    ExpectedVersion,
    NewEvent,
    StoreUnavailable,
    StreamId,
    WrongExpectedVersion,
)
from cim.decider import Decider, state_of
from cim.examples.bank import (
    AccountOpened,
    Deposit,
    Deposited,
    OpenAccount,
    Withdraw,
    account,
    bank_types,
)
from interpreters.runtime.commands import (
    COMMAND_DIGEST,
    COMMAND_ID,
    CommandHandler,
    CommandIdReused,
    Handled,
    Overloaded,
    command_event_id,
)
from interpreters.stores.memory import InMemoryEventStore

pytestmark = pytest.mark.anyio
ACC = StreamId("account", "acc-1")


class GatedStore(InMemoryEventStore):
    """An in-memory store whose appends wait for ``gate`` while ``closed_gate`` is true, and
    which counts the appends it was asked for."""

    closed_gate: bool = False
    gate: anyio.Event
    appends: int = 0
    waiting: anyio.Event

    def arm(self) -> None:
        """Hold the next appends until :meth:`release`."""
        self.closed_gate = True
        self.gate = anyio.Event()
        self.waiting = anyio.Event()

    def release(self) -> None:
        """Let held appends through."""
        self.closed_gate = False
        self.gate.set()

    async def append(
        self,
        stream: StreamId,
        events: Sequence[NewEvent[Any]],
        *,
        expected: ExpectedVersion = AnyVersion(),  # noqa: B008 - a frozen value
    ) -> Result[AppendResult, AppendError]:
        """Wait at the gate if it is closed, then append."""
        self.appends += 1
        if self.closed_gate:
            self.waiting.set()
            await self.gate.wait()
        return await super().append(stream, events, expected=expected)


async def opened(store: InMemoryEventStore, **options: Any) -> CommandHandler[Any, Any, Any]:
    """A handler whose account acc-1 is open."""
    handler: CommandHandler[Any, Any, Any] = CommandHandler(account, store, **options)
    assert isinstance(await handler.handle(ACC, OpenAccount("acc-1", "Ada")), Success)
    return handler


async def test_commands_waiting_behind_an_append_go_out_together_in_arrival_order() -> None:
    """While one append is held, later commands queue; they are decided in arrival order, each
    on the state before it, and appended in one go (a chain on this store)."""
    store = GatedStore(types=bank_types)
    handler = await opened(store)
    store.arm()
    results: dict[int, Result[Handled[Any], Any]] = {}

    async def deposit(amount: int) -> None:
        results[amount] = await handler.handle(ACC, Deposit(amount))

    async with anyio.create_task_group() as tg:
        tg.start_soon(deposit, 1)
        await store.waiting.wait()
        for amount in (10, 100, 1000):
            tg.start_soon(deposit, amount)
            await anyio.wait_all_tasks_blocked()
        before = store.appends
        store.release()
    assert store.appends - before == 3  # one chain of three single appends
    versions = {amount: r.unwrap().version for amount, r in results.items()}
    assert versions == {1: 2, 10: 3, 100: 4, 1000: 5}
    assert results[1000].unwrap().state.balance == 1111
    stored = (await store.read(ACC)).unwrap()
    assert state_of(account, (e.payload for e in stored)) == results[1000].unwrap().state
    assert [results[a].unwrap().position for a in (1, 10, 100, 1000)] == [
        e.position for e in stored[1:]
    ]


async def test_a_rejection_inside_a_group_is_decided_on_the_state_before_it() -> None:
    """A withdrawal queued after a deposit sees that deposit; one queued too far is rejected."""
    store = GatedStore(types=bank_types)
    handler = await opened(store)
    store.arm()
    results: list[Result[Handled[Any], Any]] = []

    async def run(command: Any) -> None:
        results.append(await handler.handle(ACC, command))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, Deposit(5))
        await store.waiting.wait()
        for command in (Deposit(10), Withdraw(12), Withdraw(12)):
            tg.start_soon(run, command)
            await anyio.wait_all_tasks_blocked()
        store.release()
    outcomes = [type(r).__name__ for r in results]
    assert outcomes == ["Success", "Success", "Success", "Failure"]
    assert results[2].unwrap().state.balance == 3


async def test_cancelling_a_queued_command_withdraws_it_and_stalls_nobody() -> None:
    """A cancelled caller's command, still waiting, is never appended; the others complete."""
    store = GatedStore(types=bank_types)
    handler = await opened(store)
    store.arm()
    results: dict[int, Result[Handled[Any], Any]] = {}

    async def deposit(amount: int) -> None:
        results[amount] = await handler.handle(ACC, Deposit(amount))

    async with anyio.create_task_group() as tg:
        tg.start_soon(deposit, 1)
        await store.waiting.wait()
        tg.start_soon(deposit, 10)
        async with anyio.create_task_group() as inner:
            cancel_me = anyio.CancelScope()

            async def cancelled() -> None:
                with cancel_me:
                    await handler.handle(ACC, Deposit(1000))

            inner.start_soon(cancelled)
            await anyio.wait_all_tasks_blocked()
            cancel_me.cancel()
        tg.start_soon(deposit, 100)
        await anyio.wait_all_tasks_blocked()
        store.release()
    stored = [e.payload for e in (await store.read(ACC)).unwrap()]
    assert sum(getattr(p, "amount", 0) for p in stored) == 111
    assert results[100].unwrap().state.balance == 111


async def test_cancelling_the_caller_whose_append_is_in_flight_hands_the_queue_over() -> None:
    """The caller driving the queue is cancelled mid-append (its own command, alone: it may or
    may not land, as any cancelled store call): the waiting ones are still decided and appended
    by the next caller, each on the stored state."""
    store = GatedStore(types=bank_types)
    handler = await opened(store)
    store.arm()
    results: list[Result[Handled[Any], Any]] = []
    leader = anyio.CancelScope()

    async def lead() -> None:
        with leader:
            await handler.handle(ACC, Deposit(1))

    async def follow(amount: int) -> None:
        results.append(await handler.handle(ACC, Deposit(amount)))

    async with anyio.create_task_group() as tg:
        tg.start_soon(lead)
        await store.waiting.wait()
        tg.start_soon(follow, 10)
        tg.start_soon(follow, 100)
        await anyio.wait_all_tasks_blocked()
        leader.cancel()
        await anyio.wait_all_tasks_blocked()
        store.release()
    stored = [e.payload for e in (await store.read(ACC)).unwrap()]
    assert len(results) == 2
    for result in results:
        done = result.unwrap()
        assert state_of(account, stored[: done.version]) == done.state
    assert sum(getattr(p, "amount", 0) for p in stored) in (110, 111)
    assert handler.busy_streams == 0


async def test_a_full_queue_answers_overloaded() -> None:
    """With queue_limit=2 and an append in flight, the third waiting command is refused at once."""
    store = GatedStore(types=bank_types)
    handler = await opened(store, queue_limit=2)
    store.arm()
    results: list[Result[Handled[Any], Any]] = []

    async def deposit() -> None:
        results.append(await handler.handle(ACC, Deposit(1)))

    async with anyio.create_task_group() as tg:
        tg.start_soon(deposit)
        await store.waiting.wait()
        tg.start_soon(deposit)
        tg.start_soon(deposit)
        await anyio.wait_all_tasks_blocked()
        refused = await handler.handle(ACC, Deposit(1))
        store.release()
    assert refused == Failure(Overloaded(ACC, 2))
    assert "2 commands are waiting" in str(refused.failure())
    assert all(isinstance(r, Success) for r in results)
    assert (await handler.load(ACC)).unwrap()[1].balance == 3


async def test_streams_do_not_wait_for_each_other() -> None:
    """An append held on one stream does not hold a command for another stream."""
    store = GatedStore(types=bank_types)
    handler = await opened(store)
    other = StreamId("account", "acc-2")
    store.arm()
    async with anyio.create_task_group() as tg:
        tg.start_soon(handler.handle, ACC, Deposit(1))
        await store.waiting.wait()
        store.closed_gate = False  # the next appends pass; the held one stays held
        with anyio.fail_after(1):
            assert isinstance(await handler.handle(other, OpenAccount("acc-2", "Bo")), Success)
        assert handler.busy_streams == 1
        store.release()
    assert handler.busy_streams == 0


async def test_a_retried_command_id_is_answered_with_the_original_reply() -> None:
    """The same command id and body: the first reply again, nothing appended; ids derive from it."""
    store = InMemoryEventStore(types=bank_types)
    handler = await opened(store)
    first = (await handler.handle(ACC, Deposit(5), command_id="pay-1")).unwrap()
    (await handler.handle(ACC, Deposit(7))).unwrap()
    again = (await handler.handle(ACC, Deposit(5), command_id="pay-1")).unwrap()
    assert again == first
    assert first.events[0].event_id == command_event_id(ACC, "pay-1", 0)
    assert first.events[0].metadata[COMMAND_ID] == "pay-1"
    assert first.events[0].metadata[COMMAND_DIGEST] == handler.digest(Deposit(5))
    fresh: CommandHandler[Any, Any, Any] = CommandHandler(account, store)  # another process
    assert (await fresh.handle(ACC, Deposit(5), command_id="pay-1")).unwrap() == first
    assert (await store.version(ACC)).unwrap() == 3


async def test_a_command_id_with_another_body_is_refused() -> None:
    """Reusing a command id for a different command is CommandIdReused, and nothing is stored."""
    store = InMemoryEventStore(types=bank_types)
    handler = await opened(store)
    (await handler.handle(ACC, Deposit(5), command_id="pay-1")).unwrap()
    refused = await handler.handle(ACC, Deposit(6), command_id="pay-1")
    assert refused == Failure(CommandIdReused(ACC, "pay-1"))
    assert "already names a different command" in str(refused.failure())
    assert (await store.version(ACC)).unwrap() == 2


async def test_a_retry_queued_with_its_original_gets_the_same_reply() -> None:
    """A command and its retry in the same group: one append, two equal replies."""
    store = GatedStore(types=bank_types)
    handler = await opened(store)
    store.arm()
    results: list[Result[Handled[Any], Any]] = []

    async def pay(command_id: str) -> None:
        results.append(await handler.handle(ACC, Deposit(5), command_id=command_id))

    async with anyio.create_task_group() as tg:
        tg.start_soon(handler.handle, ACC, Deposit(1))
        await store.waiting.wait()
        tg.start_soon(pay, "pay-1")
        tg.start_soon(pay, "pay-1")
        await anyio.wait_all_tasks_blocked()
        store.release()
    assert results[0] == results[1]
    assert results[0].unwrap().position is not None
    assert (await store.version(ACC)).unwrap() == 3


async def test_a_rejected_command_id_is_answered_with_the_same_rejection() -> None:
    """A rejected command with an id stays rejected for its retries (the handler remembers)."""
    store = InMemoryEventStore(types=bank_types)
    handler = await opened(store)
    first = await handler.handle(ACC, Withdraw(50), command_id="w-1")
    (await handler.handle(ACC, Deposit(100))).unwrap()
    assert await handler.handle(ACC, Withdraw(50), command_id="w-1") == first
    assert isinstance(first, Failure)


def test_a_bad_command_id_is_a_programmer_error() -> None:
    """An empty command id raises ValueError before anything is queued."""
    handler: CommandHandler[Any, Any, Any] = CommandHandler(
        account, InMemoryEventStore(types=bank_types)
    )
    with pytest.raises(ValueError, match="command_id"):
        anyio.run(lambda: handler.handle(ACC, Deposit(1), command_id=""))


async def test_a_chain_stops_at_the_first_refused_event() -> None:
    """append_chain stores a prefix and names the conflict that stopped the rest."""
    store = InMemoryEventStore(types=bank_types)
    (await store.append(ACC, [NewEvent(AccountOpened("acc-1", "Ada"))])).unwrap()
    paid = [NewEvent(Deposited("acc-1", 1)), NewEvent(Deposited("acc-1", 2))]
    stored, failure = await store.append_chain(ACC, paid, expected=Exactly(1))
    assert [r.version for r in stored] == [2, 3]
    assert failure is None
    stored, failure = await store.append_chain(ACC, paid[:1], expected=Exactly(1))
    assert stored == ()
    assert isinstance(failure, WrongExpectedVersion)
    with pytest.raises(TypeError, match="Exactly"):
        await store.append_chain(ACC, paid[:1], expected=AnyVersion())  # type: ignore[arg-type]


class DownStore(GatedStore):
    """A gated store whose chains fail as a lost connection would: outcome unknown."""

    chains: int = 0

    async def append_chain(
        self, stream: StreamId, events: Sequence[NewEvent[Any]], *, expected: Exactly
    ) -> tuple[tuple[AppendResult, ...], AppendError | None]:
        """Fail the whole chain with StoreUnavailable."""
        self.chains += 1
        return (), StoreUnavailable("the connection is gone: the appends may or may not be stored")


async def test_a_store_failure_of_a_group_is_every_commands_answer_never_a_retry() -> None:
    """When a group's append fails with an unknown outcome, each of its commands gets that
    failure; none is decided and appended again (it could be applied twice)."""
    store = DownStore(types=bank_types)
    handler = await opened(store)
    store.arm()
    results: list[Result[Handled[Any], Any]] = []

    async def deposit(amount: int) -> None:
        results.append(await handler.handle(ACC, Deposit(amount)))

    async with anyio.create_task_group() as tg:
        tg.start_soon(deposit, 1)
        await store.waiting.wait()
        for amount in (10, 100, 1000):
            tg.start_soon(deposit, amount)
            await anyio.wait_all_tasks_blocked()
        appends_before = store.appends
        store.release()
    assert store.chains == 1
    assert store.appends == appends_before  # nothing sent again one by one
    failed = [r.failure() for r in results if isinstance(r, Failure)]
    assert len(failed) == 3
    assert all(isinstance(f, StoreUnavailable) for f in failed)


@frozen
class Say:
    """Write *text* down."""

    text: str


@frozen
class Said:
    """*text* was written down."""

    text: str


notes: Decider[Say, Said, tuple[str, ...]] = Decider(
    (), lambda c, s: Success((Said(c.text),)), lambda s, e: (*s, e.text)
)


async def test_a_too_large_event_fails_only_its_command_in_a_group() -> None:
    """An event over the store's size limit fails its own command; the others in its group land."""
    store = GatedStore(types=EventTypes().register(Said), max_event_bytes=400)
    handler: CommandHandler[Any, Any, Any] = CommandHandler(notes, store)
    stream = StreamId("notes", "n-1")
    store.arm()
    results: dict[str, Result[Handled[Any], Any]] = {}

    async def run(name: str, text: str) -> None:
        results[name] = await handler.handle(stream, Say(text))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, "first", "a")
        await store.waiting.wait()
        for name, text in (("small", "b"), ("huge", "x" * 1000), ("after", "c")):
            tg.start_soon(run, name, text)
            await anyio.wait_all_tasks_blocked()
        store.release()
    assert results["small"].unwrap().state == ("a", "b")
    assert results["after"].unwrap().state == ("a", "b", "c")
    assert isinstance(results["huge"].failure(), EventTooLarge)
    stored = [e.payload.text for e in (await store.read(stream)).unwrap()]
    assert stored == ["a", "b", "c"]


async def test_a_retry_on_a_handler_with_an_old_cache_gets_the_original_reply() -> None:
    """Another handler applied the command later than this one's cached version: the store
    answers the retried ids with the original result, the handler notices it appended nothing,
    reads the stream and answers the original reply."""
    store = InMemoryEventStore(types=bank_types)
    first = await opened(store)
    second: CommandHandler[Any, Any, Any] = CommandHandler(account, store)
    (await second.handle(ACC, Deposit(1))).unwrap()  # second caches version 2
    (await first.handle(ACC, Deposit(7))).unwrap()
    original = (await first.handle(ACC, Deposit(5), command_id="pay-9")).unwrap()
    retried = (await second.handle(ACC, Deposit(5), command_id="pay-9")).unwrap()
    assert retried == original
    assert (await store.version(ACC)).unwrap() == 4


class JitteryStore(InMemoryEventStore):
    """An in-memory store whose appends and chains yield a few times (seeded) first."""

    rng: random.Random

    async def append(
        self,
        stream: StreamId,
        events: Sequence[NewEvent[Any]],
        *,
        expected: ExpectedVersion = AnyVersion(),  # noqa: B008 - a frozen value
    ) -> Result[AppendResult, AppendError]:
        """Yield, then append."""
        for _ in range(self.rng.randrange(4)):
            await anyio.lowlevel.checkpoint()
        return await super().append(stream, events, expected=expected)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_cancellations_never_stall_or_lose_a_command(seed: int) -> None:
    """200 callers on two streams, a third of them cancelled at random moments: every caller
    that is not cancelled gets its outcome, the queues empty, and each stream's stored events
    fold to the state the handler reports (each accepted deposit stored exactly once)."""
    rng = random.Random(seed)
    store = JitteryStore(types=bank_types)
    store.rng = rng
    handler = await opened(store)
    other = StreamId("account", "acc-2")
    assert isinstance(await handler.handle(other, OpenAccount("acc-2", "Bo")), Success)
    answered: list[Handled[Any]] = []

    async def caller(stream: StreamId, amount: int, scope: anyio.CancelScope) -> None:
        with scope:
            answered.append((await handler.handle(stream, Deposit(amount))).unwrap())

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            scopes = []
            for n in range(200):
                scope = anyio.CancelScope()
                scopes.append(scope)
                tg.start_soon(caller, (ACC, other)[n % 2], n + 1, scope)
                if rng.random() < 0.3:
                    await anyio.lowlevel.checkpoint()
            for scope in rng.sample(scopes, 66):
                for _ in range(rng.randrange(3)):
                    await anyio.lowlevel.checkpoint()
                scope.cancel()
    assert handler.busy_streams == 0
    for stream in (ACC, other):
        stored = (await store.read(stream)).unwrap()
        amounts = [getattr(e.payload, "amount", None) for e in stored[1:]]
        assert len(set(amounts)) == len(amounts)  # none stored twice
        assert (await handler.load(stream)).unwrap()[1] == state_of(
            account, (e.payload for e in stored)
        )
        for done in answered:
            if done.stream == stream:
                assert done.events[0].payload.amount in amounts
    assert len(answered) >= 200 - 66
