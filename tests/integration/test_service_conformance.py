"""Command services bound to one category, and micro-service statistics and error codes (#15)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import anyio
import nats
import orjson
import pytest

from cim import StreamId
from cim.examples.order_flow import PlaceOrder, order, order_flow_types
from cim.examples.orders import Cancel, Confirm, Deliver, Ship, Submit
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.endpoints import CommandService, CommandTypes
from interpreters.stores.jetstream import JetStreamEventStore

COMMANDS = CommandTypes([PlaceOrder, Submit, Confirm, Ship, Deliver, Cancel])


@pytest.fixture
async def store(nats_url: str) -> AsyncIterator[JetStreamEventStore]:
    """A JetStream store with a stream of its own on the test server."""
    tag = uuid4().hex[:10]
    async with JetStreamEventStore.connect(
        nats_url, types=order_flow_types, stream=f"CONF{tag}", subject_prefix=f"conf{tag}"
    ) as opened:
        yield opened


async def ask(nc: Any, subject: str, body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The decoded JSON reply and its headers."""
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    reply = await nc.request(subject, data, timeout=5)
    return orjson.loads(reply.data), dict(reply.headers or {})


def place(order_id: str) -> dict[str, Any]:
    """A PlaceOrder command body."""
    return {"type": "PlaceOrder", "order_id": order_id, "customer": "ada", "total_cents": 5}


@pytest.mark.anyio
async def test_a_command_for_another_category_or_entity_is_refused_and_written_nowhere(
    store: JetStreamEventStore, nats_url: str
) -> None:
    """`invoice.js-4` on an order service and PlaceOrder(SOMETHING-ELSE) on order.js-3 are refused."""
    name = f"orders{uuid4().hex[:8]}"
    service = CommandService(
        store.nc,
        CommandHandler(order, store),
        COMMANDS,
        category="order",
        entity_of=lambda command: getattr(command, "order_id", None),
        name=name,
    )
    async with await nats.connect(nats_url) as client, anyio.create_task_group() as tg:
        await tg.start(service.start)
        await client.flush()
        foreign, headers = await ask(
            client, service.subject, {"stream": "invoice.js-4", "command": place("js-4")}
        )
        assert foreign["error"]["code"] == "invalid_stream", foreign
        assert "invoice" in foreign["error"]["message"]
        assert headers["Nats-Service-Error-Code"] == "400"
        other, _ = await ask(
            client, service.subject, {"stream": "order.js-3", "command": place("SOMETHING-ELSE")}
        )
        assert other["error"]["code"] == "invalid_stream", other
        assert other["error"]["details"] == {"entity_id": "SOMETHING-ELSE"}
        assert (await store.read(StreamId("invoice", "js-4"))).unwrap() == ()
        assert (await store.read(StreamId("order", "js-3"))).unwrap() == ()
        placed, _ = await ask(
            client, service.subject, {"stream": "order.js-3", "command": place("js-3")}
        )
        submitted, _ = await ask(
            client, service.subject, {"stream": "order.js-3", "command": {"type": "Submit"}}
        )
        assert (placed["ok"], submitted["ok"], submitted["version"]) == (True, True, 2)
        await service.stop()


def test_a_command_service_needs_a_valid_category() -> None:
    """The category is a subject token: an empty or dotted one is a ValueError naming it."""
    handler: Any = None
    for bad in ("", "order.x"):
        with pytest.raises(ValueError, match="category"):
            CommandService(None, handler, COMMANDS, category=bad)


@pytest.mark.anyio
async def test_srv_stats_count_requests_errors_and_processing_time(
    store: JetStreamEventStore, nats_url: str
) -> None:
    """After 5 error replies out of 8 requests, $SRV.STATS says 8 requests and 5 errors."""
    name = f"stats{uuid4().hex[:8]}"
    service = CommandService(
        store.nc, CommandHandler(order, store), COMMANDS, category="order", name=name
    )
    requests: list[Any] = [
        b"{not json",  # bad_json
        {"stream": "invoice.i-1", "command": place("i-1")},  # invalid_stream
        {"stream": "order.s-1", "command": {"type": "Teleport"}},  # unknown_command
        {"stream": "order.s-1", "command": {"type": "Submit"}},  # rejected: not placed
        {"stream": "order.s-1", "command": place("s-1")},
        {"stream": "order.s-1", "command": {"type": "Submit"}},
        {"stream": "order.s-1", "command": {"type": "Confirm"}},
        {"stream": "order.s-1", "command": {"type": "PlaceOrder"}},  # invalid_command
    ]
    async with await nats.connect(nats_url) as client, anyio.create_task_group() as tg:
        await tg.start(service.start)
        await client.flush()
        codes = []
        for body in requests:
            _, headers = await ask(client, service.subject, body)
            codes.append(headers.get("Nats-Service-Error-Code"))
        assert codes == ["400", "400", "404", "422", None, None, None, "400"]
        stats, _ = await ask(client, f"$SRV.STATS.{name}", b"")
        (endpoint,) = stats["endpoints"]
        assert (endpoint["num_requests"], endpoint["num_errors"]) == (8, 5), endpoint
        assert endpoint["last_error"].startswith("invalid_command: PlaceOrder"), endpoint
        # Each successful command is a JetStream round trip: far more than spawning a task.
        assert endpoint["processing_time"] > 8 * 20_000, endpoint
        assert endpoint["average_processing_time"] == endpoint["processing_time"] // 8
        await service.stop()
