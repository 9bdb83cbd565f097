"""The ``cim`` command line against real nats-server processes, as a new user would run it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import pytest
from typer.testing import CliRunner

from cim import NewEvent, StreamId
from cim.examples.order_flow import OrderPlaced, OrderSubmitted, order_flow_types
from interpreters.cli import app
from interpreters.server import NatsServer, free_port
from interpreters.stores.jetstream import JetStreamEventStore

ROOT = Path(__file__).resolve().parents[2]
TYPES = "cim.examples.order_flow:order_flow_types"
runner = CliRunner()


def cim(*args: str) -> Any:
    """Run ``cim ARGS`` in process and return the click result."""
    return runner.invoke(app, list(args))


def cim_process(*args: str) -> subprocess.Popen[str]:
    """Start ``cim ARGS`` as a separate process, as from a shell."""
    return subprocess.Popen(
        [sys.executable, "-m", "interpreters.cli", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def one_line_error(result: Any, code: int = 2) -> str:
    """Assert *result* failed with *code* and one clear stderr line (no traceback); return it."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return str(lines[0])


@pytest.fixture
def event_stream(nats_url: str) -> tuple[str, str]:
    """A fresh JetStream stream and prefix on the session server holding order.o-1 (2 events)."""
    name, prefix = f"CLI_{uuid4().hex[:8]}", f"cli{uuid4().hex[:8]}"

    async def write() -> None:
        async with await JetStreamEventStore.connect(
            nats_url, types=order_flow_types, stream=name, subject_prefix=prefix
        ) as store:
            stream = StreamId("order", "o-1")
            events = [NewEvent(OrderPlaced("o-1", "ada", 2500)), NewEvent(OrderSubmitted("o-1"))]
            (await store.append(stream, events)).unwrap()
            (
                await store.append(StreamId("order", "o-2"), [NewEvent(OrderSubmitted("o-2"))])
            ).unwrap()

    anyio.run(write)
    return name, prefix


def test_every_command_has_help() -> None:
    """--help works for every command and lists the connection options where they apply."""
    for command in (
        [],
        ["demo"],
        ["server"],
        ["streams"],
        ["read"],
        ["tail"],
        ["fsm"],
        ["fsm", "diagram"],
        ["check"],
    ):
        result = cim(*command, "--help")
        assert result.exit_code == 0, (command, result.stdout)
        if command in (["streams"], ["read"], ["tail"]):
            for option in (
                "--nats-url",
                "--creds",
                "--tls-ca",
                "--tls-cert",
                "--tls-key",
                "--user",
                "--password",
                "--json",
            ):
                assert option in result.stdout, (command, option)


def test_streams_lists_categories_and_counts(nats_url: str, event_stream: tuple[str, str]) -> None:
    """`cim streams --json` counts events per stream and per category."""
    name, prefix = event_stream
    result = cim("streams", "--nats-url", nats_url, "--stream", name, "--prefix", prefix, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["categories"] == [{"category": "order", "streams": 2, "events": 3}]
    assert data["streams"] == [
        {"stream": "order.o-1", "events": 2},
        {"stream": "order.o-2", "events": 1},
    ]
    table = cim("streams", "--nats-url", nats_url, "--stream", name, "--prefix", prefix)
    assert table.exit_code == 0
    assert "order.o-1" in table.stdout


def test_read_decodes_with_types_and_shows_raw_without(
    nats_url: str, event_stream: tuple[str, str]
) -> None:
    """`cim read` shows payloads raw by default and decoded through --types."""
    name, prefix = event_stream
    base = (
        "read",
        "order.o-1",
        "--nats-url",
        nats_url,
        "--stream",
        name,
        "--prefix",
        prefix,
        "--json",
    )
    raw = json.loads(cim(*base).stdout)
    assert [(r["version"], r["event_type"], r["decoded"]) for r in raw] == [
        (1, "OrderPlaced", False),
        (2, "OrderSubmitted", False),
    ]
    assert raw[0]["payload"] == {"order_id": "o-1", "customer": "ada", "total_cents": 2500}
    decoded = json.loads(cim(*base, "--types", TYPES).stdout)
    assert [r["decoded"] for r in decoded] == [True, True]
    assert decoded[0]["position"] < decoded[1]["position"]
    assert len(json.loads(cim(*base, "--limit", "1").stdout)) == 1


def test_tail_follows_new_events(nats_url: str, event_stream: tuple[str, str]) -> None:
    """`cim tail` prints events stored after it started, then stops after --count."""
    name, prefix = event_stream
    process = cim_process(
        "tail",
        "--nats-url",
        nats_url,
        "--stream",
        name,
        "--prefix",
        prefix,
        "--types",
        TYPES,
        "--count",
        "2",
        "--json",
    )
    assert process.stderr is not None
    assert "following" in process.stderr.readline()  # subscribed before it says so

    async def write() -> None:
        async with await JetStreamEventStore.connect(
            nats_url, types=order_flow_types, stream=name, subject_prefix=prefix
        ) as store:
            for order_id in ("o-8", "o-9"):
                placed = [NewEvent(OrderPlaced(order_id, "grace", 100))]
                (await store.append(StreamId("order", order_id), placed)).unwrap()

    anyio.run(write)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["stream"], r["event_type"], r["decoded"]) for r in rows] == [
        ("order.o-8", "OrderPlaced", True),
        ("order.o-9", "OrderPlaced", True),
    ]


