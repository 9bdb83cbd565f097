"""CommandHandler on the in-memory store: ids stamped, conflicts retried, snapshots, rejections."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from returns.result import Failure, Result, Success

from cim import AnyVersion, AppendError, AppendResult, Exactly, ExpectedVersion, NewEvent, StreamId
from cim.decider import Rejection, state_of
from cim.examples.bank import (
    Account,
    AccountOpened,
    CloseAccount,
    Deposit,
    Deposited,
    OpenAccount,
    SetLimit,
    Status,
    Withdraw,
    account,
    bank_types,
)
from interpreters.runtime.commands import CommandHandler, ConcurrencyExhausted
from interpreters.stores.memory import InMemoryEventStore

ACC = StreamId("account", "acc-1")


async def opened(store: InMemoryEventStore) -> CommandHandler[Any, Any, Account]:
    """A handler whose account acc-1 is open."""
    handler: CommandHandler[Any, Any, Account] = CommandHandler(account, store)
    assert isinstance(await handler.handle(ACC, OpenAccount("acc-1", "Ada")), Success)
    return handler


class CompetingStore(InMemoryEventStore):
    """An in-memory store where a competitor deposits 1 just before each of the next *n* appends."""

    competing: int = 0

    async def append(
        self,
        stream: StreamId,
        events: Sequence[NewEvent[Any]],
        *,
        expected: ExpectedVersion = AnyVersion(),  # noqa: B008 - a frozen value
    ) -> Result[AppendResult, AppendError]:
        """Let the competitor win the race first, while it still competes."""
        if self.competing > 0:
            self.competing -= 1
            await super().append(stream, [NewEvent(Deposited(stream.entity_id, 1))])
        return await super().append(stream, events, expected=expected)


@pytest.mark.anyio
async def test_events_are_appended_with_ids_and_the_callers_correlation() -> None:
    """Every appended event carries a fresh id and the given correlation and causation ids."""
    store = InMemoryEventStore(types=bank_types)
    handler = await opened(store)
    result = await handler.handle(ACC, Deposit(500), correlation_id="req-7", causation_id="cmd-9")
    handled = result.unwrap()
    assert (handled.version, handled.state.balance) == (2, 500)
    stored = (await store.read(ACC)).unwrap()
    assert [e.payload for e in stored] == [AccountOpened("acc-1", "Ada"), Deposited("acc-1", 500)]
    assert handled.position == stored[-1].position
    assert [e.event_id for e in handled.events] == [stored[-1].event_id]
    assert (stored[-1].correlation_id, stored[-1].causation_id) == ("req-7", "cmd-9")


@pytest.mark.anyio
async def test_a_command_without_ids_starts_its_own_conversation() -> None:
    """Without ids the correlation id is fresh and the causation id equals it."""
    store = InMemoryEventStore(types=bank_types)
    handler = await opened(store)
    first = (await handler.handle(ACC, Deposit(1))).unwrap().events[0]
    second = (await handler.handle(ACC, Deposit(2))).unwrap().events[0]
    assert first.correlation_id is not None
    assert first.causation_id == first.correlation_id
    assert second.correlation_id != first.correlation_id


@pytest.mark.anyio
async def test_a_rejection_is_returned_and_nothing_is_appended() -> None:
    """The decider's rejection is the failure value; the stream is unchanged."""
    store = InMemoryEventStore(types=bank_types)
    handler = await opened(store)
    result = await handler.handle(ACC, Withdraw(10))
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), Rejection)
    assert result.failure().code == "insufficient_funds"
    assert (await store.version(ACC)).unwrap() == 1


@pytest.mark.anyio
async def test_a_terminal_aggregate_accepts_no_command() -> None:
    """Once the decider says the state is terminal, commands are refused before deciding."""
    store = InMemoryEventStore(types=bank_types)
    handler = await opened(store)
    assert isinstance(await handler.handle(ACC, CloseAccount()), Success)
    refused = await handler.handle(ACC, Deposit(5))
    assert refused == Failure(
        Rejection("the aggregate is in a terminal state and accepts no command", "terminal")
    )


@pytest.mark.anyio
async def test_a_decision_of_no_events_appends_nothing() -> None:
    """An idempotent command (no events) succeeds with no position and no append."""
    store = InMemoryEventStore(types=bank_types)
    handler = await opened(store)
    handled = (await handler.handle(ACC, SetLimit(0))).unwrap()
    assert (handled.events, handled.version, handled.position) == ((), 1, None)


@pytest.mark.anyio
async def test_a_lost_race_is_retried_against_the_new_state() -> None:
    """After a conflict the handler reloads (seeing the competitor's event) and decides again."""
    store = CompetingStore(types=bank_types)
    handler = await opened(store)
    store.competing = 2
    handled = (await handler.handle(ACC, Deposit(100))).unwrap()
    assert handled.version == 4
    assert handled.state.balance == 102
    history = [e.payload for e in (await store.read(ACC)).unwrap()]
    assert state_of(account, history) == handled.state


