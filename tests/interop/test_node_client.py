"""A Node.js client (the official `nats` npm package) talks to cim as docs/wire.md says (#15).

Marker ``interop`` (``make interop``): the package is installed from the npm registry into a
temporary folder, so this needs the network; without npm or the registry it is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import pytest

from cim import StreamId
from cim.examples.order_flow import PlaceOrder, order, order_flow_types
from cim.examples.orders import Cancel, Confirm, Deliver, OrderStatus, Ship, Submit
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.endpoints import CommandService, CommandTypes
from interpreters.stores.jetstream import JetStreamEventStore

pytestmark = pytest.mark.interop

CLIENT = Path(__file__).with_name("node_client.mjs")
NATS_NPM_PACKAGE = "nats@^2.29"
COMMANDS = CommandTypes([PlaceOrder, Submit, Confirm, Ship, Deliver, Cancel])


@pytest.fixture(scope="session")
def node_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the `nats` npm package installed and the client script beside it."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    folder = tmp_path_factory.mktemp("node-client")
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(folder), NATS_NPM_PACKAGE],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if installed.returncode != 0:
        unreachable = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "network")
        lines = [
            line for line in installed.stderr.splitlines() if any(w in line for w in unreachable)
        ]
        if lines:
            pytest.skip(
                f"the npm registry is unreachable (npm install {NATS_NPM_PACKAGE}): {lines[0]}"
            )
        pytest.fail(f"npm install {NATS_NPM_PACKAGE} failed:\n{installed.stderr}")
    shutil.copy(CLIENT, folder / CLIENT.name)
    return folder


async def run_node(folder: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run the client script with *env* and return its JSON summary."""
    done = await anyio.run_process(
        ["node", CLIENT.name], cwd=folder, env={**os.environ, **env}, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


@pytest.mark.anyio
async def test_a_node_client_commands_discovers_reads_and_appends(
    node_client: Path, nats_url: str
) -> None:
    """Node sends commands, finds the service, reads the events and appends ones cim builds on."""
    tag = uuid4().hex[:8]
    stream_name, prefix, name, order_id = f"INTEROP{tag}", f"interop{tag}", f"orders{tag}", "n-1"
    async with JetStreamEventStore.connect(
        nats_url, types=order_flow_types, stream=stream_name, subject_prefix=prefix
    ) as store:
        service = CommandService(
            store.nc,
            CommandHandler(order, store),
            COMMANDS,
            category="order",
            name=name,
            event_types=order_flow_types,
        )
        async with anyio.create_task_group() as tg:
            await tg.start(service.start)
            env = {
                "NATS_URL": nats_url,
                "SERVICE": name,
                "STREAM": stream_name,
                "PREFIX": prefix,
                "ORDER": order_id,
            }
            summary = await run_node(node_client, env)
            await service.stop()
        assert summary["pinged"] == [name]
        assert (summary["endpoint"], summary["category"]) == (f"{name}.command", "order")
        assert (summary["placed"]["ok"], summary["placed"]["version"]) == (True, 1)
        refused = summary["refused"]
        assert (refused["code"], refused["body"]["error"]["code"]) == ("400", "invalid_stream")
        (placed,) = summary["read"]
        assert (placed["type"], placed["version"], placed["schema_version"]) == (
            "OrderPlaced",
            1,
            1,
        )
        assert placed["payload"] == {"order_id": order_id, "customer": "node", "total_cents": 700}
        assert "wrong last sequence" in summary["stale"], summary["stale"]
        assert summary["batch_ack"]["count"] == 2, summary["batch_ack"]
        delivered = summary["delivered"]
        assert (delivered["ok"], delivered["version"]) == (True, 5), delivered
        assert [e["type"] for e in delivered["events"]] == ["OrderDelivered"]
        assert [e["version"] for e in summary["final"]] == [1, 2, 3, 4, 5]
        assert summary["consumed"] == [
            {"position": e["position"], "type": e["type"]} for e in summary["final"]
        ]

        stream = StreamId("order", order_id)
        events = (await store.read(stream)).unwrap()
        assert [type(e.payload).__name__ for e in events] == [
            "OrderPlaced",
            "OrderSubmitted",
            "OrderConfirmed",
            "OrderShipped",
            "OrderDelivered",
        ]
        assert [e.version for e in events] == [1, 2, 3, 4, 5]
        assert [e.position for e in events] == [e["position"] for e in summary["final"]]
        assert {e.correlation_id for e in events} == {f"node-{order_id}"}
        assert events[1].metadata == {"writer": "node"}
        version, state = (await CommandHandler(order, store).load(stream)).unwrap()
        assert (version, state.status) == (5, OrderStatus.DELIVERED)