def test_usual_mistakes_are_one_line_errors(nats_url: str, event_stream: tuple[str, str]) -> None:
    """Server down, unknown stream, bad MODULE:ATTR: one line on stderr, exit 2, no traceback."""
    name, prefix = event_stream
    down = f"nats://127.0.0.1:{free_port()}"
    assert "connection refused" in one_line_error(cim("streams", "--nats-url", down))
    assert "cannot connect" in one_line_error(cim("read", "order.o-1", "--nats-url", down))
    assert "cannot connect" in one_line_error(cim("tail", "--nats-url", down))
    on_store = ("--nats-url", nats_url, "--stream", name, "--prefix", prefix)
    assert "has no events" in one_line_error(cim("read", "order.nope", *on_store))
    assert "category.entity_id" in one_line_error(cim("read", "nodot", *on_store))
    assert "no JetStream stream 'NOPE'" in one_line_error(
        cim("streams", "--nats-url", nats_url, "--stream", "NOPE")
    )
    assert "no JetStream stream" in one_line_error(
        cim("tail", "--nats-url", nats_url, "--stream", "NOPE")
    )
    assert "no module named 'nosuch'" in one_line_error(
        cim("read", "order.o-1", *on_store, "--types", "nosuch:x")
    )
    assert "not an EventTypes" in one_line_error(
        cim("read", "order.o-1", *on_store, "--types", "cim:StreamId")
    )
    assert "has no attribute 'nope'" in one_line_error(
        cim("fsm", "diagram", "cim.examples.orders:nope")
    )
    assert "expected MODULE:ATTR" in one_line_error(cim("fsm", "diagram", "cim.examples.orders"))
    assert "not an Fsm" in one_line_error(cim("fsm", "diagram", "cim.examples.orders:OrderStatus"))
    assert "not a law target" in one_line_error(cim("check", "cim.examples.orders:order_fsm"))
    assert "go together" in one_line_error(
        cim("streams", "--nats-url", nats_url, "--tls-cert", "x.pem")
    )


def test_fsm_diagram_prints_mermaid_and_dot() -> None:
    """`cim fsm diagram` prints the order lifecycle as Mermaid or DOT."""
    mermaid = cim("fsm", "diagram", "cim.examples.orders:order_fsm")
    assert mermaid.exit_code == 0
    assert mermaid.stdout.startswith("stateDiagram-v2")
    assert "DRAFT --> SUBMITTED" in mermaid.stdout
    dot = cim("fsm", "diagram", "cim.examples.orders:order_fsm", "--format", "dot")
    assert dot.exit_code == 0
    assert dot.stdout.startswith("digraph")
    assert "mermaid or dot" in one_line_error(
        cim("fsm", "diagram", "cim.examples.orders:order_fsm", "--format", "png")
    )


def test_check_passes_good_targets_and_fails_a_broken_one() -> None:
    """`cim check` exits 0 when every law holds, 1 with the counterexample when one fails."""
    good = cim("check", "tests.cli.law_targets:SUMMARY_LAWS", "--max-examples", "30")
    assert good.exit_code == 0, good.stdout
    assert "PASS  projection 'order_summaries'" in good.stdout
    listed = cim("check", "tests.cli.law_targets:ORDER_FSM_LAWS", "--max-examples", "30", "--json")
    assert json.loads(listed.stdout) == [
        {
            "target": "order lifecycle FSM",
            "passed": True,
            "verdict": "PASS  order lifecycle FSM: every law holds",
        }
    ]
    broken = cim("check", "tests.cli.law_targets:BROKEN_LAWS", "--max-examples", "30")
    assert broken.exit_code == 1
    assert "FAIL  projection 'leaky'" in broken.stdout
    assert "counterexample: FoldCase(" in broken.stdout
    whole = cim("check", "tests.cli.law_targets", "--max-examples", "20")
    assert whole.exit_code == 1
    assert "2 of 3 targets hold every law" in whole.stdout


