"""`cim streams/read/tail` infer the prefix, `tail` names non-events, `laws.py` is detected (#15)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import anyio
import nats
import pytest
from typer.testing import CliRunner

from cim import NewEvent, StreamId
from cim.examples.order_flow import OrderPlaced, order_flow_types
from interpreters.cli import app
from interpreters.stores.jetstream import JetStreamEventStore

runner = CliRunner()
TYPES = "cim.examples.order_flow:order_flow_types"


@pytest.fixture
def store_with_a_foreign_message(nats_url: str) -> tuple[str, str]:
    """A stream with a non-default prefix: one order event, then a foreign message on order.o-1."""
    name, prefix = f"SMALL_{uuid4().hex[:8]}", f"small{uuid4().hex[:8]}"

    async def write() -> None:
        async with await JetStreamEventStore.connect(
            nats_url, types=order_flow_types, stream=name, subject_prefix=prefix
        ) as store:
            placed = [NewEvent(OrderPlaced("o-1", "ada", 2500))]
            (await store.append(StreamId("order", "o-1"), placed)).unwrap()
        async with await nats.connect(nats_url) as client:
            await client.jetstream().publish(f"{prefix}.order.o-1", b"hello from elsewhere")

    anyio.run(write)
    return name, prefix


def test_streams_and_read_infer_the_prefix_from_the_stream(
    nats_url: str, store_with_a_foreign_message: tuple[str, str]
) -> None:
    """`cim streams --stream X` without --prefix lists X's event streams (prefix from its subjects)."""
    name, _ = store_with_a_foreign_message
    listed = runner.invoke(app, ["streams", "--nats-url", nats_url, "--stream", name, "--json"])
    assert listed.exit_code == 0, listed.stderr
    assert json.loads(listed.stdout)["streams"] == [{"stream": "order.o-1", "events": 2}]
    read = runner.invoke(
        app, ["read", "order.o-1", "--nats-url", nats_url, "--stream", name, "--json"]
    )
    assert read.exit_code == 0, read.stderr
    rows = json.loads(read.stdout)
    assert [r["event_type"] for r in rows] == ["OrderPlaced", None]
    assert rows[1]["version"] is None
    assert "not a cim event" in rows[1]["error"], rows[1]


def test_tail_says_when_a_message_is_not_a_cim_event(
    nats_url: str, store_with_a_foreign_message: tuple[str, str]
) -> None:
    """`cim tail` prints the foreign message as not a cim event, with why, never `vNone None`."""
    name, _ = store_with_a_foreign_message
    base = ["tail", "--nats-url", nats_url, "--stream", name, "--from-position", "1"]
    for types in ((), ("--types", TYPES)):
        tailed = runner.invoke(app, [*base, "--count", "2", *types])
        assert tailed.exit_code == 0, tailed.stderr
        first, second = tailed.stdout.strip().splitlines()
        assert " v1 OrderPlaced " in first
        assert "None" not in second, second
        assert "order.o-1 not a cim event: no Cim-Event-Type, Cim-Version header" in second
        assert "hello from elsewhere" in second


def test_check_names_a_local_laws_module_that_hides_the_package(tmp_path: Path) -> None:
    """A `laws.py` in the working directory makes `cim check` say so, not fail obscurely."""
    (tmp_path / "laws.py").write_text("from laws.targets import fsm_target\n")
    (tmp_path / "myapp_laws.py").write_text("import laws\n")
    run = subprocess.run(
        [sys.executable, "-m", "interpreters.cli", "check", "myapp_laws"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'laws.py'} hides cim's `laws` package (law targets come from "
        "laws.targets), so `import laws` would load your file instead: rename it "
        "(e.g. to myapp_laws.py)"
    ]
