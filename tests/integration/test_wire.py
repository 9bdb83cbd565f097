"""``FrameWriter`` puts on the wire what nats-py's ``publish`` would, on a real nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError, MaxPayloadError

from interpreters.natsio.wire import FrameWriter, header_block

HEADERS = {
    "Cim-Event-Id": "01a21f72-83f4-7769-bac8-878d1688f907",
    "Cim-Stream": "order.o-1",
    "Cim-Correlation-Id": "späť/ünïcode id",
    "Nats-Msg-Id": "01a21f72-83f4-7769-bac8-878d1688f907",
}

pytestmark = pytest.mark.anyio


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


async def received(nc: Client, subject: str, count: int, send: object) -> list[Msg]:
    """The first *count* messages on *subject* after awaiting *send*."""
    sub = await nc.subscribe(subject)
    await send  # type: ignore[misc]
    await nc.flush()
    messages = [await sub.next_msg(timeout=2) for _ in range(count)]
    await sub.unsubscribe()
    return messages


async def test_the_installed_nats_py_gets_the_direct_path(nc: Client) -> None:
    """With the nats-py this project pins, frames go straight to the client's buffer."""
    assert FrameWriter.for_client(nc).direct


async def test_a_frame_arrives_as_nats_py_publish_would_send_it(nc: Client) -> None:
    """Subject, reply, every header (unicode too) and body match a plain ``publish``."""

    async def both() -> None:
        await FrameWriter.for_client(nc).publish("wire.a", "reply.a", HEADERS, b"body \x00\xff")
        await nc.publish("wire.a", b"body \x00\xff", reply="reply.a", headers=HEADERS)

    ours, theirs = await received(nc, "wire.a", 2, both())
    assert (ours.subject, ours.reply, ours.data) == (theirs.subject, theirs.reply, theirs.data)
    assert ours.headers == theirs.headers == HEADERS


async def test_a_ready_header_block_is_sent_as_given(nc: Client) -> None:
    """Headers given as a ready block (bytes) go out unchanged."""
    block = header_block({"Only": "this"})
    assert block is not None
    send = FrameWriter.for_client(nc).publish("wire.b", "r.b", block, b"x")
    (msg,) = await received(nc, "wire.b", 1, send)
    assert msg.headers == {"Only": "this"}
    assert msg.data == b"x"


async def test_a_ready_header_block_needs_a_direct_writer(nc: Client) -> None:
    """Without the direct path a block cannot be sent: a programmer error, raised at once."""
    block = header_block({"Only": "this"})
    assert block is not None
    with pytest.raises(ValueError, match="direct"):
        await FrameWriter(nc, direct=False).publish("wire.f", "r.f", block, b"x")


async def test_a_line_break_in_a_value_cannot_inject_protocol(nc: Client) -> None:
    """A value with CR/LF goes through nats-py's own publish: no second message appears."""
    evil = {"Cim-Causation-Id": "x\r\n\r\nPUB wire.injected 2\r\nhi"}
    assert header_block(evil) is None
    injected = await nc.subscribe("wire.injected")
    send = FrameWriter.for_client(nc).publish("wire.c", "r.c", evil, b"ok")
    (msg,) = await received(nc, "wire.c", 1, send)
    assert msg.data == b"ok"
    with pytest.raises(nats.errors.TimeoutError):
        await injected.next_msg(timeout=0.3)


async def test_the_fallback_path_sends_the_same_message(nc: Client) -> None:
    """A writer without the direct path (another nats-py) publishes through ``publish``."""
    send = FrameWriter(nc, direct=False).publish("wire.d", "r.d", HEADERS, b"same")
    (msg,) = await received(nc, "wire.d", 1, send)
    assert (msg.reply, msg.headers, msg.data) == ("r.d", HEADERS, b"same")


async def test_refusals_are_nats_py_errors(nats_url: str) -> None:
    """Too large a body and a closed connection raise what ``publish`` raises."""
    client = await nats.connect(nats_url)
    writer = FrameWriter.for_client(client)
    with pytest.raises(MaxPayloadError):
        await writer.publish("wire.e", "r.e", {}, b"x" * (client.max_payload + 1))
    await client.close()
    with pytest.raises(ConnectionClosedError):
        await writer.publish("wire.e", "r.e", {}, b"x")
