"""`cim status` against a running app on a real nats-server: stores, lag, services, --watch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import nats
import pytest
from attrs import frozen
from returns.result import Result, Success
from typer.testing import CliRunner

from cim import NewEvent, StreamId
from cim.effects import Effect
from cim.examples.order_flow import (
    ORDER_STATS,
    ORDERS,
    OrderPlaced,
    PlaceOrder,
    order,
    order_flow_types,
    order_summaries,
)
from interpreters.cli import app
from interpreters.demo.transports import COMMANDS
from interpreters.runtime.checkpoints import KvCheckpoints
from interpreters.runtime.command_client import request_command
from interpreters.runtime.commands import CommandHandler
from interpreters.runtime.dead_letters import KvDeadLetters
from interpreters.runtime.endpoints import CommandService
from interpreters.runtime.executors import EffectError
from interpreters.runtime.namespace import Namespace
from interpreters.runtime.nats_executor import NatsExecutor
from interpreters.runtime.runner import ProjectionRunner, SkipToDeadLetters
from interpreters.runtime.runner_service import RunnerService
from interpreters.runtime.status import ServiceKind, system_status
from interpreters.server import NatsServer
from interpreters.stores.jetstream import JetStreamEventStore

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def cim(*args: str) -> Any:
    """Run ``cim ARGS`` in process and return the click result."""
    return runner.invoke(app, list(args))


async def cim_in_thread(*args: str) -> Any:
    """Run ``cim ARGS`` in a worker thread (the app under test keeps running on this loop)."""
    return await anyio.to_thread.run_sync(lambda: cim(*args))


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Any]:
    """A connection to the test server, closed afterwards."""
    client = await nats.connect(nats_url)
    try:
        yield client
    finally:
        await client.close()


@frozen
class App:
    """A small order app on its own stream: store, runner (as a service), command service."""

    store: JetStreamEventStore
    namespace: Namespace
    runner: ProjectionRunner[Any, Any]
    service: RunnerService
    commands: CommandService


async def open_app(nc: Any) -> App:
    """The app, not started, on a fresh stream and prefix (its namespace: the stream's name)."""
    tag = f"st{uuid4().hex[:8]}"
    js = nc.jetstream()
    store = await JetStreamEventStore.from_client(
        nc, types=order_flow_types, stream=tag.upper(), subject_prefix=tag, storage="memory"
    )
    namespace = Namespace.of(store)
    projection_runner = ProjectionRunner(
        order_summaries,
        store,
        NatsExecutor(nc, js, store=store),
        await KvCheckpoints.open(js, namespace),
        collections=[ORDERS, ORDER_STATS],
        poison=SkipToDeadLetters(await KvDeadLetters.open(js, namespace)),
    )
    commands = CommandService(
        nc,
        CommandHandler(order, store),
        COMMANDS,
        category="order",
        name=f"{tag}-orders",
        event_types=order_flow_types,
    )
    return App(store, namespace, projection_runner, RunnerService(nc, projection_runner), commands)


async def place(nc: Any, app: App, order_id: str) -> None:
    """Place one order through the command service, over NATS."""
    command = {"type": "PlaceOrder", "order_id": order_id, "customer": "ada", "total_cents": 100}
    placed = await request_command(nc, app.commands.subject, f"order.{order_id}", command)
    placed.unwrap()


async def until_position(app: App, position: int) -> None:
    """Wait until the runner has processed *position*."""
    with anyio.fail_after(10):
        while app.runner.position < position:  # noqa: ASYNC110 - no event to wait on
            await anyio.sleep(0.01)


async def test_status_shows_stores_categories_projections_and_services(nc: Any) -> None:
    """After K commands: the store's events and categories, the projection caught up and
    healthy, and the command service with K requests; JSON and table agree."""
    app = await open_app(nc)
    async with anyio.create_task_group() as group:
        await group.start(app.service.start)
        await group.start(app.commands.start)
        for order_id in ("o-1", "o-2", "o-3"):
            await place(nc, app, order_id)
        other = [NewEvent(OrderPlaced("l-1", "bob", 5))]  # another category, after the orders
        (await app.store.append(StreamId("legacy", "l-1"), other)).unwrap()
        await until_position(app, 3)
        result = await cim_in_thread(
            "status",
            "--nats-url",
            nc.connected_url.geturl(),
            "--namespace",
            str(app.namespace),
            "--json",
        )
        table = await cim_in_thread(
            "status", "--nats-url", nc.connected_url.geturl(), "--namespace", str(app.namespace)
        )
        await app.commands.stop()
        await app.service.stop()
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["schema"] == "cim.status/1"
    assert data["namespace"] == app.namespace.name
    [store] = data["stores"]
    assert (store["stream"], store["events"], store["last_position"]) == (
        app.store.stream_name,
        4,
        4,
    )
    assert store["streams"] == 4
    assert store["categories"] == [
        {"category": "legacy", "streams": 1, "events": 1, "last_position": 4},
        {"category": "order", "streams": 3, "events": 3, "last_position": 3},
    ]
    [projection] = data["projections"]
    assert projection["projection"] == "order_summaries"
    assert (projection["position"], projection["checkpoint"], projection["lag"]) == (3, 3, 0)
    assert projection["consumes"] == ["order"]  # the legacy event is no lag of it
    assert (projection["health"], projection["dead_letters"]) == ("healthy", 0)
    assert projection["seconds_behind"] == 0.0
    assert projection["checkpointed_at"] is not None
    services = {s["name"]: s for s in data["services"]}
    commands = services[app.commands.name]
    assert (commands["kind"], commands["instances"]) == ("commands", 1)
    assert (commands["requests"], commands["errors"]) == (3, 0)
    assert commands["average_latency_ms"] > 0
    runners = [s for s in data["services"] if s["kind"] == "projection-runner"]
    assert [(s["name"], s["namespace"]) for s in runners] == [
        ("order_summaries-runner", app.namespace.name)
    ]
    assert table.exit_code == 0, table.stderr
    for shown in ("event stores", app.store.stream_name, "order_summaries", app.commands.name):
        assert shown in table.stdout, table.stdout


async def test_lag_reported_equals_the_known_backlog(nc: Any) -> None:
    """Runner stopped after 2 orders, 5 more placed: status says lag 5, checkpoint 2, no runner;
    the Python API says the same."""
    app = await open_app(nc)
    async with anyio.create_task_group() as group:
        await group.start(app.service.start)
        for order_id in ("o-1", "o-2"):
            await place_direct(app, order_id)
        await until_position(app, 2)
        await app.service.stop()
    for n in range(5):
        await place_direct(app, f"b-{n}")
    result = await cim_in_thread(
        "status",
        "--nats-url",
        nc.connected_url.geturl(),
        "--namespace",
        str(app.namespace),
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    [projection] = json.loads(result.stdout)["projections"]
    assert (projection["checkpoint"], projection["position"], projection["lag"]) == (2, 2, 5)
    assert projection["health"] is None  # no runner answered
    assert projection["seconds_behind"] is not None
    assert projection["seconds_behind"] >= 0
    found = (await system_status(nc, namespace=app.namespace, wait=0.2)).unwrap()
    assert [(p.projection, p.lag, p.caught_up) for p in found.projections] == [
        ("order_summaries", 5, False)
    ]
    assert found.stores[0].last_position == 7


class HeldAfter:
    """An executor that runs the effects of the first *free* events and holds the rest until
    released (a runner kept behind while it keeps answering its status)."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.seen = 0
        self.released = anyio.Event()

    async def execute(self, effects: Iterable[Effect]) -> Result[None, EffectError]:
        """Count the event; wait for the release once past the free ones."""
        self.seen += 1
        if self.seen > self.free:
            await self.released.wait()
        return Success(None)


@pytest.mark.parametrize("custom_namespace", [False, True])
async def test_a_running_runner_held_behind_reports_its_backlog(
    nc: Any, custom_namespace: bool
) -> None:
    """A live runner stuck after 2 events while 4 more arrive: status shows it healthy at
    position 2 with lag 4 (its first held event is in flight), then lag 0 once released; in a
    namespace no store is named after (two stores around), the lag is the runner's own count."""
    app = await open_app(nc)
    await open_app(nc)  # another store on the server: the namespace's cannot be the only one
    held = HeldAfter(free=2)
    namespace = Namespace(f"custom{uuid4().hex[:6]}") if custom_namespace else app.namespace
    runner_kept_behind = ProjectionRunner(
        order_summaries,
        app.store,
        held,
        await KvCheckpoints.open(nc.jetstream(), namespace),
    )
    service = RunnerService(nc, runner_kept_behind, namespace=namespace)
    async with anyio.create_task_group() as group:
        await group.start(service.start)
        for n in range(6):
            await place_direct(app, f"h-{n}")
        with anyio.fail_after(10):
            while held.seen < 3:  # noqa: ASYNC110 - the executor is where it waits
                await anyio.sleep(0.01)
        behind = (await system_status(nc, namespace=namespace, wait=0.2)).unwrap()
        held.released.set()
        with anyio.fail_after(10):
            while runner_kept_behind.position < 6:  # noqa: ASYNC110
                await anyio.sleep(0.01)
        caught_up = (await system_status(nc, namespace=namespace, wait=0.2)).unwrap()
        await service.stop()
    [projection] = behind.projections
    assert (projection.health, projection.position, projection.checkpoint) == ("healthy", 2, 2)
    assert projection.lag == 4
    if custom_namespace:
        assert (projection.store, projection.seconds_behind) == (None, None)
    else:
        assert projection.store == app.store.stream_name
        assert projection.seconds_behind is not None
    [projection] = caught_up.projections
    assert (projection.position, projection.checkpoint, projection.lag) == (6, 6, 0)


async def place_direct(app: App, order_id: str) -> None:
    """Place one order through a command handler on the app's store (no service needed)."""
    handler = CommandHandler(order, app.store)
    placed = await handler.handle(StreamId("order", order_id), PlaceOrder(order_id, "ada", 1))
    placed.unwrap()


async def test_services_count_errors_and_runner_lag_while_running(nc: Any) -> None:
    """A refused command counts as an error of its service; a running runner's live position
    and lag come from the runner."""
    app = await open_app(nc)
    async with anyio.create_task_group() as group:
        await group.start(app.service.start)
        await group.start(app.commands.start)
        await place(nc, app, "o-1")
        refused = await nc.request(app.commands.subject, b"{not json", timeout=5)
        assert refused.headers["Nats-Service-Error-Code"] == "400"
        await until_position(app, 1)
        found = (await system_status(nc, namespace=app.namespace, wait=0.3)).unwrap()
        await app.commands.stop()
        await app.service.stop()
    [service] = [s for s in found.services if s.name == app.commands.name]
    assert (service.kind, service.requests, service.errors) == (ServiceKind.COMMANDS, 2, 1)
    assert "bad_json" in service.last_error
    [projection] = found.projections
    assert (projection.health, projection.position, projection.lag) == ("healthy", 1, 0)


def test_unknown_namespace_is_a_one_line_error(nats_url: str) -> None:
    """A namespace nothing on the system belongs to: exit 2 and one line naming the known ones."""
    result = cim("status", "--nats-url", nats_url, "--namespace", f"nope{uuid4().hex[:6]}")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: nothing of namespace 'nope")


def test_a_missing_stream_is_a_one_line_error(nats_url: str) -> None:
    """--stream naming no JetStream stream: exit 2 and one line naming it."""
    result = cim("status", "--nats-url", nats_url, "--stream", "NO_SUCH_STREAM")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert "no JetStream stream 'NO_SUCH_STREAM'" in line


@pytest.fixture
def small_store(nats_url: str) -> str:
    """A fresh store (namespace = its stream's name) with one order, on the session server."""
    name = f"ST_{uuid4().hex[:8]}"

    async def write() -> None:
        async with await JetStreamEventStore.connect(
            nats_url, types=order_flow_types, stream=name, subject_prefix=name.lower()
        ) as store:
            events = [NewEvent(OrderPlaced(f"o-{n}", "ada", n)) for n in range(30)]
            (await store.append(StreamId("order", "o-1"), events)).unwrap()

    anyio.run(write)
    return name


def read_lines(stream: Any, into: list[str]) -> None:
    """Collect the lines of *stream* until it closes (runs in a thread)."""
    for line in stream:
        into.append(line)


def test_watch_refreshes_until_interrupted(nats_url: str, small_store: str) -> None:
    """`cim status --watch --json` prints one document per refresh and exits 0 on Ctrl-C."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "interpreters.cli",
            "status",
            "--watch",
            "--interval",
            "0.2",
            "--json",
            "--wait",
            "0.1",
            "--nats-url",
            nats_url,
            "--namespace",
            small_store,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while len(lines) < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert len(lines) >= 2, (lines, process.poll())
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=5)
    documents = [json.loads(line) for line in lines]
    assert all(d["stores"][0]["events"] == 30 for d in documents)
    assert documents[0]["taken_at"] < documents[1]["taken_at"]
    assert process.stderr is not None
    assert "stopped" in process.stderr.read()


def test_reads_show_progress_on_a_terminal_only(nats_url: str, small_store: str) -> None:
    """`cim read --json` draws its progress bar on stderr (terminal forced) and never on stdout;
    --quiet turns it off."""
    common = ["read", "order.o-1", "--nats-url", nats_url, "--stream", small_store, "--json"]
    env = {**os.environ, "TTY_COMPATIBLE": "1"}
    shown = subprocess.run(
        [sys.executable, "-m", "interpreters.cli", *common],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert len(json.loads(shown.stdout)) == 30
    assert "reading order.o-1" in shown.stderr
    quiet = subprocess.run(
        [sys.executable, "-m", "interpreters.cli", *common, "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert quiet.returncode == 0, quiet.stderr
    assert len(json.loads(quiet.stdout)) == 30
    assert quiet.stderr == ""


def test_status_after_the_demo_then_a_backlog(tmp_path: Path) -> None:
    """After `cim demo` on a fresh server: its store and caught-up projection; after 4 more
    events the runner (gone with the demo) is 4 behind."""
    with NatsServer(name="status-demo", store_dir=tmp_path) as server:
        demo = cim("demo", "--nats-url", server.url, "--json")
        assert demo.exit_code == 0, demo.stderr
        written = json.loads(demo.stdout)["events_written"]
        before = cim("status", "--nats-url", server.url, "--json", "--wait", "0.1")
        assert before.exit_code == 0, before.stderr
        data = json.loads(before.stdout)
        [store] = data["stores"]
        assert (store["stream"], store["events"], store["last_position"]) == (
            "CIM_EVENTS",
            written,
            written,
        )
        [projection] = data["projections"]
        assert (projection["namespace"], projection["projection"]) == (
            "CIM_EVENTS",
            "order_summaries",
        )
        assert (projection["checkpoint"], projection["lag"]) == (written, 0)

        async def backlog() -> None:
            async with await JetStreamEventStore.connect(
                server.url, types=order_flow_types
            ) as store:
                events = [NewEvent(OrderPlaced(f"late-{n}", "ada", n)) for n in range(4)]
                (await store.append(StreamId("order", "late-1"), events)).unwrap()

        anyio.run(backlog)
        after = cim("status", "--nats-url", server.url, "--json", "--wait", "0.1")
        [projection] = json.loads(after.stdout)["projections"]
        assert (projection["checkpoint"], projection["lag"]) == (written, 4)
        assert projection["seconds_behind"] > 0


def test_status_has_help_with_the_connection_options() -> None:
    """`cim status --help` lists the shared connection options and its own."""
    result = cim("status", "--help")
    assert result.exit_code == 0, result.stdout
    for option in ("--nats-url", "--creds", "--tls-ca", "--user", "--password", "--json"):
        assert option in result.stdout, option
    for option in ("--namespace", "--stream", "--watch", "--interval", "--wait"):
        assert option in result.stdout, option


def test_an_unreachable_server_is_a_one_line_error() -> None:
    """No server at the URL: exit 2 with one line, no traceback."""
    result = cim("status", "--nats-url", "nats://127.0.0.1:1")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: cannot connect")
