"""JetStreamEventStore.append_chain on a real server: a pipelined chain of one-event appends,
each checked by the server, stored as a prefix at consecutive positions (issue 14)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from cim import Exactly, NewEvent, StreamId, WrongExpectedVersion
from cim.examples.bank import AccountOpened, Deposited, bank_types
from interpreters.stores.jetstream import JetStreamEventStore
from interpreters.stores.protocol import ChainedAppends

pytestmark = pytest.mark.anyio
ACC = StreamId("account", "a-1")


@pytest.fixture
async def store(nats_url: str) -> AsyncIterator[JetStreamEventStore]:
    """A store on a JetStream stream of its own."""
    tag = f"chain{uuid4().hex[:10]}"
    async with await JetStreamEventStore.connect(
        nats_url, types=bank_types, stream=tag.upper(), subject_prefix=tag, storage="memory"
    ) as opened:
        yield opened


def deposits(n: int) -> list[NewEvent[Deposited]]:
    """*n* deposit events."""
    return [NewEvent(Deposited("a-1", i)) for i in range(1, n + 1)]


async def test_a_chain_is_stored_in_order_at_consecutive_positions(
    store: JetStreamEventStore,
) -> None:
    """Ten events sent as one chain: versions 2..11 and the positions the store reads back."""
    assert isinstance(store, ChainedAppends)
    (await store.append(ACC, [NewEvent(AccountOpened("a-1", "Ada"))])).unwrap()
    stored, failure = await store.append_chain(ACC, deposits(10), expected=Exactly(1))
    assert failure is None
    events = (await store.read(ACC)).unwrap()
    assert [(r.version, r.position) for r in stored] == [
        (e.version, e.position) for e in events[1:]
    ]
    assert [e.payload.amount for e in events[1:]] == list(range(1, 11))
    assert [r.position for r in stored] == list(range(stored[0].position, stored[0].position + 10))


async def test_a_chain_after_another_writer_is_refused_whole(
    store: JetStreamEventStore, nats_url: str
) -> None:
    """When another writer appended first, the first message is refused and nothing is stored."""
    (await store.append(ACC, [NewEvent(AccountOpened("a-1", "Ada"))])).unwrap()
    other = await JetStreamEventStore.connect(
        nats_url,
        types=bank_types,
        stream=store.stream_name,
        subject_prefix=store.subject_prefix,
        storage="memory",
    )
    try:
        (await other.append(ACC, deposits(1), expected=Exactly(1))).unwrap()
    finally:
        await other.close()
    stored, failure = await store.append_chain(ACC, deposits(5), expected=Exactly(1))
    assert stored == ()
    assert failure == WrongExpectedVersion(ACC, Exactly(1), 2)
    assert (await store.version(ACC)).unwrap() == 2


async def test_the_server_refuses_a_chained_message_when_another_came_between(
    store: JetStreamEventStore,
) -> None:
    """The fact chains rest on: ``Nats-Expected-Last-Msg-Id`` is checked against the last
    message of the whole stream, so a message of another subject in between refuses it."""
    nc, prefix = store.nc, store.subject_prefix
    first = await nc.request(f"{prefix}.x.1", b"1", headers={"Nats-Msg-Id": "m-1"}, timeout=5)
    assert "error" not in first.data.decode()
    await nc.request(f"{prefix}.y.1", b"2", timeout=5)  # another subject, no message id
    refused = await nc.request(
        f"{prefix}.x.1", b"3", headers={"Nats-Expected-Last-Msg-Id": "m-1"}, timeout=5
    )
    assert '"err_code":10070' in refused.data.decode()
