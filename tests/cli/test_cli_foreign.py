"""`cim read` on a stream with a foreign message and a forged version: both are shown as skipped
(with the reason), never as events of the stream."""

from __future__ import annotations

import json
from uuid import uuid4

import anyio
import nats
from typer.testing import CliRunner

from cim import NewEvent, StreamId
from cim.examples.order_flow import OrderPlaced, order_flow_types
from interpreters.cli import app
from interpreters.stores.jetstream import JetStreamEventStore

TYPES = "cim.examples.order_flow:order_flow_types"


def test_read_marks_foreign_and_forged_messages(nats_url: str) -> None:
    """A forged Cim-Version 7 on a stream at version 1 shows as skipped, not as version 7."""
    name, prefix = f"CLIF_{uuid4().hex[:8]}", f"clif{uuid4().hex[:8]}"

    async def write() -> None:
        async with await JetStreamEventStore.connect(
            nats_url, types=order_flow_types, stream=name, subject_prefix=prefix
        ) as store:
            stream = StreamId("order", "js-1")
            (await store.append(stream, [NewEvent(OrderPlaced("js-1", "ada", 1))])).unwrap()
            nc = await nats.connect(nats_url)
            js = nc.jetstream()
            first = await js.get_msg(name, seq=1)
            forged = {k: v for k, v in (first.headers or {}).items() if k.startswith("Cim-")}
            forged.update({"Cim-Version": "7", "Cim-Event-Id": str(uuid4())})
            await js.publish(store.subject(stream), first.data or b"", headers=forged)
            await js.publish(store.subject(stream), b"hello")
            await nc.close()

    anyio.run(write)
    args = ["read", "order.js-1", "--nats-url", nats_url, "--stream", name, "--prefix", prefix]
    result = CliRunner().invoke(app, [*args, "--types", TYPES, "--json"])
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["position"], r["version"], r["decoded"]) for r in rows] == [
        (1, 1, True),
        (2, None, False),
        (3, None, False),
    ]
    assert "claims Cim-Version 7" in rows[1]["error"]
    assert "not a cim event" in rows[2]["error"]
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0
    assert "skipped" in table.stdout