@pytest.mark.anyio
async def test_too_many_conflicts_give_up_with_concurrency_exhausted() -> None:
    """When every attempt loses, the failure names the attempts and the last conflict.

    (``max_attempts`` is no longer 3 by default: the retry budget in seconds governs; the cap
    is asked for here to keep the old, exact assertions.)"""
    store = CompetingStore(types=bank_types)
    handler: CommandHandler[Any, Any, Account] = CommandHandler(account, store, max_attempts=3)
    assert isinstance(await handler.handle(ACC, OpenAccount("acc-1", "Ada")), Success)
    store.competing = 3
    result = await handler.handle(ACC, Deposit(100))
    assert isinstance(result, Failure)
    exhausted = result.failure()
    assert isinstance(exhausted, ConcurrencyExhausted)
    assert exhausted.attempts == 3
    assert exhausted.last.actual == 4
    assert "after 3 conflicting attempts" in str(exhausted)


@pytest.mark.anyio
async def test_conflicts_are_retried_within_the_time_budget_then_given_up() -> None:
    """Without max_attempts, a handler retries past 3 conflicts and stops when the budget ends."""
    store = CompetingStore(types=bank_types)
    handler = await opened(store)
    store.competing = 6
    assert (await handler.handle(ACC, Deposit(100))).unwrap().state.balance == 106
    quick: CommandHandler[Any, Any, Account] = CommandHandler(account, store, retry_budget=0.05)
    store.competing = 10**6
    result = await quick.handle(ACC, Deposit(100))
    assert isinstance(result, Failure)
    assert isinstance(result.failure(), ConcurrencyExhausted)
    assert result.failure().attempts > 3


@pytest.mark.anyio
async def test_the_state_cache_never_hides_another_writers_events() -> None:
    """A handler with a cached state still sees events appended by someone else."""
    store = InMemoryEventStore(types=bank_types)
    handler = await opened(store)
    await handler.handle(ACC, Deposit(10))
    other: CommandHandler[Any, Any, Account] = CommandHandler(account, store)
    await other.handle(ACC, Deposit(20))
    handled = (await handler.handle(ACC, Deposit(30))).unwrap()
    assert handled.state.balance == 60


@pytest.mark.anyio
async def test_snapshots_are_saved_every_n_events_and_used_to_load() -> None:
    """With snapshot_every=2 a snapshot lands at each even version; a fresh handler starts from it."""
    store = InMemoryEventStore(types=bank_types)
    handler: CommandHandler[Any, Any, Account] = CommandHandler(
        account, store, snapshots=store, snapshot_every=2, cache_size=0
    )
    await handler.handle(ACC, OpenAccount("acc-1", "Ada"))
    for amount in (1, 2, 3, 4):
        await handler.handle(ACC, Deposit(amount))
    loaded = (await store.load_snapshot(ACC)).unwrap()
    assert loaded.snapshot is not None
    assert loaded.snapshot.version == 4
    assert [e.version for e in loaded.events] == [5]
    fresh: CommandHandler[Any, Any, Account] = CommandHandler(account, store, snapshots=store)
    version, state = (await fresh.load(ACC)).unwrap()
    assert (version, state) == (5, Account(Status.OPEN, "acc-1", "Ada", 10, 0))


@pytest.mark.anyio
async def test_an_unreadable_snapshot_falls_back_to_the_events() -> None:
    """A snapshot that does not decode as the state type is ignored, not trusted."""
    store = InMemoryEventStore(types=bank_types)
    await opened(store)
    await store.save_snapshot(ACC, 1, b'{"balance": "lots"}')
    fresh: CommandHandler[Any, Any, Account] = CommandHandler(account, store, snapshots=store)
    version, state = (await fresh.load(ACC)).unwrap()
    assert (version, state.status) == (1, Status.OPEN)


def test_bad_settings_are_refused() -> None:
    """Nonsense settings fail at construction with the offending value named."""
    store = InMemoryEventStore(types=bank_types)
    with pytest.raises(ValueError, match="max_attempts"):
        CommandHandler(account, store, max_attempts=0)
    with pytest.raises(ValueError, match="retry_budget"):
        CommandHandler(account, store, retry_budget=-1)
    with pytest.raises(ValueError, match="queue_limit"):
        CommandHandler(account, store, queue_limit=0)
    with pytest.raises(ValueError, match="max_group"):
        CommandHandler(account, store, max_group=0)
    with pytest.raises(ValueError, match="snapshot store"):
        CommandHandler(account, store, snapshot_every=10)


