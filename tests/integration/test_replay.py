"""Replay in bursts on a tapped inbox (issue #18): raw frames, header parsing, lost-message
detection, and the burst-then-live switch-over of ``subscribe``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import anyio
import nats
import pytest
from nats.aio.client import Client

from cim import NewEvent, StreamId
from cim.examples.bank import Deposited, bank_types
from interpreters.natsio import client_internals
from interpreters.stores.jetstream import JetStreamEventStore
from interpreters.stores.jetstream._direct_get import DirectGetError
from interpreters.stores.jetstream._ordered_reader import ConsumerError, acked
from interpreters.stores.jetstream._replay import (
    Replay,
    _Burst,
    _check_chain,
    parse_headers,
)

pytestmark = pytest.mark.anyio

BLOCKS = [
    b"NATS/1.0\r\nA: 1\r\nB: two words\r\n\r\n",
    b"NATS/1.0\r\nA:1\r\nB:  padded  \r\nC: x: y\r\nnot a header\r\n\r\n",
    b"NATS/1.0\r\nA: caf\xc3\xa9\r\nB: \xff\r\n\r\n",
    b"NATS/1.0\r\n\r\n",
]


@pytest.mark.parametrize("block", BLOCKS)
def test_headers_parse_as_nats_py_parses_them(block: bytes) -> None:
    """parse_headers gives what nats-py's own header parser gives for the same block."""
    expected = Client._parse_header_lines(block[len(b"NATS/1.0\r\n") :])
    assert parse_headers(block) == expected


def test_tapped_frames_are_cut_from_the_front_only_when_complete() -> None:
    """Complete frames of tapped sids are taken; a split frame or an untapped sid stops it."""
    got: list[tuple[bytes, bytes, bytes, bytes | None]] = []
    taps: dict[int, client_internals.RawHandler] = {7: lambda *message: got.append(message)}
    stats = {"in_msgs": 0, "in_bytes": 0}
    head = b"NATS/1.0\r\nX: 1\r\n\r\n"

    def frame(sid: int, body: bytes, reply: bytes = b"") -> bytes:
        line = b"HMSG s.x %d %s%d %d\r\n" % (
            sid,
            reply + b" " if reply else b"",
            len(head),
            len(head) + len(body),
        )
        return line + head + body + b"\r\n"

    first, second, third = frame(7, b"one"), frame(7, b"two", b"r.1"), frame(8, b"other")
    buffer = bytearray(first + second + third + frame(7, b"later"))
    taken = client_internals._take_tapped(buffer, taps, stats)
    assert taken == (len(first) + len(second), False)
    assert got == [(b"s.x", b"", b"one", head), (b"s.x", b"r.1", b"two", head)]
    assert stats == {"in_msgs": 2, "in_bytes": 6}
    for cut in (5, 20, len(frame(7, b"whole")) - 5):  # mid control line, mid headers, mid body
        split = bytearray(first + frame(7, b"whole")[:cut])
        assert client_internals._take_tapped(split, taps, stats) == (len(first), True)


def test_a_gap_in_the_chain_is_an_error() -> None:
    """A message whose previous-match sequence is not the one before it means one was lost."""
    stored = [
        ({"Nats-Sequence": "5", "Nats-Last-Sequence": "2"}, b""),
        ({"Nats-Sequence": "6", "Nats-Last-Sequence": "5"}, b""),
    ]
    _check_chain(stored, 6)
    with pytest.raises(DirectGetError, match="lost messages after sequence 5"):
        _check_chain([stored[0], ({"Nats-Sequence": "8", "Nats-Last-Sequence": "7"}, b"")], 8)
    with pytest.raises(DirectGetError, match="lost messages after sequence 6"):
        _check_chain(stored, 9)


@pytest.fixture
async def store(nats_url: str) -> AsyncIterator[JetStreamEventStore]:
    """A store on its own stream."""
    name = f"REPLAY_{uuid4().hex[:10]}"
    async with await JetStreamEventStore.connect(
        nats_url, types=bank_types, stream=name, subject_prefix=name.lower()
    ) as opened:
        yield opened
        await opened.nc.jetstream().delete_stream(name)


async def deposits(store: JetStreamEventStore, count: int, account: str = "a") -> None:
    """*count* deposits of 0, 1, ... onto one account."""
    for start in range(0, count, 500):
        events = [NewEvent(Deposited(account, n)) for n in range(start, min(start + 500, count))]
        (await store.append(StreamId("acct", account), events)).unwrap()


async def test_read_all_of_several_bursts_is_whole_and_leaves_no_tap(
    store: JetStreamEventStore,
) -> None:
    """A read_all of three bursts is whole and in order; its tap is gone afterwards, and the
    client's other subscriptions get their messages as before."""
    await deposits(store, 5000)
    got: list[Any] = []
    arrived = anyio.Event()

    async def collect(msg: Any) -> None:
        got.append(msg)
        arrived.set()

    sub = await store.nc.subscribe("plain.x", cb=collect)
    amounts = [r.unwrap().payload.amount async for r in store.read_all()]
    assert amounts == list(range(5000))
    await store.nc.publish("plain.x", b"hi", headers={"H": "v"})
    with anyio.fail_after(5):
        await arrived.wait()
    assert (got[0].data, got[0].headers) == (b"hi", {"H": "v"})
    assert store.nc._cim_taps == {}  # type: ignore[attr-defined]
    assert store.nc._ps.parse.__name__ == "parse_tapped"  # frames were cut out of the buffer
    await sub.unsubscribe()


