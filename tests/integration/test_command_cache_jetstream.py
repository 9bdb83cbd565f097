"""CommandHandler's optimistic state cache on JetStream: the server catches every stale state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest
from returns.result import Failure

from cim import StreamId
from cim.examples.bank import Account, Deposit, OpenAccount, Withdraw, account, bank_types
from interpreters.runtime.commands import CommandHandler
from interpreters.stores.jetstream import JetStreamEventStore

ACC = StreamId("account", "acc-1")


@pytest.fixture
async def two_stores(
    nats_url: str,
) -> AsyncIterator[tuple[JetStreamEventStore, JetStreamEventStore]]:
    """Two stores on separate connections to one fresh stream (neither sees the other's writes)."""
    tag = f"cache{uuid4().hex[:10]}"
    options: dict[str, Any] = {
        "types": bank_types,
        "stream": tag.upper(),
        "subject_prefix": tag,
        "storage": "memory",
    }
    async with (
        await JetStreamEventStore.connect(nats_url, **options) as first,
        await JetStreamEventStore.connect(nats_url, **options) as second,
    ):
        yield first, second


@pytest.mark.anyio
async def test_a_stale_cache_in_another_process_is_caught_by_the_server(
    two_stores: tuple[JetStreamEventStore, JetStreamEventStore],
) -> None:
    """A handler whose cache (and store) missed another process's deposit still counts it."""
    first, second = two_stores
    mine: CommandHandler[Any, Any, Account] = CommandHandler(account, first)
    theirs: CommandHandler[Any, Any, Account] = CommandHandler(account, second)
    (await mine.handle(ACC, OpenAccount("acc-1", "Ada"))).unwrap()
    (await theirs.handle(ACC, Deposit(20))).unwrap()
    handled = (await mine.handle(ACC, Deposit(30))).unwrap()
    assert (handled.version, handled.state.balance) == (3, 50)
    stored = (await second.read(ACC)).unwrap()
    assert [e.version for e in stored] == [1, 2, 3]
    assert (await theirs.handle(ACC, Withdraw(50))).unwrap().state.balance == 0


@pytest.mark.anyio
async def test_a_rejection_on_a_stale_cache_is_rechecked_against_the_server(
    two_stores: tuple[JetStreamEventStore, JetStreamEventStore],
) -> None:
    """Insufficient funds on the cached state, but another process deposited: the withdrawal works."""
    first, second = two_stores
    mine: CommandHandler[Any, Any, Account] = CommandHandler(account, first)
    theirs: CommandHandler[Any, Any, Account] = CommandHandler(account, second)
    (await mine.handle(ACC, OpenAccount("acc-1", "Ada"))).unwrap()
    (await theirs.handle(ACC, Deposit(100))).unwrap()
    handled = (await mine.handle(ACC, Withdraw(60))).unwrap()
    assert (handled.version, handled.state.balance) == (3, 40)
    refused = await mine.handle(ACC, Withdraw(60))
    assert isinstance(refused, Failure)
    assert refused.failure().code == "insufficient_funds"
    assert len((await second.read(ACC)).unwrap()) == 3