class RecordingStore(InMemoryEventStore):
    """An in-memory store that records every read and append call (and the append outcomes)."""

    calls: list[str]

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.calls = []

    async def read(self, stream: StreamId, *, from_version: int = 1) -> Any:
        """Read through, recording the call."""
        self.calls.append(f"read from {from_version}")
        return await super().read(stream, from_version=from_version)

    async def append(
        self,
        stream: StreamId,
        events: Sequence[NewEvent[Any]],
        *,
        expected: ExpectedVersion = AnyVersion(),  # noqa: B008 - a frozen value
    ) -> Result[AppendResult, AppendError]:
        """Append through, recording the expectation and whether it held."""
        result = await super().append(stream, events, expected=expected)
        self.calls.append(f"append {expected} {'ok' if isinstance(result, Success) else 'refused'}")
        return result


@pytest.mark.anyio
async def test_a_cached_state_is_decided_and_appended_without_reading() -> None:
    """On a cache hit the command costs one append with the cached version and no read."""
    store = RecordingStore(types=bank_types)
    handler = await opened(store)
    store.calls.clear()
    handled = (await handler.handle(ACC, Deposit(10))).unwrap()
    assert (handled.version, handled.state.balance) == (2, 10)
    assert store.calls == [f"append {Exactly(1)} ok"]


@pytest.mark.anyio
async def test_a_stale_cache_loses_the_append_and_is_retried_on_the_stored_state() -> None:
    """Another writer appended after the cached version: the append is refused, then redone."""
    store = RecordingStore(types=bank_types)
    handler = await opened(store)
    other: CommandHandler[Any, Any, Account] = CommandHandler(account, store)
    await other.handle(ACC, Deposit(20))
    store.calls.clear()
    handled = (await handler.handle(ACC, Deposit(30))).unwrap()
    assert (handled.version, handled.state.balance) == (3, 50)
    assert store.calls == [f"append {Exactly(1)} refused", "read from 2", f"append {Exactly(2)} ok"]
    stored = [e.payload for e in (await store.read(ACC)).unwrap()]
    assert state_of(account, stored) == handled.state
    assert (await handler.load(ACC)).unwrap() == (3, handled.state)


@pytest.mark.anyio
async def test_a_rejection_on_a_stale_cached_state_is_rechecked_on_the_stored_state() -> None:
    """Insufficient funds on the cached state, but another writer deposited: the withdrawal works."""
    store = RecordingStore(types=bank_types)
    handler = await opened(store)
    other: CommandHandler[Any, Any, Account] = CommandHandler(account, store)
    await other.handle(ACC, Deposit(100))
    store.calls.clear()
    handled = (await handler.handle(ACC, Withdraw(60))).unwrap()
    assert (handled.version, handled.state.balance) == (3, 40)
    assert store.calls == ["read from 2", f"append {Exactly(2)} ok"]


@pytest.mark.anyio
async def test_a_rejection_that_still_holds_on_the_stored_state_is_returned() -> None:
    """A rejection on a cached state is returned only after the stored state confirms it."""
    store = RecordingStore(types=bank_types)
    handler = await opened(store)
    other: CommandHandler[Any, Any, Account] = CommandHandler(account, store)
    await other.handle(ACC, Deposit(10))
    store.calls.clear()
    refused = await handler.handle(ACC, Withdraw(60))
    assert isinstance(refused, Failure)
    assert refused.failure().code == "insufficient_funds"
    assert refused.failure().details["balance"] == "10"  # decided on the stored balance
    assert store.calls == ["read from 2"]


@pytest.mark.anyio
async def test_an_empty_decision_on_a_stale_cached_state_is_rechecked() -> None:
    """No events on the cached state (limit already 0) but the stored limit is 50: it is changed."""
    store = RecordingStore(types=bank_types)
    handler = await opened(store)
    other: CommandHandler[Any, Any, Account] = CommandHandler(account, store)
    await other.handle(ACC, SetLimit(50))
    handled = (await handler.handle(ACC, SetLimit(0))).unwrap()
    assert [type(e.payload).__name__ for e in handled.events] == ["LimitSet"]
    assert (handled.version, handled.state.limit) == (3, 0)


@pytest.mark.anyio
async def test_a_terminal_cached_state_is_rechecked_on_the_stored_state() -> None:
    """A cached closed account refuses only once the store confirms it is closed."""
    store = RecordingStore(types=bank_types)
    handler = await opened(store)
    assert isinstance(await handler.handle(ACC, CloseAccount()), Success)
    store.calls.clear()
    refused = await handler.handle(ACC, Deposit(5))
    assert isinstance(refused, Failure)
    assert refused.failure().code == "terminal"
    assert store.calls == ["read from 3"]