async def test_subscribe_switches_from_bursts_to_live_without_gap_or_repeat(
    store: JetStreamEventStore,
) -> None:
    """Events appended while the backlog is read in bursts arrive once each, in order."""
    await deposits(store, 4500)
    positions: list[int] = []
    with anyio.fail_after(30):
        async with contextlib.aclosing(store.subscribe()) as events:
            async for result in events:
                positions.append(result.unwrap().position)
                if len(positions) in (1, 2100, 4500):  # during the bursts, and at their end
                    await deposits(store, 5, "b")
                if len(positions) == 4515:
                    break
    assert positions == list(range(1, 4516))


async def test_a_closed_connection_ends_read_all_with_an_error_value(nats_url: str) -> None:
    """A read_all whose connection closes mid-replay ends with a StoreUnavailable value."""
    name = f"REPLAY_{uuid4().hex[:10]}"
    nc = await nats.connect(nats_url)
    store = await JetStreamEventStore.from_client(
        nc, types=bank_types, stream=name, subject_prefix=name.lower()
    )
    await deposits(store, 4500)
    results = []
    async with contextlib.aclosing(store.read_all()) as events:
        async for result in events:
            results.append(result)
            if len(results) == 10:
                await store.close()
    assert all(r.unwrap() for r in results[:10])
    assert "closed" in str(results[-1].failure())
    await nc.jetstream().delete_stream(name)
    await nc.close()


async def test_a_long_read_goes_on_with_a_pull_consumer_it_deletes(
    store: JetStreamEventStore,
) -> None:
    """After its first burst (a direct get) a long read pulls from a consumer, which is gone
    once the read has ended."""
    await deposits(store, 5000)
    js = store.nc.jetstream()
    seen: list[int] = []
    async with contextlib.aclosing(store.read_all()) as events:
        async for result in events:
            seen.append(result.unwrap().position)
            if len(seen) == 3000:  # past the first burst: the consumer is there
                assert len(await js.consumers_info(store.stream_name)) == 1
    assert seen == list(range(1, 5001))
    assert await js.consumers_info(store.stream_name) == []


async def test_a_consumer_deleted_mid_read_ends_it_with_an_error_value(nats_url: str) -> None:
    """A pull whose consumer is gone ends the read at once with a StoreUnavailable value (the
    server's status ends it: the store's 30 s silence timeout would fail this test)."""
    name = f"REPLAY_{uuid4().hex[:10]}"
    async with await JetStreamEventStore.connect(
        nats_url, types=bank_types, stream=name, subject_prefix=name.lower(), request_timeout=30
    ) as store:
        await deposits(store, 7000)
        js = store.nc.jetstream()
        results = []
        with anyio.fail_after(15):
            async with contextlib.aclosing(store.read_all()) as events:
                async for result in events:
                    results.append(result)
                    if len(results) == 2100:  # the consumer's first burst is handed over
                        for info in await js.consumers_info(name):
                            await js.delete_consumer(name, info.name)
        assert all(isinstance(r.unwrap().position, int) for r in results[:-1])
        assert len(results) < 7000
        assert type(results[-1].failure()).__name__ == "StoreUnavailable"
        await js.delete_stream(name)


@pytest.mark.parametrize(
    "reply",
    [
        b"$JS.ACK.S.C.1.41.7.1700000000000000000.12",
        b"$JS.ACK.hub.ACCHASH.S.C.1.41.7.1700000000000000000.12.token",
    ],
)
def test_a_consumer_message_names_its_sequences_in_either_ack_layout(reply: bytes) -> None:
    """The stream sequence, delivery count and pending count come from both ack layouts."""
    assert acked(reply) == ("41", 7, 12)


def test_a_reply_that_is_no_ack_subject_is_an_error() -> None:
    """A consumer message without an ack subject cannot be placed: ConsumerError."""
    with pytest.raises(ConsumerError, match="not a consumer's ack subject"):
        acked(b"_INBOX.abc")


async def test_a_gap_in_the_consumer_deliveries_is_an_error() -> None:
    """A consumer message whose delivery count skips one means a message was lost."""
    replay = Replay(Client(), "S", 1.0)
    head = b"NATS/1.0\r\nCim-Version: 1\r\n\r\n"

    def pulled(*deliveries: int) -> _Burst:
        burst = _Burst(asyncio.get_running_loop().create_future(), b"t", 9)
        for n in deliveries:
            reply = b"$JS.ACK.S.C.1.%d.%d.1700000000000000000.0" % (n + 40, n)
            replay._took(burst, head, b"{}", b"p.acct.a", reply)
        return burst

    stored = replay._stored(pulled(1, 2))
    assert [(h["Nats-Sequence"], h["Nats-Subject"]) for h, _ in stored] == [
        ("41", "p.acct.a"),
        ("42", "p.acct.a"),
    ]
    with pytest.raises(DirectGetError, match="lost messages after delivering 2"):
        replay._stored(pulled(4))
