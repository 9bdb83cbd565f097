"""``cim demo``: what cim does, end to end, on a real JetStream server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
import nats
from attrs import frozen
from nats.js.api import StreamConfig
from uuid6 import uuid7

from cim import EventEnvelope, EventTypes, JsonCodec, NewEvent, StreamId
from interpreters.server import NatsServer


@frozen
class OrderPlaced:
    """An order was placed."""

    order_id: str
    cents: int


@frozen
class OrderShipped:
    """An order was shipped."""

    order_id: str
    carrier: str


TYPES = EventTypes().register(OrderPlaced).register(OrderShipped)


async def _run(url: str) -> int:
    codec = JsonCodec(TYPES)
    stream = StreamId("order", "o-1")
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="CIM_DEMO", subjects=["demo.>"]))
        events = [OrderPlaced("o-1", 4_200), OrderShipped("o-1", "DHL")]
        for version, payload in enumerate(events, start=1):
            envelope: EventEnvelope[Any] = TYPES.envelope(
                NewEvent(payload, correlation_id="demo"),
                stream=stream,
                version=version,
                position=0,
                event_id=uuid7(),
                recorded_at=datetime.now(UTC),
            )
            headers, body = codec.encode(envelope)
            ack = await js.publish(f"demo.{stream}", body, headers=headers)
            print(f"appended {envelope.event_type} v{version} to {stream} at position {ack.seq}")
        print("reading back:")
        for seq in range(1, len(events) + 1):
            message = await js.get_msg("CIM_DEMO", seq)
            decoded = codec.decode(message.headers, message.data or b"").unwrap()
            print(f"  #{seq} {decoded.event_type} v{decoded.version}: {decoded.payload}")
    finally:
        await nc.close()
    return 0


def main(nats_url: str | None = None) -> int:
    """Run the demo against *nats_url*, or an embedded server; return the exit code."""

    async def run() -> int:
        if nats_url:
            return await _run(nats_url)
        async with NatsServer(name="cim-demo") as server:
            print(f"embedded nats-server started at {server.url}")
            return await _run(server.url)

    return anyio.run(run)