@pytest.fixture
def cli_server_url() -> Iterator[str]:
    """A `cim server` process on a free port, stopped with SIGTERM afterwards."""
    port = free_port()
    process = cim_process("server", "--port", str(port))
    assert process.stdout is not None
    first = process.stdout.readline()
    assert f"nats://127.0.0.1:{port}" in first, first + (
        process.stderr.read() if process.stderr else ""
    )
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=15)
        assert process.returncode == 0
        assert "stopped" in out


def test_new_user_flow_server_demo_then_inspect(cli_server_url: str) -> None:
    """`cim server`, `cim demo --nats-url`, then streams/read on what the demo wrote."""
    demo = cim("demo", "--nats-url", cli_server_url, "--json")
    assert demo.exit_code == 0, demo.stderr
    summary = json.loads(demo.stdout)
    assert summary["events_written"] == 14
    listed = json.loads(cim("streams", "--nats-url", cli_server_url, "--json").stdout)
    assert listed["categories"] == [{"category": "order", "streams": 4, "events": 14}]
    first = next(s["stream"] for s in listed["streams"] if s["stream"].startswith("order.o-1"))
    events = json.loads(
        cim("read", first, "--nats-url", cli_server_url, "--types", TYPES, "--json").stdout
    )
    assert [e["event_type"] for e in events] == [
        "OrderPlaced",
        "OrderSubmitted",
        "OrderConfirmed",
        "OrderShipped",
        "OrderDelivered",
    ]
    busy = cim_process("server", "--port", cli_server_url.rsplit(":", 1)[1])
    _, err = busy.communicate(timeout=30)
    assert busy.returncode == 2
    assert err.startswith("error: ")
    assert "Traceback" not in err


def test_nats_url_defaults_to_the_environment(event_stream: tuple[str, str], nats_url: str) -> None:
    """Without --nats-url, commands connect to $NATS_URL."""
    name, prefix = event_stream
    result = runner.invoke(
        app,
        ["streams", "--stream", name, "--prefix", prefix, "--json"],
        env={**os.environ, "NATS_URL": nats_url},
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["categories"][0]["events"] == 3


def test_server_with_auth_needs_the_password(tmp_path: Path) -> None:
    """--user/--password reach the server; a wrong password is a one-line error."""
    config = 'authorization { user: "ops", password: "s3cret" }'
    with NatsServer(name="cim-cli-auth", extra_config=config) as server:
        ok = cim("streams", "--nats-url", server.url, "--user", "ops", "--password", "s3cret")
        assert "no JetStream stream 'CIM_EVENTS'" in one_line_error(ok)  # connected, nothing stored
        refused = one_line_error(
            cim("streams", "--nats-url", server.url, "--user", "ops", "--password", "nope")
        )
        assert "cannot connect" in refused


def test_the_cli_does_not_load_the_demo_or_the_example_domain_until_asked() -> None:
    """Importing the CLI (what `cim streams` does) loads neither interpreters.demo nor its orders."""
    probe = (
        "import sys, interpreters.cli.main; "
        "loaded = [m for m in ('interpreters.demo', 'cim.examples.order_flow') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", [["streams"], ["read", "order.o-1"], ["tail"]])
def test_every_connecting_command_passes_its_credential_options_on(command: list[str]) -> None:
    """--user/--password and --tls-cert/--tls-key, written once, reach each command's connection."""
    url = ["--nats-url", "nats://127.0.0.1:1"]
    lonely_password = cim(*command, *url, "--password", "secret")
    assert lonely_password.exit_code == 2
    assert "--password needs --user" in lonely_password.output
    half_tls = cim(*command, *url, "--tls-cert", str(ROOT / "README.md"))
    assert half_tls.exit_code == 2
    assert "--tls-cert and --tls-key go together" in half_tls.output


def test_server_in_operator_mode_writes_creds_that_the_demo_uses(tmp_path: Path) -> None:
    """`cim server --operator DIR` trusts only the creds it writes: the demo runs with the admin's,
    and a command without creds is refused."""
    port = free_port()
    url = f"nats://127.0.0.1:{port}"
    process = cim_process("server", "--port", str(port), "--operator", str(tmp_path))
    assert process.stdout is not None
    assert url in process.stdout.readline()
    try:
        admin = str(tmp_path / "admin.creds")
        assert (tmp_path / "auditor.creds").is_file()
        demo = cim("demo", "--nats-url", url, "--creds", admin, "--json")
        assert demo.exit_code == 0, demo.stderr
        audited = cim("streams", "--nats-url", url, "--creds", str(tmp_path / "auditor.creds"))
        assert audited.exit_code == 0, audited.stderr
        assert "cannot connect" in one_line_error(cim("streams", "--nats-url", url))
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
